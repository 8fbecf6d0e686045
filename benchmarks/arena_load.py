"""Benchmark: 50 concurrent voters cast 1,000 arena votes through the demo's Gradio API (loopback).

Each simulated voter has its own Gradio session and, per vote, first plays a battle (/arena_send, two tiny
models answer) and then votes (/arena_vote); the vote latency is the second call, end to end through
Gradio's queue. Baseline, measured in the same run: storing the same number of votes directly in the
SQLite vote store (one transaction each) from the same number of threads — the part of a vote that
must be durable. Writes benchmarks/results/arena_load.json.

    .venv/bin/python benchmarks/arena_load.py [--voters 50] [--votes 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "space"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models are local folders; nothing is fetched


def direct_store_seconds(path: Path, votes: int, threads: int) -> list[float]:
    from votes import Vote, VoteStore

    store = VoteStore(path)
    conv = [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]

    def one(i: int) -> float:
        t0 = time.perf_counter()
        store.add(Vote(model_a="a", model_b="b", conv_a=conv, conv_b=conv, winner="model_a", id=f"v{i}"))
        return time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(votes)))


def main() -> None:
    from app import create_demo
    from settings import parse_settings
    from space_helpers import serving

    from hub_tools.serving.space_loadtest import _percentiles, run_load
    from hub_tools.samples.tiny_models import save_tiny_adapter, save_tiny_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=50)
    ap.add_argument("--votes", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = save_tiny_model(work / "base")
        models = [{"name": f"variant-{seed}", "model": str(base),
                   "adapter": str(save_tiny_adapter(base, work / f"ad{seed}", "local/base", seed=seed))}
                  for seed in (1, 2)]
        settings = parse_settings({"models": models, "max_new_tokens": 2, "votes_db": str(work / "votes.sqlite")})
        demo = create_demo(settings, seed=0)
        with serving(demo) as url:
            result = run_load(url, args.voters, args.votes, seed=0)
        stored = demo.hubtool.store.count()
        baseline = _percentiles(direct_store_seconds(work / "direct.sqlite", args.votes, args.voters))
    out = {
        "voters": args.voters, "votes": args.votes, "acknowledged": result.acknowledged, "stored": stored,
        "lost": result.acknowledged - stored, "failed": result.failed,
        "vote_latency_ms": result.vote_latency_ms, "battle_latency_ms": result.battle_latency_ms,
        "wall_s": result.wall_s, "votes_per_s": result.votes_per_s,
        "baseline_direct_sqlite_vote_ms": baseline,
        "ratio_p50_gradio_vs_direct_sqlite": round(result.vote_latency_ms["p50"] / baseline["p50"], 1),
        "ratio_p99_gradio_vs_direct_sqlite": round(result.vote_latency_ms["p99"] / baseline["p99"], 1),
        "machine": f"{os.cpu_count()} cores", "note": "tiny 2-layer models, 2 new tokens per answer, loopback",
    }
    target = ROOT / "benchmarks" / "results" / "arena_load.json"
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
