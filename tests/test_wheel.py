"""A real package: the wheel holds everything the CLI needs; installed (not editable) in a fresh venv it
stages the Space and finds the quickstart project, recipes and samples from outside any checkout."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
SKIP = shutil.ignore_patterns(".git", ".venv", "out", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              "test-artifacts", "tests", "benchmarks")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv with hubtool installed from a wheel built from this source tree. Its heavy dependencies
    (torch, transformers, ...) come from the running environment's site-packages through a .pth line; hubtool
    itself only from the wheel (the running environment's editable hook is not loaded from there)."""
    tmp = tmp_path_factory.mktemp("wheel")
    clean = _env(tmp)  # no PYTHONPATH: nothing of the checkout may look installed
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, cwd=tmp, env=clean)
    (wheel,) = (tmp / "dist").glob("hubtool-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean)  # pip: bundled wheel, offline
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, env=clean).stdout.strip())
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, cwd=tmp, env=clean)
    # after the install: pip must not see the running environment's (editable) hubtool as already there
    (site / "zz-shared-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(src)
    return venv


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HUBTOOL_HOME"] = str(tmp_path / "home")
    return env


def test_the_installed_wheel_deploys_the_space_from_outside_the_checkout(wheel_venv, tmp_path, hub):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    python, hubtool = wheel_venv / "bin" / "python", wheel_venv / "bin" / "hubtool"  # the wheel's console script
    env = _env(tmp_path)
    where = subprocess.run([str(python), "-c", "import hub_tools, space, recipes, cards; "
                            "print(hub_tools.__file__, space.__file__, recipes.__file__, cards.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(p.startswith(str(wheel_venv)) for p in where), where  # nothing from the checkout
    out = subprocess.run([str(hubtool), "space", "deploy", "--repo", "hitz/wheel-demo", "--dry-run", "--json",
                          "--endpoint", hub.url], cwd=outside, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    files = {c["path"] for c in plan["plan"]["changes"]}
    assert {"app.py", "backends.py", "settings.py", "space.yaml", "requirements.txt", "hubtool_serving.py",
            "hubtool_ratings.py", "README.md", "hubtool.json"} <= files


def test_the_installed_wheel_has_the_quickstart_project_and_builds_its_corpus(wheel_venv, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _env(tmp_path)
    code = ("from pathlib import Path; from hub_tools.pipelines.quickstart import prepare_project; "
            "print(prepare_project(Path('project')))")
    subprocess.run([str(wheel_venv / "bin" / "python"), "-c", code], cwd=outside, env=env, check=True)
    project = outside / "project"
    assert {p.name for p in (project / "configs").iterdir()} >= {"corpus.yaml", "train.yaml", "arena.yaml"}
    assert (project / "raw" / "eu_wiki.jsonl.gz").is_file() and (project / "raw" / "instructions_eu.jsonl").is_file()
    out = subprocess.run([str(wheel_venv / "bin" / "python"), "-m", "hub_tools.cli", "build", "release.yaml",
                          "--only", "corpus", "--json"], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["built"] == ["corpus"]
    assert (project / "artifacts" / "corpus" / "data").is_dir()
