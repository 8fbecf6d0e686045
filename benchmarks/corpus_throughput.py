"""Benchmark: the corpus recipe's previous pipeline (1.0, frozen in benchmarks/_corpus_legacy.py) and the
current one, on the same generated corpus, in the same run.

Reports for each: MB/s and docs/s per worker (wall clock), MB per CPU second (this process and its
children: other load on a shared machine does not count), the share of time per step (datatrove's
per-step timers), stage wall times and rows out; and the ratios current/previous. Writes
benchmarks/results/corpus_throughput.json (or ``out``).

    .venv/bin/python benchmarks/corpus_throughput.py [--mb 200] [--workers 1] [--out FILE]

``run(size_mb, workers, out)`` is the entry point for the benchmark runner.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "corpus_throughput.json"


def generate(folder: Path, target_mb: float) -> tuple[int, int]:
    """Basque documents from the project's sentences, 5% Spanish, 3% exact copies; 4 jsonl.gz shards
    (the corpus of the 1.0 benchmark)."""
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


def _corpus(workdir: Path, size_mb: float) -> tuple[Path, int, int]:
    src = workdir / f"raw-{size_mb:g}mb"
    meta = src / "meta.json"
    if meta.is_file():
        m = json.loads(meta.read_text())
        return src, m["docs"], m["bytes"]
    shutil.rmtree(src, ignore_errors=True)
    docs, raw = generate(src, size_mb)
    meta.write_text(json.dumps({"docs": docs, "bytes": raw}))
    return src, docs, raw


def _config(workdir: Path, src: Path, name: str) -> Path:
    cfg = yaml.safe_load((ROOT / "recipes/configs/corpus/tiny.yaml").read_text())
    cfg.update(sources=[{"name": "bench", "path": str(src), "glob": "*.jsonl.gz", "license": "cc0-1.0"}],
               output=str(workdir / f"out-{name}"), executor={"type": "local", "tasks": 4, "workers": 1})
    path = workdir / f"bench-{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children: on a shared machine wall time also counts
    other people's work, CPU time does not."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measure(name: str, cfg_path: Path, workers: int, docs: int, raw: int, stage_builder=None) -> dict:
    from recipes.corpus.config import load_config
    from recipes.corpus.pipeline import run_corpus

    load = os.getloadavg()[0]
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    result = run_corpus(load_config(cfg_path), workers=workers, stage_builder=stage_builder)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    timed = [s for s in result.steps if s["seconds"]]
    total = sum(s["seconds"] for s in timed) or 1
    shutil.rmtree(result.output, ignore_errors=True)
    shutil.rmtree(result.output.with_name(result.output.name + ".work"), ignore_errors=True)
    return {
        "pipeline": name, "workers": workers, "wall_seconds": round(wall, 1), "rows_out": result.rows,
        "docs_per_s_per_worker": round(docs / wall / workers), "mb_per_s_per_worker": round(raw / 1e6 / wall / workers, 3),
        "cpu_seconds": round(cpu, 1), "mb_per_cpu_second": round(raw / 1e6 / cpu, 3),
        "stage_seconds": result.stage_times, "load_average_at_start": round(load, 2),
        "time_share_by_step": {f"{s['stage']}: {s['step']}": round(s["seconds"] / total, 4) for s in timed},
    }


def run(size_mb: float, workers: int, out: Path | None = None, workdir: Path | None = None) -> dict:
    """Measure the previous and the current pipeline on a generated corpus of ``size_mb`` MB with
    ``workers`` processes each; write the results JSON to ``out`` (a file, or a folder to hold
    corpus_throughput.json) and return them."""
    from loguru import logger

    from benchmarks._corpus_legacy import build_legacy_stages

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    workdir = Path(workdir or os.environ.get("HUBTOOL_BENCH_DIR", "/tmp/hubtool-bench-corpus"))
    src, docs, raw = _corpus(workdir, size_mb)
    t0 = time.perf_counter()
    previous = _measure("previous (recipe 1.0)", _config(workdir, src, "previous"), workers, docs, raw,
                        stage_builder=build_legacy_stages)
    current = _measure("current (recipe 2.0)", _config(workdir, src, "current"), workers, docs, raw)
    results = {
        "corpus": {"docs": docs, "mb": round(raw / 1e6, 1), "generator": "benchmarks/corpus_throughput.py:generate"},
        "workers": workers, "cpu_count": os.cpu_count(),
        "peak_rss_mib_of_this_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runs": [previous, current],
        "mb_per_s_per_worker": {"previous": previous["mb_per_s_per_worker"], "current": current["mb_per_s_per_worker"]},
        "speedup_current_vs_previous": round(current["mb_per_s_per_worker"] / previous["mb_per_s_per_worker"], 2),
        "mb_per_cpu_second": {"previous": previous["mb_per_cpu_second"], "current": current["mb_per_cpu_second"]},
        "cpu_speedup_current_vs_previous": round(current["mb_per_cpu_second"] / previous["mb_per_cpu_second"], 2),
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    if out is None:  # the runner keeps the figures in its own results file
        return results
    out = Path(out)
    target = out / RESULTS.name if out.is_dir() or not out.suffix else out
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    print(json.dumps(run(args.mb, args.workers, args.out, args.workdir), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
