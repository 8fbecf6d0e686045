"""lm-evaluation-harness results -> hubtool eval results (and so `model-index` and the card's table).

The harness writes, per run, ``<output_path>/<model>/results_<time>.json`` with
``results.<task>["<metric>,<filter>"]`` and ``<metric>_stderr,<filter>`` twins (sometimes "N/A"), the
group aggregates in ``groups`` and their members in ``group_subtasks`` (nested: a group may hold groups),
plus ``versions``, ``n-shot``, ``configs``, ``config``, ``git_hash``, ``lm_eval_version`` and
``model_name``. The study ran one harness call per task, so a model's results are a directory of such
files; :func:`import_directory` reads all of them at once (a task run twice keeps its latest run).

Kept with every result: the metric's filter and stderr, the task's version and few-shot setting, and its
group (a group row lists its subtasks). The harness version and commit are the source (Basque task names
and scores changed between harness commits). Model arguments are not copied (they may hold local paths or
tokens); a model name that is a local path is not used.
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


def _is_local_path(name: str | None) -> bool:
    return bool(name) and (name.startswith(("/", ".", "~")) or "\\" in name or Path(name).exists())


def model_revision(data: dict) -> str | None:
    """The `revision=` of the harness's model_args (only that key: the others may hold paths or tokens)."""
    args = (data.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        return args.get("revision")
    for part in str(args or "").split(","):
        key, _, value = part.partition("=")
        if key.strip() == "revision":
            return value.strip()
    return None


def _parents(data: dict) -> dict[str, str]:
    """task or group -> the group it belongs to."""
    parents = {}
    for group, members in (data.get("group_subtasks") or {}).items():
        for member in members or []:
            parents[member] = group
    return parents


def _members(data: dict, group: str) -> list[str]:
    """Every leaf task under ``group`` (groups nest)."""
    out = []
    for member in (data.get("group_subtasks") or {}).get(group) or []:
        out += _members(data, member) if (data.get("group_subtasks") or {}).get(member) else [member]
    return out


def _metrics(values: dict, task_version) -> list[dict]:
    out = []
    for key, value in values.items():
        metric, comma, flt = key.partition(",")
        if not comma or metric.endswith("_stderr") or _number(value) is None:
            continue  # alias, name, sample_len, sample_count, "N/A" ...
        stderr = _number(values.get(f"{metric}_stderr,{flt}"))
        out.append({"type": metric, "value": round(float(value), 6),
                    "name": metric if flt in ("", "none") else f"{metric} ({flt})",
                    "args": {"filter": flt or "none", "stderr": stderr, "task_version": task_version}})
    return out


def _entries(data: dict) -> list[dict]:
    configs = data.get("configs") or {}
    results = {**(data.get("results") or {}), **(data.get("groups") or {})}
    subtasks = data.get("group_subtasks") or {}
    parents = _parents(data)
    n_shots = data.get("n-shot") or {}
    entries = []
    for task, values in results.items():
        is_group = bool(subtasks.get(task))
        task_version = (data.get("versions") or {}).get(task)
        metrics = _metrics(values, task_version)
        if not metrics:
            continue
        leaves = _members(data, task) if is_group else [task]
        types = {OUTPUT_TYPES.get((configs.get(t) or {}).get("output_type"), "text-generation") for t in leaves}
        shots = {n_shots.get(t, (configs.get(t) or {}).get("num_fewshot")) for t in leaves}
        n_shot = n_shots.get(task, shots.pop() if len(shots) == 1 else None)
        cfg = configs.get(task) or {}
        dataset = {"type": cfg.get("dataset_path") or task, "name": str(values.get("alias", task)).strip(" -"),
                   "args": {"num_fewshot": n_shot}}
        if parents.get(task):
            dataset["args"]["group"] = parents[task]
        if is_group:
            dataset["args"]["subtasks"] = list(subtasks[task])
        if cfg.get("dataset_name"):
            dataset["config"] = cfg["dataset_name"]
        if cfg.get("test_split"):
            dataset["split"] = cfg["test_split"]
        entries.append({"task": {"type": types.pop() if len(types) == 1 else "text-generation", "name": task},
                        "dataset": dataset, "metrics": metrics, "_group": is_group})
    return entries


def _order(entries: list[dict]) -> list[dict]:
    """Groups first, each followed by its members (as the harness prints them), the rest by name."""
    by_name = {e["task"]["name"]: e for e in entries}
    out, seen = [], set()

    def add(name: str) -> None:
        if name in seen or name not in by_name:
            return
        seen.add(name)
        out.append(by_name[name])
        for member in by_name[name]["dataset"]["args"].get("subtasks", []):
            add(member)

    for name in sorted(by_name, key=lambda n: (by_name[n]["dataset"]["args"].get("group") is not None, n)):
        add(name)
    for e in out:
        e.pop("_group", None)
    return out


def import_runs(runs: list[dict], model_name: str | None = None) -> dict:
    """One results document from several harness runs of the same model (a later run of a task wins)."""
    if not runs:
        raise ValueError("no lm-evaluation-harness results")
    for data in runs:
        if not isinstance(data.get("results"), dict):
            raise ValueError("not an lm-evaluation-harness results file: no `results` mapping")
    runs = sorted(runs, key=lambda d: float(d.get("date") or 0))
    names = {d.get("model_name") for d in runs} - {None}
    if model_name is None:
        if len(names) > 1:
            raise ValueError(f"results of several models ({', '.join(sorted(names))}): import one model's results "
                             "at a time, or give --model-name")
        name = names.pop() if names else None
        model_name = None if _is_local_path(name) else name
    merged: dict[str, dict] = {}
    harness, task_versions, n_shot, n_samples, revisions = {}, {}, {}, {}, set()
    for data in runs:
        version = data.get("lm_eval_version") or (data.get("config") or {}).get("lm_eval_version")
        revisions.add(model_revision(data))
        for entry in _entries(data):
            task = entry["task"]["name"]
            merged[task] = entry
            harness[task] = {"version": version, "git_hash": data.get("git_hash"), "date": data.get("date")}
        task_versions.update(data.get("versions") or {})
        n_shot.update(data.get("n-shot") or {})
        n_samples.update(data.get("n-samples") or {})
    versions = sorted({(h["version"] or "", h["git_hash"] or "") for h in harness.values()})
    version, git_hash = versions[-1] if versions else ("", "")
    source = "lm-evaluation-harness" + (f" {version}" if version else "") + (f" (git {git_hash[:7]})" if git_hash else "")
    if len(versions) > 1:
        source += f" and {len(versions) - 1} other version(s), per task in provenance"
    url = HARNESS_URL + (f"/tree/{git_hash}" if git_hash else "")
    revisions.discard(None)
    return {"model": model_name, "results": _order(list(merged.values())), "source": {"name": source, "url": url},
            "provenance": {"harness": {"version": version or None, "git_hash": git_hash or None,
                                       "date": runs[-1].get("date")},
                           "harness_per_task": harness, "model_revision": revisions.pop() if len(revisions) == 1
                           else None, "runs": len(runs), "task_versions": task_versions, "n_shot": n_shot,
                           "n_samples": n_samples}}


def import_lm_eval(data: dict, model_name: str | None = None) -> dict:
    return import_runs([data], model_name)


def import_file(path: str | Path, model_name: str | None = None) -> dict:
    return import_lm_eval(json.loads(Path(path).read_text(encoding="utf-8")), model_name)


def import_directory(path: str | Path, model_name: str | None = None) -> dict:
    """Every ``results*.json`` under ``path`` (the harness's --output_path, or one model's folder of it)."""
    files = sorted(p for p in Path(path).rglob("results*.json") if p.is_file())
    if not files:
        raise ValueError(f"{path}: no results*.json files (the harness's --output_path)")
    runs = []
    for f in files:
        try:
            runs.append(json.loads(f.read_text(encoding="utf-8")))
        except json.JSONDecodeError as err:
            raise ValueError(f"{f}: not JSON ({err})") from None
    return import_runs(runs, model_name)


def import_path(path: str | Path, model_name: str | None = None) -> dict:
    return import_directory(path, model_name) if Path(path).is_dir() else import_file(path, model_name)
