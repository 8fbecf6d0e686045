"""benchmarks/gpu/train_smoke.py in its CPU dry mode, so the GPU script cannot rot: both phases train through
the recipe (LoRA; full fine-tuning under FSDP2 in one process), write artifacts that validate and reload."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_smoke_benchmark_dry_mode_runs_both_phases_on_cpu(tmp_path):
    out = tmp_path / "gpu_smoke.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "train_smoke.py"), "--dry", "--work",
                          str(tmp_path / "work"), "--out", str(out), "--profile"], env=env, capture_output=True,
                         text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(out.read_text())
    assert summary["dry"] is True and summary["complete"] is True
    assert [p["mode"] for p in summary["phases"]] == ["lora", "full"]
    lora, full = summary["phases"]
    assert full["fsdp"] is True and lora["fsdp"] is False  # the full phase really ran under FSDP
    for phase in (lora, full):
        assert phase["steps"] == 3 and phase["artifact_valid"] and phase["reloaded_loss_finite"]
        assert phase["tokens_per_s"] > 0 and phase["mfu"] is None  # no GPU: no peak to compare with
        assert phase["profile"]["step"] == 3 and phase["profile"]["wall_s"] > 0  # one optimizer step profiled
        table = (tmp_path / f"gpu_smoke.{phase['mode']}.profile.txt").read_text()
        assert table.startswith("optimizer step 3,") and "aten::mm" in table
    assert full["parameters"] == lora["parameters"] > 0
    assert "lora:" in run.stdout and "full:" in run.stdout and "tokens/s" in run.stdout


def test_gpu_wheel_list_pins_every_distribution_to_the_tested_version():
    """prepare_wheels.py pins each listed distribution to the version installed here, the stack the suite runs."""
    from importlib import metadata

    sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))
    from prepare_wheels import pinned_requirements

    pins = pinned_requirements(ROOT / "benchmarks" / "gpu" / "requirements.txt")
    names = {pin.split("==")[0] for pin in pins}
    assert {"transformers", "peft", "trl", "datasets", "huggingface_hub", "pydantic"} <= names
    for pin in pins:
        name, version = pin.split("==")
        assert version == metadata.version(name).split("+")[0]
