"""Benchmarks owned by other modules, run at the runner's size: the corpus recipe and the arena under load.

Each module exposes ``run(...) -> dict`` (``corpus_throughput.run(size_mb, workers, out)``,
``arena_load.run(voters, votes, out)``); a module that only has a command line is run as a script with
its results file put back afterwards, so a quick run never overwrites committed full-size results.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from benchmarks._common import ROOT, Figure


def _call(module: str, kwargs: dict, argv: list[str], work: Path) -> dict:
    mod = importlib.import_module(f"benchmarks.{module}")
    if hasattr(mod, "run"):
        return mod.run(**kwargs, out=None)
    results = ROOT / "benchmarks" / "results" / f"{module}.json"
    saved = results.read_bytes() if results.exists() else None
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{module}.py"), *argv], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"benchmarks/{module}.py {' '.join(argv)} failed ({proc.returncode}):\n"
                               f"{proc.stderr[-2000:]}")
        return json.loads(results.read_text())
    finally:
        if saved is not None:
            results.write_bytes(saved)
        else:
            results.unlink(missing_ok=True)


def corpus(size: dict, work: Path) -> list[Figure]:
    mb, workers = size["corpus_mb"], size["corpus_workers"]
    out = _call("corpus_throughput", {"size_mb": mb, "workers": workers},
                ["--mb", str(mb), "--workers", *map(str, workers), "--workdir", str(work / "corpus")], work)
    figures = []
    for r in out["runs"]:
        figures.append(Figure("corpus", f"corpus recipe MB/s per worker ({r['workers']} worker"
                              f"{'s' if r['workers'] > 1 else ''})", "MB/s", r["mb_per_s_per_worker"],
                              "the same recipe with 1 worker" if r["workers"] > 1 else None,
                              out["runs"][0]["mb_per_s_per_worker"] if r["workers"] > 1 else None,
                              round(r["mb_per_s_per_worker"] / out["runs"][0]["mb_per_s_per_worker"], 3)
                              if r["workers"] > 1 else None, 1,
                              {"mb_in": r.get("mb_in", mb), "docs_in": r.get("docs_in"), "workers": r["workers"]},
                              extra={k: r[k] for k in ("wall_seconds", "docs_per_s", "mb_per_s") if k in r}))
    return figures


def arena(size: dict, work: Path) -> list[Figure]:
    voters, votes = size["arena_voters"], size["arena_votes"]
    out = _call("arena_load", {"voters": voters, "votes": votes}, ["--voters", str(voters), "--votes", str(votes)],
                work)
    sizes = {"voters": voters, "votes": votes}
    base = out.get("baseline_direct_sqlite_vote_ms", {})
    p99 = out["vote_latency_ms"]["p99"]
    lost = out.get("lost")
    return [
        Figure("arena", "arena vote latency p50", "ms", out["vote_latency_ms"]["p50"], "direct SQLite vote p50",
               base.get("p50"), round(base["p50"] / out["vote_latency_ms"]["p50"], 4) if base.get("p50") else None,
               1, sizes),
        Figure("arena", "arena vote latency p99", "ms", p99, "direct SQLite vote p99", base.get("p99"),
               round(base["p99"] / p99, 4) if base.get("p99") else None, 1, sizes, "< 200 ms with 0 lost",
               p99 < 200 and lost == 0, None if p99 < 200 and lost == 0 else f"p99 {p99:.0f} ms, {lost} lost",
               {"lost": lost, "acknowledged": out.get("acknowledged"), "failed": out.get("failed")}),
        Figure("arena", "arena votes/s", "votes/s", out["votes_per_s"], None, None, None, 1, sizes),
    ]
