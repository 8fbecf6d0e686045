"""Benchmark: `hubtool validate` on a ~2 GB parquet corpus.

Measures, in one run and on the same files:
- baseline: a plain pyarrow scan (iter_batches over the text column, summing lengths);
- hubtool validate (every dataset check) in a child process, its peak RSS from getrusage.
Writes benchmarks/results/validate_large_corpus.json: rows/s of both, their ratio, peak RSS.

    .venv/bin/python benchmarks/validate_large_corpus.py [--gb 2.0] [--workdir /tmp/htbench] [--keep]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
ROW_CHARS = 1000
ROWS_PER_SHARD = 100_000


def generate(folder: Path, target_bytes: int) -> int:
    """Write ~target_bytes of uncompressed parquet: Basque-looking documents of ~1 kB, all distinct."""
    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance
    from hub_tools.samples.tiny_models import sample_sentences

    words = sorted({w.strip(".,?!") for s in sample_sentences() for w in s.split()})
    rng = random.Random(0)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shards = max(1, round(target_bytes / (ROW_CHARS * ROWS_PER_SHARD)))
    rows = 0
    for shard in range(shards):
        texts = []
        for i in range(ROWS_PER_SHARD):
            doc = " ".join(rng.choices(words, k=ROW_CHARS // 8))
            texts.append(f"{doc[:ROW_CHARS - 12]} ({shard}-{i}).")
        table = pa.table({"id": [f"{shard}-{i}" for i in range(ROWS_PER_SHARD)], "text": texts,
                          "source": ["benchmark"] * ROWS_PER_SHARD})
        pq.write_table(table, folder / "data" / f"train-{shard:05d}-of-{shards:05d}.parquet", compression="none")
        rows += ROWS_PER_SHARD
        print(f"  shard {shard + 1}/{shards}", file=sys.stderr)
    write_provenance(folder, Provenance.create(kind="corpus", name="bench", language=["eu"],
                                               recipe=RecipeInfo(name="benchmark", version="1")))
    return rows


def pyarrow_scan(folder: Path) -> tuple[int, float]:
    start, rows, chars = time.perf_counter(), 0, 0
    for f in sorted((folder / "data").glob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1000, columns=["text"]):
            rows += batch.num_rows
            chars += sum(len(t) for t in batch.column(0).to_pylist())
    return rows, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hubtool-bench-validate"))
    ap.add_argument("--keep", action="store_true", help="Keep the generated corpus.")
    args = ap.parse_args()
    folder = args.workdir / "corpus"
    if not (folder / "hubtool.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {args.gb} GB in {folder}", file=sys.stderr)
        generate(folder, int(args.gb * 1e9))
    size = sum(p.stat().st_size for p in (folder / "data").glob("*.parquet"))

    rows, base_s = pyarrow_scan(folder)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hub_tools.cli", "validate", str(folder), "--json"],
                          capture_output=True, text=True)
    validate_s = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB, max over children
    report = json.loads(proc.stdout)
    result = {
        "corpus_bytes": size, "rows": rows,
        "pyarrow_scan": {"seconds": round(base_s, 2), "rows_per_s": round(rows / base_s)},
        "hubtool_validate": {"seconds": round(validate_s, 2), "rows_per_s": round(rows / validate_s),
                             "exit_code": proc.returncode, "errors": report["errors"], "warnings": report["warnings"],
                             "peak_rss_mib": round(peak_kib / 1024, 1)},
        "validate_vs_scan_throughput_ratio": round((rows / validate_s) / (rows / base_s), 4),
        "peak_rss_under_1gib": peak_kib * 1024 < 1024**3,
    }
    out = ROOT / "benchmarks" / "results" / "validate_large_corpus.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
