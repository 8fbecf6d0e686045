"""`hubtool validate` on a generated parquet corpus against a plain pyarrow scan of its text column.

Both run in a child process of their own (so each reports its own peak RSS) on the same files, from the
page cache, alternating; validation starts from an empty cache (a fresh HUBTOOL_HOME) every time, so it
hashes and checks every row. Target: validate >= 0.5x the scan's rows/s, peak RSS < 1 GiB at 2 GB.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._common import ROOT, Figure, age, alternate, time_ratio, write_corpus_shard, write_provenance

ROWS_PER_SHARD = 20_000  # ~20 MB of text a shard


def generate(folder: Path, target_mb: float) -> tuple[int, int]:
    shards = max(1, round(target_mb * 1e6 / (1000 * ROWS_PER_SHARD)))
    size = 0
    for s in range(shards):
        size += write_corpus_shard(folder / "data" / f"train-{s:05d}-of-{shards:05d}.parquet", ROWS_PER_SHARD, seed=s,
                                   compression="none")  # "2 GB" on disk, as the issue measured
    write_provenance(folder, "validate-bench")
    age(folder)
    return shards * ROWS_PER_SHARD, size


def _child(what: str, folder: Path, home: Path) -> dict:
    env = {**os.environ, "HUBTOOL_HOME": str(home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "benchmarks._child", what, str(folder)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(size: dict, work: Path) -> list[Figure]:
    mb, reps = size["validate_mb"], size["reps"]
    folder = work / "validate-corpus"
    rows, data_bytes = generate(folder, mb)
    runs: dict[str, list[dict]] = {"validate": [], "scan": []}

    def measure(what: str) -> float:
        with tempfile.TemporaryDirectory(dir=work) as home:
            got = _child(what, folder, Path(home))
        assert got["rows"] == rows, got
        runs[what].append(got)
        return got["seconds"]

    ours, base, _, _ = alternate(lambda i: measure("validate"), lambda i: measure("scan"), reps)
    rss = max(r["peak_rss_mib"] for r in runs["validate"])
    ratio = time_ratio(ours, base)
    sizes = {"rows": rows, "parquet_bytes": data_bytes, "text_chars_per_row": 1000, "shards": rows // ROWS_PER_SHARD}
    at_scale = data_bytes >= 1.5e9
    return [
        Figure("validate", "validate rows/s", "rows/s", round(rows / ours), "pyarrow scan of the text column",
               round(rows / base), ratio, reps, sizes, ">= 0.5x", ratio >= 0.5,
               None if ratio >= 0.5 else f"{0.5 - ratio:.2f}x short ({ratio:.2f}x)",
               {"seconds": round(ours, 2), "baseline_seconds": round(base, 2)}),
        Figure("validate", "validate peak RSS", "MiB", rss, "pyarrow scan peak RSS",
               max(r["peak_rss_mib"] for r in runs["scan"]), None, reps, sizes,
               "< 1024 MiB on a 2 GB corpus", (rss < 1024) if at_scale else None,
               None if rss < 1024 else f"{rss - 1024:.0f} MiB over"),
    ]
