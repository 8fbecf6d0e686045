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
    """The corpus recipe's default pipeline against its previous version (1.0), both run here now."""
    from benchmarks import corpus_throughput

    mb = size["corpus_mb"]
    figures = []
    for workers in size["corpus_workers"]:
        out = corpus_throughput.run(mb, workers, out=None, workdir=work / f"corpus-{workers}")
        prev, cur = out["mb_per_s_per_worker"]["previous"], out["mb_per_s_per_worker"]["current"]
        sizes = {"mb_in": out["corpus"]["mb"], "docs_in": out["corpus"]["docs"], "workers": workers}
        figures.append(Figure("corpus", f"corpus recipe MB/s per worker ({workers} worker{'s' if workers > 1 else ''})",
                              "MB/s", cur, "the previous pipeline (recipe 1.0), same input and workers", prev,
                              round(cur / prev, 3), 1, sizes, ">= 1 MB/s per worker", cur >= 1.0,
                              None if cur >= 1.0 else f"{cur:.2f} MB/s per worker",
                              extra={"mb_per_cpu_second": out["mb_per_cpu_second"],
                                     "time_share_by_step": out["runs"][1].get("time_share_by_step")}))
    return figures


def arena(size: dict, work: Path) -> list[Figure]:
    voters, votes, (read_lo, read_hi), ramp = (size["arena_voters"], size["arena_votes"], size["arena_reading_s"],
                                               size["arena_ramp_s"])
    out = _call("arena_load", {"voters": voters, "votes": votes, "reading_s": (read_lo, read_hi), "ramp_s": ramp},
                ["--voters", str(voters), "--votes", str(votes), "--reading", str(read_lo), str(read_hi), "--ramp",
                 str(ramp)], work)
    sizes = {"voters": voters, "votes": votes, "reading_s": [read_lo, read_hi], "ramp_s": ramp}
    saturated = out["saturated"]
    base = out.get("baseline_direct_sqlite_vote_ms", {})
    paced, sat = out["vote_latency_ms"], saturated["vote_latency_ms"]
    p99, lost = paced["p99"], out.get("lost")
    reading = f"voters reading {read_lo:g}-{read_hi:g} s"
    sat_sizes = {"voters": voters, "votes": saturated["votes"], "reading_s": [0, 0], "ramp_s": 0}
    streaming = {"mean_battles_streaming": out.get("mean_battles_streaming")}
    return [
        Figure("arena", f"arena vote latency p50, {reading}", "ms", paced["p50"], sizes=sizes, extra=streaming),
        Figure("arena", f"arena vote latency p99, {reading}", "ms", p99, sizes=sizes, target="< 200 ms with 0 lost",
               target_met=p99 < 200 and lost == 0,
               missed_by=None if p99 < 200 and lost == 0 else f"p99 {p99:.0f} ms, {lost} lost",
               extra={"lost": lost, "acknowledged": out.get("acknowledged"), "failed": out.get("failed"), **streaming}),
        # saturation: every voter votes the instant its battle ends, all arriving at once; the baseline writes
        # the same number of votes into the store from as many threads at once
        Figure("arena", "arena vote latency p99 at saturation (no reading time)", "ms", sat["p99"],
               "direct SQLite vote p99", base.get("p99"), round(base["p99"] / sat["p99"], 4) if base.get("p99") else None,
               1, sat_sizes, extra={"p50": sat["p50"], "baseline_p50": base.get("p50"),
                                    "mean_battles_streaming": saturated.get("mean_battles_streaming")}),
        Figure("arena", "arena votes/s at saturation", "votes/s", saturated["votes_per_s"], sizes=sat_sizes),
    ]
