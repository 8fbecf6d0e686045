"""Card pictures: drawn from the data, byte-identical for the same data, every number in the card's tables.
(The pictures read back from the local hub: tests/test_release_insight.py.)"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from hub_tools.artifacts.manifest import load_manifest
from hub_tools.publish.cards import CardContext, context_for, render_card_files
from hub_tools.publish.pictures import loss_picture

ROOT = Path(__file__).resolve().parent.parent
RENDER = """
import sys, json
from hub_tools.artifacts.manifest import load_manifest
from hub_tools.publish.cards import context_for, render_card_files
m = load_manifest(sys.argv[1])
out = {}
for a in m.artifacts:
    if a.kind != "space":
        out.update({f"{a.name}/{k}": v.hex() for k, v in render_card_files(m.artifact_path(a), context_for(m, a)).files.items()})
print(json.dumps(out))
"""


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def test_same_data_gives_byte_identical_pictures_in_another_process(release):
    m = load_manifest(release)
    here = {}
    for a in m.artifacts:
        if a.kind != "space":
            here.update({f"{a.name}/{k}": v for k, v in render_card_files(m.artifact_path(a), context_for(m, a)).files.items()})
    assert {"corpus/card_images/sources.png", "preferences/card_images/win-rates.png",
            "exp_2_111/card_images/scores.png"} <= set(here)
    proc = subprocess.run([sys.executable, "-c", RENDER, str(release)], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    there = {k: bytes.fromhex(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    assert there == here
    for data in here.values():
        assert b"Software" not in data and b"Creation Time" not in data  # nothing that varies per run
        _png(data).verify()


def test_win_rates_are_computed_from_the_battles(release):
    m = load_manifest(release)
    art = next(a for a in m.artifacts if a.name == "preferences")
    card = render_card_files(m.artifact_path(art), context_for(m, art))
    rows = pq.read_table(m.artifact_path(art) / "data" / "train-00000-of-00001.parquet").to_pylist()
    models = sorted({r["model_a"] for r in rows} | {r["model_b"] for r in rows})
    for a in models:
        cells = []
        for b in models:
            games = [r for r in rows if {r["model_a"], r["model_b"]} == {a, b} and a != b]
            wins = sum(1.0 if r["winner"] == ("model_a" if r["model_a"] == a else "model_b") else
                       0.5 if r["winner"].startswith("tie") else 0.0 for r in games)
            cells.append(f"{wins / len(games) * 100:.1f}% ({len(games)})" if games else "–")
        assert f"| {a} | {' | '.join(cells)} |" in card.text
    assert "![Heatmap: how often the row model beat the column model (ties count half)](card_images/win-rates.png)" \
        in card.text
    assert "card_images/win-rates.png" in card.files


def test_rankings_from_the_preferences_recipe_are_drawn_with_their_intervals(tmp_path):
    from recipes.preferences.build import build_preferences

    from hub_tools.samples.tiny_models import sample_sentences

    s = sample_sentences()
    models, winners = ["exp_2_111", "exp_2_101", "exp_1_111"], ["model_a", "model_a", "model_b", "tie"]
    votes = [{"id": f"v{i}", "model_a": models[i % 3], "model_b": models[(i + 1) % 3],
              "conv_a": [{"role": "user", "content": s[i % 100]}, {"role": "assistant", "content": s[(i + 3) % 100]}],
              "conv_b": [{"role": "user", "content": s[i % 100]}, {"role": "assistant", "content": s[(i + 5) % 100]}],
              "winner": winners[i % 4], "winner_content": winners[(i + 1) % 4], "winner_language": winners[i % 3],
              "username": f"u{i % 5}", "timestamp": f"2025-01-01T00:00:{i % 60:02d}"} for i in range(40)]
    out = build_preferences(votes, tmp_path / "prefs", "arena", "eu", salt=b"salt", bootstrap_rounds=30)
    prov = json.loads((out / "hubtool.json").read_text())
    ctx = CardContext(name="arena", kind="preferences", repo_id="hitz/arena", license="cc-by-4.0", languages=["eu"])
    card = render_card_files(out, ctx)
    for dim, table in prov["statistics"]["rankings"].items():
        assert f"card_images/ranking-{dim}.png" in card.files
        for r in table:
            assert f"| {r['rank']} | {r['model']} | {r['rating']} | {r['ci_low']} – {r['ci_high']} |" in card.text
    assert "card_images/win-rates.png" in card.files
    configs = [p.name for p in (out / "data").iterdir() if p.is_dir()]
    assert {f"card_images/words-per-row-{c}.png" for c in configs} <= set(card.files)


def test_loss_curves_come_from_the_trainer_log(tmp_path):
    """The train recipe's training_metrics.json (TRL's log history) drawn, with evaluation losses when logged."""
    from recipes.train.config import expand_variants, load_train_config
    from recipes.train.run import train_variant

    cfg = load_train_config(ROOT / "recipes" / "configs" / "train" / "tiny.yaml")
    cfg.training["max_steps"] = 4
    cfg.training["save_steps"] = 4
    variant = next(v for v in expand_variants(cfg) if v.name == "exp_2_111")
    result = train_variant(cfg, variant, tmp_path)
    history = json.loads((result.output / "training_metrics.json").read_text())
    results = tmp_path / "results.json"
    base_results = tmp_path / "base.json"
    for path, value in ((results, 0.5), (base_results, 0.25)):
        path.write_text(json.dumps({"results": [{"task": {"type": "multiple-choice", "name": "MCQA"},
                                                 "dataset": {"type": "mcqa_eu", "name": "mcqa_eu"},
                                                 "metrics": [{"type": "accuracy", "value": value,
                                                              "args": {"stderr": 0.05}}]}]}))
    ctx = CardContext(name="exp_2_111", kind="adapter", repo_id="hitz/x", license="apache-2.0", languages=["eu"],
                      eval_results=results, release_eval_results={cfg.base_model_id: base_results})
    card = render_card_files(result.output, ctx)
    assert {"card_images/loss.png", "card_images/scores.png"} <= set(card.files)
    for h in history:
        if "loss" in h:
            assert f"| {h['step']} | {h['loss']:.4f} |  |" in card.text
    assert "| MCQA · accuracy | 0.5 ± 0.05 | 0.25 ± 0.05 | +0.25 |" in card.text
    assert f"next to the base model {cfg.base_model_id}" in card.text
    logged = [h for h in history if "loss" in h]
    with_eval = loss_picture(logged + [{"eval_loss": 2.5, "step": logged[-1]["step"], "epoch": 1.0}])
    last = logged[-1]
    assert with_eval.rows[-1] == [str(last["step"]), f"{last['loss']:.4f}", "2.5000"]
    assert "and evaluation loss" in with_eval.alt and _png(with_eval.png).size == (640, 360)


def test_a_model_without_logs_or_scores_has_no_pictures_section(release):
    m = load_manifest(release)
    art = next(a for a in m.artifacts if a.name == "base")
    card = render_card_files(m.artifact_path(art), context_for(m, art))
    assert card.files == {} and "## Pictures" not in card.text
