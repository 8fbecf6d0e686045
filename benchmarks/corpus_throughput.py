"""Benchmark: the corpus recipe on a generated corpus of >= 200 MB.

Reports docs/s and MB/s per worker for 1 and 2 workers (same config, same 4 tasks), and the share of
time per step (from datatrove's per-step timers). Writes benchmarks/results/corpus_throughput.json.

    .venv/bin/python benchmarks/corpus_throughput.py [--mb 200] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate(folder: Path, target_mb: float) -> tuple[int, int]:
    """Basque documents from the project's sentences, 5% Spanish, 3% exact copies; 4 jsonl.gz shards."""
    from hub_tools.samples.tiny_models import sample_sentences
    from recipes.corpus.make_sample import SPANISH

    rng = random.Random(0)
    eu = sample_sentences()
    folder.mkdir(parents=True, exist_ok=True)
    docs = raw = 0
    shards = [gzip.open(folder / f"part-{i}.jsonl.gz", "wt", encoding="utf-8") for i in range(4)]
    recent: list[str] = []
    while raw < target_mb * 1e6:
        r = rng.random()
        if r < 0.05:
            text = " ".join(rng.choices(SPANISH, k=8))
        elif r < 0.08 and recent:
            text = rng.choice(recent)
        else:
            text = " ".join(rng.sample(eu, 12)) + f" ({docs})"
            recent = (recent + [text])[-1000:]
        line = json.dumps({"id": f"d{docs}", "text": text}, ensure_ascii=False)
        shards[docs % 4].write(line + "\n")
        docs += 1
        raw += len(line.encode()) + 1
    for f in shards:
        f.close()
    return docs, raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hubtool-bench-corpus"))
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    from recipes.corpus.config import load_config
    from recipes.corpus.pipeline import run_corpus

    src = args.workdir / "raw"
    if not src.exists():
        print(f"generating {args.mb} MB in {src}", file=sys.stderr)
        docs, raw = generate(src, args.mb)
    else:
        docs = sum(1 for f in src.glob("*.jsonl.gz") for _ in gzip.open(f, "rt"))
        raw = sum(len(line.encode()) for f in src.glob("*.jsonl.gz") for line in gzip.open(f, "rt"))
    cfg = yaml.safe_load((ROOT / "recipes/configs/corpus/tiny.yaml").read_text())
    cfg.update(sources=[{"name": "bench", "path": str(src), "glob": "*.jsonl.gz"}],
               output=str(args.workdir / "out"), executor={"type": "local", "tasks": 4, "workers": 1})
    cfg_path = args.workdir / "bench.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    runs = []
    for workers in args.workers:
        t0 = time.perf_counter()
        result = run_corpus(load_config(cfg_path), workers=workers)
        wall = time.perf_counter() - t0
        timed = [s for s in result.steps if s["seconds"]]
        total = sum(s["seconds"] for s in timed) or 1
        runs.append({
            "workers": workers, "wall_seconds": round(wall, 1), "docs_in": docs, "mb_in": round(raw / 1e6, 1),
            "rows_out": result.rows, "docs_per_s": round(docs / wall), "mb_per_s": round(raw / 1e6 / wall, 3),
            "docs_per_s_per_worker": round(docs / wall / workers), "mb_per_s_per_worker": round(raw / 1e6 / wall / workers, 3),
            "stage_seconds": result.stage_times,
            "time_share_by_step": {f"{s['stage']}: {s['step']}": round(s["seconds"] / total, 4) for s in timed},
        })
        print(json.dumps(runs[-1], indent=2, ensure_ascii=False), file=sys.stderr)
    out = {"generated_corpus": {"docs": docs, "mb": round(raw / 1e6, 1)}, "runs": runs}
    if len(runs) >= 2:
        out["speedup_2_vs_1_workers"] = round(runs[0]["wall_seconds"] / runs[1]["wall_seconds"], 3)
    path = ROOT / "benchmarks" / "results" / "corpus_throughput.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=2, ensure_ascii=False))
    shutil.rmtree(args.workdir / "out", ignore_errors=True)
    shutil.rmtree(args.workdir / "out.work", ignore_errors=True)


if __name__ == "__main__":
    main()
