"""Every extra resolves with the pinned stack, and the vLLM environment resolves on its own: a pin that breaks
resolution fails CI. pip's own resolver (`pip install --dry-run --ignore-installed --report`), against the
package index, as a fresh install would."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start_resolving(*requirements: str, cwd: Path = ROOT) -> subprocess.Popen:
    """pip's resolution for a fresh environment, started in the background (the resolutions wait on the
    package index, not the CPU, so the tests' two run side by side)."""
    return subprocess.Popen([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                             "--report", "-", *requirements], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def resolved(proc: subprocess.Popen) -> dict[str, str]:
    """name -> version pip would install."""
    stdout, stderr = proc.communicate(timeout=1500)
    assert proc.returncode == 0, stderr[-4000:]
    report = json.loads(stdout)
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in report["install"]}


EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
VLLM_REQUIREMENTS = ROOT / "recipes" / "synth" / "vllm-requirements.txt"


@pytest.fixture(scope="module")
def resolutions():
    # one resolution of all extras together: a solution for the union is one for each extra
    procs = {"extras": start_resolving(f".[{','.join(sorted(EXTRAS))}]"),
             "vllm": start_resolving("-r", str(VLLM_REQUIREMENTS))}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_every_extra_resolves_with_the_pinned_stack(resolutions):
    assert {"gpu", "eval", "dev"} <= set(EXTRAS) and "vllm" not in json.dumps(EXTRAS["gpu"])
    got = resolved(resolutions["extras"])
    assert got["torch"].split("+")[0] == "2.13.0"
    assert tuple(int(x) for x in got["transformers"].split(".")[:2]) >= (5, 23)
    for package in ("bitsandbytes", "deepspeed", "liger-kernel", "kernels", "lm-eval", "trl", "peft", "accelerate"):
        assert package in got, package
    assert "vllm" not in got


@pytest.mark.slow
def test_the_vllm_environment_resolves_on_its_own(resolutions):
    got = resolved(resolutions["vllm"])
    pins = [line for line in VLLM_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    for pin in pins:
        name, _, version = pin.partition("==")
        assert got[name.lower().replace("_", "-")] == version
    assert "torch" in got  # its own torch, whatever hubtool pins
