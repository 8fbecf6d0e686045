"""The tests' known-good release, assembled directly (fast) from the bundled Basque sentences: a corpus, an
instruction set, a preference set, a tiny base model with two random LoRA variants on branches, their
evaluation results and a Space. Validation, card, push and release tests change it to provoke one finding
at a time. It is test input only: the quickstart builds its release with the recipes
(recipes/quickstart/release.yaml), and the evaluation results here are computed by the evaluate recipe.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import yaml

from hub_tools.artifacts.provenance import InputFingerprint, LineageStep, Provenance, RecipeInfo, SourceDataset, write_provenance

BASE_REPO = "tiny-llama-eu"
ADAPTER_REPO = "tiny-llama-eu-instruct"
VARIANTS = {"exp_2_101": 1, "exp_2_111": 2}  # branch -> seed


def sample_splits() -> dict[str, list[dict]]:
    """The sample sentences, split deterministically (by a hash of the text) into train/validation."""
    from hub_tools.samples.tiny_models import sample_sentences

    splits: dict[str, list[dict]] = {"train": [], "validation": []}
    for i, text in enumerate(sample_sentences()):
        bucket = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10
        splits["validation" if bucket == 0 else "train"].append({"id": f"sample-{i:04d}", "text": text})
    return splits


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _provenance(kind: str, name: str, stats: dict | None = None, **extra) -> Provenance:
    prov = Provenance.create(kind=kind, name=name, language=["eu"], recipe=RecipeInfo(name="sample", version="1"),
                             config={"source": "hub_tools/samples/basque_sentences.txt"}, seed=0,
                             statistics=stats or {}, **extra)
    prov.finish()
    return prov


def build_corpus(out: Path) -> Path:
    splits = sample_splits()
    for split, rows in splits.items():
        _write_parquet(out / "data" / f"{split}-00000-of-00001.parquet",
                       [{**r, "source": "hubtool-samples"} for r in rows])
    write_provenance(out, _provenance("corpus", "sample-corpus", inputs=[
        InputFingerprint(name="source:hubtool-samples", ref="hub_tools/samples/basque_sentences.txt",
                         rows=sum(len(r) for r in splits.values()))]))
    return out


def build_instructions(out: Path, namespace: str) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Errepikatu esaldi hau, mesedez: {r['text']}"},
                          {"role": "assistant", "content": r["text"]}], "source_id": r["id"]}
            for r in sample_splits()["train"]]
    _write_parquet(out / "data" / "train-00000-of-00001.parquet", rows)
    write_provenance(out, _provenance(
        "instructions", "sample-instructions",
        source_datasets=[SourceDataset(id=f"{namespace}/basque-sample-corpus")],
        lineage=[LineageStep(step="subset", description="train split of the sample corpus"),
                 LineageStep(step="template", description="one repeat-after-me instruction per sentence")]))
    return out


def build_preferences(out: Path) -> Path:
    sents = sample_splits()["train"]
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    rows = []
    for i, r in enumerate(sents[:40]):
        other = sents[(i + 7) % len(sents)]["text"]
        winner = winners[i % 4]
        rows.append({"id": f"vote-{i:04d}", "prompt": f"Idatzi esaldi bat: {r['text'][:20]}", "chosen": r["text"],
                     "rejected": other, "model_a": "exp_2_101", "model_b": "exp_2_111", "winner": winner})
    _write_parquet(out / "data" / "train-00000-of-00001.parquet", rows)
    write_provenance(out, _provenance("preferences", "sample-preferences"))
    return out


def build_models(root: Path, namespace: str) -> dict[str, Path]:
    from hub_tools.samples.tiny_models import save_tiny_adapter, save_tiny_model

    base = save_tiny_model(root / "base")
    write_provenance(base, _provenance("model", "tiny-llama-eu", stats={"note": "random weights"}))
    out = {"base": base}
    for branch, seed in VARIANTS.items():
        adapter = save_tiny_adapter(base, root / branch, base_repo_id=f"{namespace}/{BASE_REPO}", seed=seed)
        write_provenance(adapter, _provenance("adapter", branch, inputs=[
            InputFingerprint(name="base_model", ref=f"{namespace}/{BASE_REPO}")]))
        out[branch] = adapter
    return out


def build_space(out: Path, namespace: str, version: str) -> Path:
    """The demo Space (space/app.py) serving the sample base model and both variants at the release tags."""
    from hub_tools.publish.space_bundle import default_settings_path, stage_space

    text = default_settings_path().read_text(encoding="utf-8")
    settings = yaml.safe_load(text.replace("hubtool-demo/", f"{namespace}/").replace("v1.0", version))
    return stage_space(out, settings, name="sample-space")


def evaluate_variant(base: Path, adapter: Path, out: Path) -> Path:
    """The evaluate recipe's scores of a variant (two tasks, a few rows: seconds on a CPU)."""
    from recipes.evaluate.runner import evaluate_to_file

    evaluate_to_file(str(base), out, adapter=str(adapter), tasks=("mt_en_eu", "mcqa_eu"), limit=4, max_new_tokens=8,
                     name=adapter.name, record={"adapter": adapter.name})
    return out


def build_sample_release(root: str | Path, namespace: str = "hubtool-samples", version: str = "v1.0") -> Path:
    """Write every artifact and ``release.yaml`` under ``root``; returns the manifest path."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    build_corpus(root / "corpus")
    build_instructions(root / "instructions", namespace)
    build_preferences(root / "preferences")
    models = build_models(root / "models", namespace)
    build_space(root / "space", namespace, version)
    for branch in VARIANTS:
        evaluate_variant(models["base"], models[branch], root / "results" / f"{branch}.json")
    manifest = {
        "namespace": namespace, "version": version, "languages": ["eu"], "license": "apache-2.0",
        "collection": {"title": "hubtool sample release", "description": "Everything hubtool quickstart publishes"},
        "artifacts": [
            {"name": "corpus", "kind": "corpus", "path": "corpus", "repo": "basque-sample-corpus",
             "card": {"pretty_name": "Basque sample corpus", "license": "cc0-1.0"}},
            {"name": "instructions", "kind": "instructions", "path": "instructions", "repo": "basque-sample-instructions"},
            {"name": "preferences", "kind": "preferences", "path": "preferences", "repo": "basque-sample-preferences"},
            {"name": "base", "kind": "model", "path": "models/base", "repo": BASE_REPO},
            *[{"name": branch, "kind": "adapter", "path": f"models/{branch}", "repo": ADAPTER_REPO, "branch": branch,
               "eval_results": f"results/{branch}.json",
               "card": {"datasets": [f"{namespace}/basque-sample-corpus", f"{namespace}/basque-sample-instructions"]}}
              for branch in models if branch != "base"],
            {"name": "space", "kind": "space", "path": "space", "repo": "basque-sample-demo"},
        ],
    }
    path = root / "release.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return path
