"""Choosing the variant that becomes a model repo's `main`, from the variants' eval results."""
from __future__ import annotations

import json
from dataclasses import dataclass

from hub_tools.errors import HubtoolError
from hub_tools.artifacts.manifest import ArtifactSpec, Manifest, PromoteRule


@dataclass
class Promotion:
    repo_id: str
    winner: ArtifactSpec
    scores: dict[str, float]  # variant name -> score
    metric: str


class PromoteError(HubtoolError, ValueError):
    pass


def metric_value(path, metric: str, task: str | None) -> float | None:
    data = json.loads(path.read_text())
    for r in data.get("results", []):
        if task and r["task"]["type"] != task:
            continue
        for m in r.get("metrics", []):
            if m["type"] == metric:
                return float(m["value"])
    return None


def choose(manifest: Manifest, rule: PromoteRule) -> Promotion:
    repo_id = manifest.full_repo_id(rule.repo)
    candidates = [a for a in manifest.artifacts if a.kind in ("model", "adapter") and manifest.repo_id(a) == repo_id
                  and a.branch != "main"]
    if not candidates:
        raise PromoteError(f"promote: no variant branch of {repo_id} in the manifest")
    scores: dict[str, float] = {}
    for art in candidates:
        if not art.eval_results:
            raise PromoteError(f"promote: {art.name} has no eval_results to compare on {rule.metric}")
        value = metric_value(manifest.base_dir / art.eval_results, rule.metric, rule.task)
        if value is None:
            raise PromoteError(f"promote: {art.eval_results} has no {rule.metric}"
                               f"{' for task ' + rule.task if rule.task else ''}")
        scores[art.name] = value
    best = (max if rule.higher_is_better else min)(candidates, key=lambda a: (scores[a.name], a.name))
    return Promotion(repo_id, best, scores, rule.metric)
