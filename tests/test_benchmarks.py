"""The benchmark runner at its CI size: it runs end to end and its results file has every figure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_quick_benchmarks_write_every_figure(tmp_path):
    out = tmp_path / "quick.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for var in ("HF_ENDPOINT", "HF_TOKEN", "HUBTOOL_HOME", "HF_HOME"):  # the runner starts its own hub
        env.pop(var, None)
    env["HUBTOOL_HOME"] = str(tmp_path / "home")
    env["HF_HOME"] = str(tmp_path / "hf")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert out.is_file(), proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["failed"] == {}, results["failed"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import EXPECTED

    names = {(f["benchmark"], f["name"]) for f in results["figures"]}
    for bench, expected in EXPECTED.items():
        for name in expected:
            assert any(b == bench and name in n for b, n in names), (bench, name, sorted(names))
    for f in results["figures"]:
        assert isinstance(f["value"], (int, float)) and f["value"] >= 0, f
        if "baseline" in f:
            assert f["baseline"] > 0, f
        if "ratio" in f:
            assert f["ratio"] > 0 and "baseline" in f, f
    assert results["machine"]["cores"] >= 1 and results["machine"]["ram_gib"] > 0
    assert results["size"] == "quick" and "--quick" in results["command"]
    push = {f["name"]: f for f in results["figures"] if f["benchmark"] == "publish"}
    assert push["no-change re-push"]["extra"]["bytes_received_ours"] == 0  # counted, not timed
