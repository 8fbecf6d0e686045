"""A load test of the arena through its public Gradio API: simulated voters, each with its own session,
play battles (/arena_send) and vote (/arena_vote) concurrently. Used by `hubtool space loadtest`, the
benchmark (benchmarks/arena_load.py) and the tests; loopback or any URL you own.
"""
from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

CHOICES = ("A is better", "B is better", "Tie", "Both are bad")
PROMPTS = ("Zer da euskara?", "Idatzi olerki labur bat itsasoari buruz.", "Nola egiten da tortilla?",
           "Azaldu fotosintesia hitz gutxitan.", "Zein da Euskal Herriko mendirik altuena?")


@dataclass
class LoadResult:
    voters: int
    votes_asked: int
    acknowledged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    vote_latency_ms: dict[str, float] = field(default_factory=dict)
    battle_latency_ms: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    votes_per_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": round(ordered[-1] * 1000, 2),
            "mean": round(statistics.fmean(ordered) * 1000, 2)}


def run_load(url: str, voters: int = 50, votes: int = 1000, seed: int = 0, progress=None) -> LoadResult:
    """``votes`` votes split over ``voters`` concurrent sessions; every vote follows its own battle."""
    from gradio_client import Client

    result = LoadResult(voters=voters, votes_asked=votes)
    vote_times: list[float] = []
    battle_times: list[float] = []
    lock = threading.Lock()
    share = [votes // voters + (1 if i < votes % voters else 0) for i in range(voters)]

    def voter(index: int) -> None:
        rng = random.Random(seed * 10_007 + index)
        client = Client(url, verbose=False, download_files=False)
        for _ in range(share[index]):
            try:
                t0 = time.perf_counter()
                client.predict(rng.choice(PROMPTS), api_name="/arena_send")
                t1 = time.perf_counter()
                client.predict(rng.choice(CHOICES), rng.choice(CHOICES), rng.choice(CHOICES), True, "", "",
                               api_name="/arena_vote")
                t2 = time.perf_counter()
            except Exception as err:  # counted, never hidden: a lost vote is what this test looks for
                with lock:
                    result.failed += 1
                    if len(result.errors) < 20:
                        result.errors.append(f"{type(err).__name__}: {err}"[:300])
                continue
            with lock:
                result.acknowledged += 1
                battle_times.append(t1 - t0)
                vote_times.append(t2 - t1)
                if progress:
                    progress(1)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=voters) as pool:
        for future in [pool.submit(voter, i) for i in range(voters)]:
            future.result()
    result.wall_s = round(time.perf_counter() - start, 2)
    result.votes_per_s = round(result.acknowledged / result.wall_s, 2) if result.wall_s else 0.0
    result.vote_latency_ms = _percentiles(vote_times)
    result.battle_latency_ms = _percentiles(battle_times)
    return result
