"""The training recipe's data slots: a list of sources with weights, mixed by weight; lineage without local paths."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from recipes.train.config import TrainConfig
from recipes.train.data import build_mixture

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recipes" / "train" / "sample"


@pytest.fixture(scope="module")
def tokenizer():
    from hub_tools.samples.tiny_models import build_tokenizer

    return build_tokenizer()


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (SAMPLE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _config(data: dict) -> TrainConfig:
    cfg = TrainConfig.model_validate({"name": "t", "base_model": "hubtool:tiny-llama", "data": data})
    cfg._base = SAMPLE
    return cfg


def test_a_slot_takes_several_sources_each_mixed_by_its_weight(tokenizer):
    eu, en = _lines("instructions_eu.jsonl"), _lines("instructions_en.jsonl")
    cfg = _config({"instructions_target": [
        {"path": "instructions_eu.jsonl", "weight": 2.0, "name": "eu"},
        {"path": "instructions_en.jsonl", "weight": 0.5, "name": "en", "hub_id": "org/en-set", "revision": "v1"}]})
    mix = build_mixture(cfg, {"corpus": 0, "instructions_target": 1, "instructions_en": 0}, tokenizer)
    assert mix.counts["instructions_target"] == {
        "rows": len(eu) + len(en), "used": 2 * len(eu) + round(0.5 * len(en)),
        "sources": [{"name": "eu", "rows": len(eu), "used": 2 * len(eu), "weight": 2.0},
                    {"name": "en", "rows": len(en), "used": round(0.5 * len(en)), "weight": 0.5}]}
    assert len(mix.examples) == 2 * len(eu) + round(0.5 * len(en))
    # weight 2: every row of the first source twice (whole permutations, not a biased sample)
    from recipes.train.data import encode_chat

    seen = Counter(tuple(e["input_ids"]) for e in mix.examples)
    for ids, n in Counter(tuple(encode_chat(tokenizer, r["messages"])["input_ids"]) for r in eu).items():
        assert seen[ids] >= 2 * n
    fingerprints = {f.name: f for f in mix.input_fingerprints()}
    assert set(fingerprints) == {"data:instructions_target:eu", "data:instructions_target:en"}
    assert fingerprints["data:instructions_target:eu"].ref == "instructions_eu.jsonl"  # as configured, not absolute
    assert fingerprints["data:instructions_target:en"].ref == "org/en-set"  # the Hub id it is published as
    assert fingerprints["data:instructions_target:en"].revision == "v1"
    assert all(len(f.sha256) == 64 and f.rows for f in fingerprints.values())


def test_the_same_seed_gives_the_same_mix(tokenizer):
    data = {"instructions_target": [{"path": "instructions_eu.jsonl", "weight": 0.7},
                                    {"path": "instructions_en.jsonl", "weight": 1.3}]}
    use = {"corpus": 0, "instructions_target": 1, "instructions_en": 0}
    first = build_mixture(_config(data), use, tokenizer).examples.to_list()
    assert first and first == build_mixture(_config(data), use, tokenizer).examples.to_list()


def test_one_source_is_a_list_of_one_and_a_source_needs_a_location():
    cfg = _config({"corpus": {"path": "instructions_eu.jsonl"}})
    assert [s.path for s in cfg.data["corpus"]] == ["instructions_eu.jsonl"]
    with pytest.raises(ValueError, match="exactly one of `path` or `hub`"):
        _config({"corpus": [{"weight": 1.0}]})
