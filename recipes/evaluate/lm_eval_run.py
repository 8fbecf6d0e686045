"""Run lm-evaluation-harness on a model and import its results directory in one call.

Two backends, one command line (the harness's own):
- ``hf``: transformers in this environment (``pip install 'hubtool[eval]'``); what the tests run on CPU;
- ``vllm``: the harness's vLLM backend, run by the Python of the vLLM environment (``--python``,
  made with recipes/synth/vllm-requirements.txt), since vLLM pins its own torch and transformers.

The bundled tasks (``recipes/evaluate/lm_eval_tasks``: the group ``hubtool_eu`` over hubtool's own
Basque samples) are always on the include path, next to any ``--include-path`` of the user's.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED_TASKS = Path(__file__).resolve().parent / "lm_eval_tasks"


@dataclass
class LmEvalRun:
    model: str
    tasks: list[str]
    output_dir: Path
    backend: str = "hf"  # hf | vllm
    revision: str | None = None
    num_fewshot: int | None = None
    batch_size: str = "auto"
    limit: int | None = None
    include_paths: list[Path] = field(default_factory=list)
    model_args: dict[str, str] = field(default_factory=dict)  # dtype, attn_implementation, tensor_parallel_size...
    python: str | None = None  # the interpreter that runs the harness (the vLLM environment's for vllm)
    device: str | None = None
    apply_chat_template: bool = False


def command(run: LmEvalRun) -> list[str]:
    """The `python -m lm_eval ...` command line."""
    if run.backend not in ("hf", "vllm"):
        raise ValueError(f"backend {run.backend!r}: choose hf or vllm")
    if run.backend == "vllm" and not run.python:
        raise ValueError("the vllm backend runs in the vLLM environment: give its interpreter with --python "
                         "(python -m venv ~/venvs/vllm && ~/venvs/vllm/bin/pip install -r "
                         "recipes/synth/vllm-requirements.txt)")
    args = {"pretrained": run.model, **({"revision": run.revision} if run.revision else {}), **run.model_args}
    cmd = [*(shlex.split(run.python) if run.python else [sys.executable]), "-m", "lm_eval",
           "--model", run.backend, "--model_args", ",".join(f"{k}={v}" for k, v in args.items()),
           "--tasks", ",".join(run.tasks), "--output_path", str(run.output_dir), "--batch_size", str(run.batch_size),
           "--include_path", ",".join(str(p) for p in [BUNDLED_TASKS, *run.include_paths])]
    if run.num_fewshot is not None:
        cmd += ["--num_fewshot", str(run.num_fewshot)]
    if run.limit:
        cmd += ["--limit", str(run.limit)]
    if run.device:
        cmd += ["--device", run.device]
    if run.apply_chat_template:
        cmd += ["--apply_chat_template"]
    return cmd


def run_lm_eval(run: LmEvalRun, model_name: str | None = None, env: dict | None = None) -> dict:
    """Run the harness, then import everything it wrote under output_dir (one results document)."""
    from .lm_eval_import import import_directory

    run.output_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(command(run), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"lm-evaluation-harness failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return import_directory(run.output_dir, model_name or (None if Path(run.model).exists() else run.model))
