"""The bundled sample published and read back: what ``hubtool quickstart`` runs end to end."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

SAMPLE_REPO = "basque-sample"
SAMPLE_CARD = """---
language: [eu]
license: cc0-1.0
pretty_name: hubtool Basque sample
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
---
# hubtool Basque sample

{n} short Basque sentences written for the hubtool project (CC0), published by `hubtool quickstart`.
"""


def sample_splits() -> dict[str, list[dict]]:
    """The sample sentences, split deterministically (by a hash of the text) into train/validation."""
    from .tiny_models import sample_sentences

    splits: dict[str, list[dict]] = {"train": [], "validation": []}
    for i, text in enumerate(sample_sentences()):
        bucket = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10
        splits["validation" if bucket == 0 else "train"].append({"id": f"sample-{i:04d}", "text": text})
    return splits


def write_sample_dataset(folder: Path) -> dict[str, list[dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    splits = sample_splits()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text(SAMPLE_CARD.format(n=sum(len(r) for r in splits.values())))
    return splits


def run_sample_round_trip(endpoint: str | None = None) -> dict:
    """Publish the sample dataset to the Hub (the local staging hub by default) and load it back."""
    import datasets

    from .endpoint import resolve_target

    target = resolve_target(endpoint)
    api = target.api()
    namespace = "hubtool-demo" if target.local else api.whoami()["name"]
    repo_id = f"{namespace}/{SAMPLE_REPO}"
    with tempfile.TemporaryDirectory(prefix="hubtool-quickstart-") as tmp:
        folder = Path(tmp) / "artifact"
        splits = write_sample_dataset(folder)
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=folder,
                                   delete_patterns=["data/*"], commit_message="hubtool quickstart: sample corpus")
        loaded = datasets.load_dataset(repo_id, revision=commit.oid, cache_dir=str(Path(tmp) / "cache"))
        identical = all(loaded[s].to_list() == rows for s, rows in splits.items())
        return {
            "endpoint": target.endpoint, "local": target.local, "note": target.note, "repo_id": repo_id,
            "commit": commit.oid, "splits": list(splits), "rows": sum(len(r) for r in splits.values()),
            "rows_loaded": sum(len(loaded[s]) for s in loaded), "identical": identical,
        }
