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


def resolve(*requirements: str, cwd: Path = ROOT) -> dict[str, str]:
    """name -> version pip would install, for a fresh environment."""
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                          "--report", "-", *requirements], cwd=cwd, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout)
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in report["install"]}


@pytest.mark.slow
def test_every_extra_resolves_with_the_pinned_stack():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"gpu", "eval", "dev"} <= set(extras) and "vllm" not in json.dumps(extras["gpu"])
    # one resolution of all extras together: a solution for the union is one for each extra
    got = resolve(f".[{','.join(sorted(extras))}]")
    assert got["torch"].split("+")[0] == "2.13.0"
    assert tuple(int(x) for x in got["transformers"].split(".")[:2]) >= (5, 23)
    for package in ("bitsandbytes", "deepspeed", "liger-kernel", "kernels", "lm-eval", "trl", "peft", "accelerate"):
        assert package in got, package
    assert "vllm" not in got


@pytest.mark.slow
def test_the_vllm_environment_resolves_on_its_own():
    requirements = ROOT / "recipes" / "synth" / "vllm-requirements.txt"
    got = resolve("-r", str(requirements))
    pins = [line for line in requirements.read_text().splitlines() if line and not line.startswith("#")]
    for pin in pins:
        name, _, version = pin.partition("==")
        assert got[name.lower().replace("_", "-")] == version
    assert "torch" in got  # its own torch, whatever hubtool pins
