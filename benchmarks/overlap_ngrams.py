"""Benchmark: the overlap check's MB/s of training text, against a plain Python set-of-tuples check, in the
same run, on the same files, with the peak memory of each.

Training data: a parquet corpus of ~1 kB documents (``size`` MB of text). Evaluation set: 2,000 items
of 30 words, 100 of them copied into training documents (in upper case). Both checks use 13-grams of
the same normalisation and must find the same 100 items:
- baseline: the evaluation items' 13-grams as a Python set of word tuples; every training document
  normalised with ``unicodedata``/``re``, split, and each of its 13-gram tuples looked up;
- hubtool: hub_tools.validate.overlap (64-bit hashes, arrays, one batch of rows at a time).
Each runs in a child process that reports its own peak RSS (VmHWM). Results:
benchmarks/results/overlap_ngrams.json.

    .venv/bin/python benchmarks/overlap_ngrams.py [--mb 100] [--workdir /tmp/htbench-overlap]
``run(size, out)``: ``size`` MB of training text, ``out`` a scratch folder for the generated data.
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
N = 13
ITEMS, PLANTED, ITEM_WORDS = 2000, 100, 30
ROWS_PER_SHARD = 50_000
REPEATS = 2

_BASELINE = """
import json, re, sys, time, unicodedata
def _hwm():  # this process's peak RSS (KiB); getrusage's ru_maxrss would include the parent's, inherited at fork
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
from pathlib import Path
import pyarrow.parquet as pq
n = int(sys.argv[3])
punct = re.compile(r"[^\\w\\s]+")
def words(t):
    return punct.sub(" ", unicodedata.normalize("NFKC", t).lower()).split()
items = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
index = {}
for it in items:
    w = words(it["question"])
    for i in range(len(w) - n + 1):
        index.setdefault(tuple(w[i:i + n]), set()).add(it["id"])
start, nbytes, found = time.perf_counter(), 0, set()
for f in sorted((Path(sys.argv[1]) / "data").glob("*.parquet")):
    for batch in pq.ParquetFile(f).iter_batches(batch_size=4096, columns=["text"]):
        for t in batch.column(0).to_pylist():
            nbytes += len(t.encode())
            w = words(t)
            for i in range(len(w) - n + 1):
                hit = index.get(tuple(w[i:i + n]))
                if hit:
                    found |= hit
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": nbytes, "found": sorted(found),
                  "peak_rss_kib": _hwm()}))
"""
_HUBTOOL = """
import json, sys, time
def _hwm():  # this process's peak RSS (KiB); getrusage's ru_maxrss would include the parent's, inherited at fork
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
from pathlib import Path
from hub_tools.validate.overlap import build_index, read_eval_set, scan_artifact
n = int(sys.argv[3])
ids, texts = read_eval_set("bench", Path(sys.argv[2]))
index = build_index([("bench", ids, texts)], n)
nbytes = [0]
start = time.perf_counter()
hits = scan_artifact(Path(sys.argv[1]), "corpus", index, n, on_bytes=lambda b: nbytes.__setitem__(0, nbytes[0] + b))
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": nbytes[0],
                  "found": sorted(ids[i] for _, i in hits),
                  "peak_rss_kib": _hwm()}))
"""


def generate(out: Path, mb: float) -> tuple[Path, Path, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance
    from hub_tools.samples.tiny_models import sample_sentences

    # a larger vocabulary than the samples': random 13-grams of real text then almost never repeat
    base = sorted({w.strip(".,?!").lower() for s in sample_sentences() for w in s.split()})
    rng = random.Random(0)
    vocab = [f"{w}{rng.choice(['', 'a', 'ak', 'en', 'ko', 'ri', 'tik'])}" for w in base for _ in range(6)]
    items = [{"id": f"item-{i}", "question": " ".join(rng.choices(vocab, k=ITEM_WORDS)) + "?"} for i in range(ITEMS)]
    planted = sorted(rng.sample(range(ITEMS), PLANTED))
    shutil.rmtree(out, ignore_errors=True)
    (out / "corpus" / "data").mkdir(parents=True)
    (out / "eval.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    target, written, shard, rows = int(mb * 1e6), 0, 0, []
    sample = random.Random(2)
    doc_bytes = sum(len(" ".join(sample.choices(vocab, k=140)).encode()) for _ in range(200)) / 200
    step = max(1, int(target / doc_bytes / (PLANTED + 1)))  # spread over the whole corpus
    plant_at = {k * step: p for k, p in enumerate(planted)}
    written_ids = []
    i = 0
    while written < target:
        text = " ".join(rng.choices(vocab, k=140))
        if i in plant_at:
            text = f"{text[:300]} {items[plant_at[i]]['question'].upper()} {text[300:]}"
            written_ids.append(items[plant_at[i]]["id"])
        rows.append({"id": f"doc-{i}", "text": text})
        written += len(text.encode())
        i += 1
        if len(rows) >= ROWS_PER_SHARD or written >= target:
            pq.write_table(pa.Table.from_pylist(rows), out / "corpus" / "data" / f"train-{shard:05d}.parquet")
            shard, rows = shard + 1, []
    files = sorted((out / "corpus" / "data").glob("*.parquet"))
    for k, f in enumerate(files):
        f.rename(f.with_name(f"train-{k:05d}-of-{len(files):05d}.parquet"))
    write_provenance(out / "corpus", Provenance.create(kind="corpus", name="bench", language=["eu"],
                                                      recipe=RecipeInfo(name="benchmark", version="1")))
    return out / "corpus", out / "eval.jsonl", sorted(written_ids)


def _child(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(size: float, out: Path) -> dict:
    corpus, evalset, planted = generate(Path(out), size)
    load_before = [round(x, 2) for x in os.getloadavg()]  # a shared machine: say how busy it was
    result: dict = {"training_mb": None, "n": N, "evaluation_items": ITEMS, "planted": len(planted)}
    for label, code in (("python_set_of_tuples", _BASELINE), ("hubtool_overlap", _HUBTOOL)):
        r = min((_child(code, str(corpus), str(evalset), str(N)) for _ in range(REPEATS)), key=lambda r: r["seconds"])
        result["training_mb"] = round(r["bytes"] / 1e6, 2)
        result[label] = {"seconds": round(r["seconds"], 3), "mb_per_s": round(r["bytes"] / 1e6 / r["seconds"], 2),
                         "peak_rss_mib": round(r["peak_rss_kib"] / 1024, 1), "found": len(r["found"]),
                         "found_the_planted_items": sorted(r["found"]) == planted}
    result["hubtool_vs_baseline_mb_per_s"] = round(result["hubtool_overlap"]["mb_per_s"]
                                                   / result["python_set_of_tuples"]["mb_per_s"], 3)
    result["machine"] = {"cpus": os.cpu_count(), "load_average_1_5_15_before": load_before,
                         "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hubtool-bench-overlap"))
    args = ap.parse_args()
    result = run(args.mb, args.workdir)
    path = ROOT / "benchmarks" / "results" / "overlap_ngrams.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
