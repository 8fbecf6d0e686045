"""lm-evaluation-harness results JSON -> hubtool eval results (and so `model-index` in the card).

The harness writes ``results.<task>["<metric>,<filter>"]`` with ``<metric>_stderr,<filter>`` twins
(sometimes "N/A"), plus top-level ``versions``, ``n-shot``, ``n-samples``, ``configs``, ``config`` and
``git_hash``. Task names and scores of Basque tasks changed between harness commits, so the harness
version and commit, each task's version and its few-shot setting are kept with every result.
Model arguments are not copied: they may hold local paths or tokens.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

HARNESS_URL = "https://github.com/EleutherAI/lm-evaluation-harness"
OUTPUT_TYPES = {"multiple_choice": "multiple-choice", "generate_until": "text-generation",
                "loglikelihood": "text-generation", "loglikelihood_rolling": "text-generation"}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def import_lm_eval(data: dict, model_name: str | None = None) -> dict:
    if not isinstance(data.get("results"), dict):
        raise ValueError("not an lm-evaluation-harness results file: no `results` mapping")
    git_hash = data.get("git_hash")
    version = data.get("lm_eval_version") or (data.get("config") or {}).get("lm_eval_version")
    configs = data.get("configs") or {}
    entries = []
    for task, metrics in sorted(data["results"].items()):
        cfg = configs.get(task) or {}
        n_shot = (data.get("n-shot") or {}).get(task, cfg.get("num_fewshot"))
        task_version = (data.get("versions") or {}).get(task)
        out = []
        for key, value in metrics.items():
            metric, _, flt = key.partition(",")
            if key == "alias" or metric.endswith("_stderr") or _number(value) is None:
                continue
            stderr = _number(metrics.get(f"{metric}_stderr,{flt}"))
            out.append({"type": metric, "value": round(float(value), 6),
                        "name": metric if flt in ("", "none") else f"{metric} ({flt})",
                        "args": {"filter": flt or "none", "stderr": stderr, "task_version": task_version}})
        if not out:
            continue
        dataset = {"type": cfg.get("dataset_path") or task, "name": metrics.get("alias", task).strip(" -"),
                   "args": {"num_fewshot": n_shot}}
        if cfg.get("dataset_name"):
            dataset["config"] = cfg["dataset_name"]
        if cfg.get("test_split"):
            dataset["split"] = cfg["test_split"]
        entries.append({"task": {"type": OUTPUT_TYPES.get(cfg.get("output_type"), "text-generation"), "name": task},
                        "dataset": dataset, "metrics": out})
    source = "lm-evaluation-harness" + (f" {version}" if version else "") + (f" (git {git_hash[:7]})" if git_hash else "")
    url = HARNESS_URL + (f"/tree/{git_hash}" if git_hash else "")
    return {"model": model_name, "results": entries, "source": {"name": source, "url": url},
            "provenance": {"harness": {"version": version, "git_hash": git_hash, "date": data.get("date")},
                           "task_versions": data.get("versions") or {}, "n_shot": data.get("n-shot") or {},
                           "n_samples": data.get("n-samples") or {}}}


def import_file(path: str | Path, model_name: str | None = None) -> dict:
    return import_lm_eval(json.loads(Path(path).read_text(encoding="utf-8")), model_name)
