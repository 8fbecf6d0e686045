"""Datasets of the bundled lm-evaluation-harness tasks: hubtool's own task samples (CC0), read from the
package (recipes/evaluate/tasks), so nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

TASKS = Path(__file__).resolve().parents[2] / "tasks"


def _load(name: str, **kwargs):
    import datasets

    return datasets.DatasetDict({"test": datasets.load_dataset("json", data_files=str(TASKS / name), split="train")})


def mcqa_eu(**kwargs):
    return _load("mcqa_eu.jsonl")


def qa_eu(**kwargs):
    return _load("qa_eu.jsonl")
