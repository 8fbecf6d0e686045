"""Benchmark: `hubtool diff` rows/s on two versions of a parquet dataset, against reading the same two
versions with pyarrow, in the same run and on the same files.

Version 2 drops 1% of version 1's rows and adds 1% new ones. Three measurements, each in a child
process that reports its own peak RSS (VmHWM):
- baseline: pyarrow reads every batch of both versions (all columns), nothing else;
- hubtool diff with the default memory budget (row hashes in memory);
- hubtool diff with a 4 MiB budget (row hashes partitioned to disk).
Each is the best of two runs. rows/s counts the rows of both versions. Results: benchmarks/results/diff_rows.json.

    .venv/bin/python benchmarks/diff_rows.py [--rows 1000000] [--workdir /tmp/htbench-diff]
``run(size, out)``: ``size`` rows per version, ``out`` a scratch folder for the generated versions.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS_PER_SHARD = 100_000
SMALL_BUDGET = 4 << 20
REPEATS = 2  # each measurement's best of two (the machine is shared; the files are in the page cache)

_BASELINE = """
import json, sys, time
def _hwm():  # this process's peak RSS (KiB); getrusage's ru_maxrss would include the parent's, inherited at fork
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
from pathlib import Path
import pyarrow.parquet as pq
start, rows = time.perf_counter(), 0
for version in sys.argv[1:]:
    for f in sorted((Path(version) / "data").glob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=8192):
            rows += batch.num_rows
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows,
                  "peak_rss_kib": _hwm()}))
"""
_DIFF = """
import json, sys, time
def _hwm():  # this process's peak RSS (KiB); getrusage's ru_maxrss would include the parent's, inherited at fork
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
from hub_tools.publish.diff import compare_artifact
from hub_tools.publish.diff.sides import local_side
old, new, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
d = compare_artifact("bench", local_side(old), local_side(new), budget_bytes=budget, show_rows=10)
print(json.dumps({"seconds": time.perf_counter() - start, "rows_total": d.rows_total.model_dump(),
                  "spilled": d.memory.spilled, "peak_hash_bytes": d.memory.peak_hash_bytes,
                  "peak_rss_kib": _hwm()}))
"""


def generate(out: Path, rows: int) -> tuple[Path, Path, dict]:
    """Two versions of a corpus: v2 = v1 minus 1% of its rows plus 1% new rows. Returns (v1, v2, truth)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance
    from hub_tools.samples.tiny_models import sample_sentences

    words = sorted({w.strip(".,?!") for s in sample_sentences() for w in s.split()})
    rng = random.Random(0)
    dropped = set(rng.sample(range(rows), rows // 100))
    added = rows // 100
    for version in ("v1", "v2"):
        folder = out / version
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "data").mkdir(parents=True)
        write_provenance(folder, Provenance.create(kind="corpus", name="bench", language=["eu"],
                                                   recipe=RecipeInfo(name="benchmark", version="1")))
    doc_rng = random.Random(1)
    buffers: dict[str, list[dict]] = {"v1": [], "v2": []}
    shards = {"v1": 0, "v2": 0}

    def flush(version: str, final: bool = False) -> None:
        if buffers[version] and (final or len(buffers[version]) >= ROWS_PER_SHARD):
            pq.write_table(pa.Table.from_pylist(buffers[version]),
                           out / version / "data" / f"train-{shards[version]:05d}.parquet")
            shards[version] += 1
            buffers[version] = []

    for i in range(rows + added):
        row = {"id": f"doc-{i}", "text": " ".join(doc_rng.choices(words, k=30)), "source": f"s{i % 4}"}
        if i < rows:
            buffers["v1"].append(row)
        if i >= rows or i not in dropped:
            buffers["v2"].append(row)
        flush("v1")
        flush("v2")
    flush("v1", True)
    flush("v2", True)
    for version in ("v1", "v2"):  # the layout's file names: train-NNNNN-of-NNNNN.parquet
        files = sorted((out / version / "data").glob("*.parquet"))
        for k, f in enumerate(files):
            f.rename(f.with_name(f"train-{k:05d}-of-{len(files):05d}.parquet"))
    return out / "v1", out / "v2", {"old_rows": rows, "new_rows": rows - len(dropped) + added,
                                    "added": added, "removed": len(dropped), "kept": rows - len(dropped)}


def _child(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(size: int, out: Path) -> dict:
    out = Path(out)
    v1, v2, truth = generate(out, size)
    base = min((_child(_BASELINE, str(v1), str(v2)) for _ in range(REPEATS)), key=lambda r: r["seconds"])
    both = truth["old_rows"] + truth["new_rows"]
    load_before = [round(x, 2) for x in os.getloadavg()]  # a shared machine: say how busy it was
    result = {"rows_per_version": size, "rows_read": both, "truth": truth,
              "pyarrow_read": {"seconds": round(base["seconds"], 3), "rows_per_s": round(both / base["seconds"]),
                               "peak_rss_mib": round(base["peak_rss_kib"] / 1024, 1)}}
    for label, budget in (("hubtool_diff", 256 << 20), ("hubtool_diff_4mib_budget", SMALL_BUDGET)):
        d = min((_child(_DIFF, str(v1), str(v2), str(budget)) for _ in range(REPEATS)), key=lambda r: r["seconds"])
        counts = {k: v for k, v in d["rows_total"].items() if k not in ("config", "split")}
        result[label] = {"seconds": round(d["seconds"], 3), "rows_per_s": round(both / d["seconds"]),
                         "vs_pyarrow_read": round(base["seconds"] / d["seconds"], 4), "budget_bytes": budget,
                         "spilled": d["spilled"], "peak_hash_bytes": d["peak_hash_bytes"],
                         "peak_rss_mib": round(d["peak_rss_kib"] / 1024, 1), "counts_correct": counts == truth}
    result["machine"] = {"cpus": os.cpu_count(), "load_average_1_5_15_before": load_before,
                         "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hubtool-bench-diff"))
    args = ap.parse_args()
    result = run(args.rows, args.workdir)
    path = ROOT / "benchmarks" / "results" / "diff_rows.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
