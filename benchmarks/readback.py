"""Reading a published dataset back from the local hub, against reading the same files from a local folder.

- ``datasets.load_dataset(repo)`` from the hub (empty datasets and hub caches each time) against
  ``load_dataset("parquet", data_files=...)`` on the local folder (empty datasets cache each time);
- ``huggingface_hub.snapshot_download`` (empty cache each time) against copying the folder (``cp -r``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks._common import (
    Figure,
    alternate,
    local_hub,
    time_ratio,
    write_corpus_shard,
    write_provenance,
)


def run(size: dict, work: Path) -> list[Figure]:
    reps = size["reps"]
    folder = work / "readback-dataset"
    total = 0
    for s in range(size["read_shards"]):
        total += write_corpus_shard(folder / "data" / f"train-{s:05d}-of-{size['read_shards']:05d}.parquet",
                                    size["read_shard_rows"], seed=70_000 + s)
    write_provenance(folder, "readback-bench")
    sizes = {"shards": size["read_shards"], "rows": size["read_shards"] * size["read_shard_rows"], "bytes": total}
    repo = "bench/readback"
    figures = []
    with local_hub(work / "hub-read"):
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo, repo_type="dataset")
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset")
        files = sorted(str(p) for p in (folder / "data").glob("*.parquet"))

        def from_hub(i: int) -> None:
            import datasets

            with tempfile.TemporaryDirectory(dir=work) as cache:
                os.environ["HF_HUB_CACHE"] = str(Path(cache) / "hub")
                import huggingface_hub.constants as c

                c.HF_HUB_CACHE = os.environ["HF_HUB_CACHE"]
                ds = datasets.load_dataset(repo, split="train", cache_dir=str(Path(cache) / "ds"))
                assert len(ds) == sizes["rows"]

        def from_folder(i: int) -> None:
            import datasets

            with tempfile.TemporaryDirectory(dir=work) as cache:
                ds = datasets.load_dataset("parquet", data_files={"train": files}, split="train", cache_dir=cache)
                assert len(ds) == sizes["rows"]

        o, t, _, _ = alternate(from_hub, from_folder, reps)
        figures.append(Figure("readback", "load_dataset from the local hub", "s", round(o, 3),
                              "load_dataset of the local parquet files", round(t, 3), time_ratio(o, t), reps, sizes))

        def download(i: int) -> None:
            from huggingface_hub import snapshot_download

            with tempfile.TemporaryDirectory(dir=work) as cache:
                snapshot_download(repo, repo_type="dataset", cache_dir=cache)

        def copy(i: int) -> None:
            with tempfile.TemporaryDirectory(dir=work) as dst:
                subprocess.run(["cp", "-r", str(folder), str(Path(dst) / "copy")], check=True)

        o, t, _, _ = alternate(download, copy, reps)
        figures.append(Figure("readback", "snapshot_download from the local hub", "s", round(o, 3), "cp -r of the folder",
                              round(t, 3), time_ratio(o, t), reps, sizes))
    shutil.rmtree(work / "hub-read", ignore_errors=True)
    return figures
