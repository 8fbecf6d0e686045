"""Releases for the tests of `hubtool diff`, card pictures and the "Changes since" section, built from
artifact folders: the tests' sample release (tests/sample_release.py) with its corpus made by the
real corpus recipe (recipes/configs/corpus/tiny.yaml) from three of its four sources, or from all four.

When the recipe-driven quickstart (`hubtool build release.yaml`) lands, :func:`build_release` can be
replaced by it; the tests only rely on what it returns.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS_CONFIG = ROOT / "recipes" / "configs" / "corpus" / "tiny.yaml"
TASKS = ROOT / "recipes" / "evaluate" / "tasks"
ADDED_SOURCE = "books"
KEEP = ("corpus", "instructions", "preferences", "base", "exp_2_111")
# sample eval results with standard errors (as lm-evaluation-harness writes them)
BLEU_STDERR, ACC_STDERR = 0.5, 0.05


def eval_results(bleu: float, acc: float, bleu_se: float = BLEU_STDERR, acc_se: float = ACC_STDERR) -> dict:
    return {"results": [
        {"task": {"type": "translation", "name": "Machine translation en-eu"},
         "dataset": {"type": "hubtool-samples/mt_en_eu", "name": "mt_en_eu", "split": "test"},
         "metrics": [{"type": "bleu", "name": "BLEU", "value": bleu, "args": {"stderr": bleu_se}}]},
        {"task": {"type": "multiple-choice", "name": "Multiple-choice QA (eu)"},
         "dataset": {"type": "hubtool-samples/mcqa_eu", "name": "mcqa_eu", "split": "test"},
         "metrics": [{"type": "accuracy", "name": "Accuracy", "value": acc, "args": {"stderr": acc_se}}]},
    ]}


def build_corpus(out: Path, with_added_source: bool) -> Path:
    """The corpus recipe on the bundled sample: wiki, news and forum, plus books when asked."""
    from recipes.corpus.config import load_config
    from recipes.corpus.pipeline import run_corpus

    cfg = load_config(CORPUS_CONFIG)
    if not with_added_source:
        cfg.sources = [s for s in cfg.sources if s.name != ADDED_SOURCE]
    cfg.work_dir = str((out.parent / f".work-{out.name}").resolve())  # the same path each time: it is in the config
    run_corpus(cfg, output=out)
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
    return out


def build_release(root: Path, namespace: str) -> Path:
    """Version v1.0: corpus from three sources, bleu 11.0 ± 0.5 and accuracy 0.5 ± 0.05 for exp_2_111, the
    base model's scores, and the bundled evaluation tasks listed for the overlap check."""
    from sample_release import build_sample_release

    manifest_path = build_sample_release(root, namespace=namespace, version="v1.0")
    data = yaml.safe_load(manifest_path.read_text())
    data["artifacts"] = [a for a in data["artifacts"] if a["name"] in KEEP]
    base = next(a for a in data["artifacts"] if a["name"] == "base")
    base["eval_results"] = "results/base.json"
    (root / "results" / "base.json").write_text(json.dumps(eval_results(2.0, 0.25, 0.3, 0.04), indent=2))
    set_scores(root, bleu=11.0, acc=0.5)
    (root / "tasks").mkdir()
    for task in ("mcqa_eu", "qa_eu", "mt_en_eu"):
        shutil.copy(TASKS / f"{task}.jsonl", root / "tasks" / f"{task}.jsonl")
    data["validation"] = {"overlap": {"evaluation_sets": [
        {"name": t, "path": f"tasks/{t}.jsonl"} for t in ("mcqa_eu", "qa_eu", "mt_en_eu")]}}
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.rmtree(root / "corpus")
    build_corpus(root / "corpus", with_added_source=False)
    return manifest_path


def set_scores(root: Path, bleu: float, acc: float) -> None:
    (root / "results" / "exp_2_111.json").write_text(json.dumps(eval_results(bleu, acc), indent=2))


def set_version(manifest_path: Path, version: str) -> None:
    data = yaml.safe_load(manifest_path.read_text())
    data["version"] = version
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))


def add_source(manifest_path: Path) -> None:
    """The next release: the corpus rebuilt with one source more."""
    build_corpus(manifest_path.parent / "corpus", with_added_source=True)
