"""A load test of the arena through its public Gradio API: simulated voters, each with its own session,
start a round (/arena_new), play a battle (/arena_send) and vote (/arena_vote) concurrently. Used by
`hubtool space loadtest`, the benchmark (benchmarks/arena_load.py) and the tests; loopback or any URL you own.

Each voter speaks Gradio's protocol itself, as the browser does: queued endpoints through POST queue/join,
then the session's event stream until the event completes (as gradio_client does, but without its 50 ms
polling of a message queue, so the latencies reported are the app's, not the client's); endpoints the app
answers outside the queue (queue=False) through one POST to run/<api_name>. The work is bounded (votes x one battle each);
timeouts are only a far safety net (`timeout_s` per request), so a slow, busy machine makes the run
longer, never a failure. The arena's vote limit counts every
anonymous vote from one address: run it against a Space whose `vote_limit` is 0 (or high enough).
"""
from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
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
    reading_s: tuple[float, float] = (0.0, 0.0)
    ramp_s: float = 0.0
    mean_battles_streaming: float = 0.0  # battles being answered at once, on average over the run

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


class GradioSession:
    """One browser-like session of a Gradio app: named endpoints called over the queue protocol (sse_v3)."""

    def __init__(self, url: str, timeout_s: float = 600.0, config: dict | None = None):
        import httpx

        self.http = httpx.Client(timeout=timeout_s, trust_env=False)
        self.session_hash = uuid.uuid4().hex[:12]
        root = url.rstrip("/")
        config = config or self.http.get(f"{root}/config").raise_for_status().json()
        prefix = config.get("api_prefix", "/gradio_api")
        self.join_url, self.data_url = f"{root}{prefix}/queue/join", f"{root}{prefix}/queue/data"
        self.run_url = f"{root}{prefix}/run"
        states = {c["id"] for c in config["components"] if c.get("type") == "state"}
        self.endpoints = {d["api_name"]: (d["id"], [i in states for i in d["inputs"]], d.get("queue", True) is not False)
                          for d in config["dependencies"] if d.get("api_name") and d.get("api_visibility") != "private"}

    @classmethod
    def config_of(cls, url: str, timeout_s: float = 600.0) -> dict:
        import httpx

        return httpx.get(f"{url.rstrip('/')}/config", timeout=timeout_s, trust_env=False).raise_for_status().json()

    def call(self, api_name: str, *args):
        """The endpoint's outputs (a list), or RuntimeError with the app's message."""
        fn_index, is_state, queued = self.endpoints[api_name.lstrip("/")]
        given = iter(args)
        data = [None if state else next(given) for state in is_state]
        payload = {"data": data, "fn_index": fn_index, "event_data": None, "session_hash": self.session_hash,
                   "trigger_id": None}
        if not queued:  # the app answers it on the request itself (queue=False), as the browser calls it
            answer = self.http.post(f"{self.run_url}/{api_name.lstrip('/')}", json=payload)
            try:
                body = answer.json()
            except ValueError:
                body = {}
            if answer.status_code != 200:
                raise RuntimeError(body.get("error") or f"{api_name}: HTTP {answer.status_code}")
            return body.get("data")
        joined = self.http.post(self.join_url, json=payload)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", self.data_url, params={"session_hash": self.session_hash}) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if not message.get("success"):
                        raise RuntimeError(output.get("error") or "the app raised an error")
                    return output.get("data")
        raise RuntimeError(f"{api_name}: the event stream ended before the event completed")

    def close(self) -> None:
        self.http.close()


def run_load(url: str, voters: int = 50, votes: int = 1000, seed: int = 0, progress=None,
             timeout_s: float = 600.0, reading_s: tuple[float, float] = (0.0, 0.0),
             ramp_s: float = 0.0) -> LoadResult:
    """``votes`` votes split over ``voters`` concurrent sessions; every vote follows its own battle.

    ``reading_s``: each voter reads the two answers for a time drawn uniformly from this range before voting
    (people do; (0, 0) votes at once and measures the app saturated). ``ramp_s``: the voters arrive one
    after another over this many seconds instead of all at the same instant. The vote latency never
    includes the reading time.
    """
    result = LoadResult(voters=voters, votes_asked=votes, reading_s=tuple(reading_s), ramp_s=ramp_s)
    vote_times: list[float] = []
    battle_times: list[float] = []
    lock = threading.Lock()
    share = [votes // voters + (1 if i < votes % voters else 0) for i in range(voters)]

    def voter(index: int) -> None:
        rng = random.Random(seed * 10_007 + index)
        time.sleep(ramp_s * index / voters)  # voters arrive one after another over the ramp
        try:
            client = GradioSession(url, timeout_s, config)
        except Exception as err:  # the voter never got in: all its votes are lost, and counted so
            with lock:
                result.failed += share[index]
                result.errors.append(f"voter {index}: {type(err).__name__}: {err}"[:300])
            return
        for _ in range(share[index]):
            try:
                client.call("arena_new")
                t0 = time.perf_counter()
                client.call("arena_send", rng.choice(PROMPTS))
                t1 = time.perf_counter()
                time.sleep(rng.uniform(*reading_s))  # the voter reads both answers before judging them
                t_vote = time.perf_counter()
                # overall is only read when content and language disagree
                client.call("arena_vote", rng.choice(CHOICES), rng.choice(CHOICES), rng.choice(CHOICES), True,
                            None, None)
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
                vote_times.append(t2 - t_vote)
                if progress:
                    progress(1)
        client.close()

    config = GradioSession.config_of(url, timeout_s)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=voters) as pool:
        for future in [pool.submit(voter, i) for i in range(voters)]:
            future.result()
    result.wall_s = round(time.perf_counter() - start, 2)
    result.mean_battles_streaming = round(sum(battle_times) / result.wall_s, 2) if result.wall_s else 0.0
    result.votes_per_s = round(result.acknowledged / result.wall_s, 2) if result.wall_s else 0.0
    result.vote_latency_ms = _percentiles(vote_times)
    result.battle_latency_ms = _percentiles(battle_times)
    return result
