"""The corpus recipe on the bundled real-text evaluation set (recipes/corpus/evalset, see its README):
clean Basque is kept, everything else dropped, planted duplicates reduced to one document each."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recipes.corpus.config import load_config
from recipes.corpus.pipeline import run_corpus

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "recipes" / "configs" / "corpus" / "eval-real-text.yaml"
TRUTH = json.loads((ROOT / "recipes" / "corpus" / "evalset" / "TRUTH.json").read_text())


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("eval") / "eu"
    result = run_corpus(load_config(CONFIG), output=out)
    return {r["id"] for f in sorted((result.output / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()}


def test_the_evaluation_set_is_what_its_readme_says():
    labels = [v["label"] for v in TRUTH.values()]
    assert labels.count("keep") >= 250 and labels.count("drop") >= 1000
    assert len({v["language"] for v in TRUTH.values() if v["kind"] == "udhr"}) >= 400
    assert {v["kind"] for v in TRUTH.values()} >= {"treebank", "udhr", "po-msgstr", "po-raw", "book", "licence",
                                                   "csv", "exact-duplicate", "near-duplicate"}


def test_clean_basque_is_kept_and_the_rest_dropped(kept):
    originals = [k for k, v in TRUTH.items() if v["label"] == "keep" and "duplicate_of" not in v]
    group = {k: v.get("duplicate_of", k) for k, v in TRUTH.items() if v["label"] == "keep"}
    kept_groups = {group[k] for k in kept if k in group}
    recall = sum(o in kept_groups for o in originals) / len(originals)
    scored = [k for k in kept if TRUTH[k]["label"] in ("keep", "drop")]
    precision = sum(TRUTH[k]["label"] == "keep" for k in scored) / len(scored)
    assert recall >= 0.95, recall
    assert precision >= 0.99, (precision, sorted(k for k in scored if TRUTH[k]["label"] == "drop"))
    assert not any(TRUTH[k]["language"] not in ("eu",) for k in kept)


@pytest.mark.parametrize("kind, share", [("exact-duplicate", 1.0), ("near-duplicate", 0.85)])
def test_planted_duplicates_leave_one_document_per_group(kept, kind, share):
    groups = [(k, v["duplicate_of"]) for k, v in TRUTH.items() if v["kind"] == kind]
    alive = [(c, o) for c, o in groups if c in kept or o in kept]
    assert len(alive) >= 0.9 * len(groups)  # the rest were dropped as a whole by a quality rule
    single = sum((c in kept) + (o in kept) == 1 for c, o in alive)
    assert single / len(alive) >= share, (single, len(alive))
