"""Benchmark: 50 concurrent voters cast 1,000 arena votes through the demo's Gradio API (loopback), the two
models behind an OpenAI-compatible HTTP endpoint that serves any number of answers at once.

Each simulated voter has its own Gradio session and, per vote, starts a round (/arena_new), plays a battle
(/arena_send: both models stream their answers), reads the two answers and votes (/arena_vote); the vote
latency is that last call over HTTP, as the browser sends it (the browser first sends a quick check of the
choices, not timed here; /arena_vote makes the same checks), and the battle latency the /arena_send call.
Reading time: 2 to 4 s per battle (uniform), far less than people take for two answers of 32 words; the
voters arrive over 4 s (one battle's length). With reading, about a fifth of the voters have a battle
streaming at any moment (`mean_battles_streaming` in the results file, with the reading time and ramp).

Saturation, measured in the same run: the same voters voting the instant a battle ends, all arriving at
once (no reading time): the app's capacity (votes/s) and what a vote costs when the Space has no CPU to
spare. The target (vote p99 < 200 ms) is for the voters who read.

The endpoint: a paced OpenAI-compatible server in this file that streams `tokens` pieces `token_ms` apart
and does no other work: it stands for a server with continuous batching (vLLM, TGI, a hosted model), so
the battle latency measures what the Space adds, not the speed of a model on this CPU.

Baselines, measured in the same run:
- battle: one voter alone playing battles against the same endpoint (what a battle costs without a crowd);
- vote: storing the same number of votes straight into the SQLite vote store (one transaction each) from
  as many threads as voters, the part of a vote that must be durable.
Writes the results JSON (default benchmarks/results/arena_load.json).

    .venv/bin/python benchmarks/arena_load.py [--voters 50] [--votes 1000] [--reading 2 4] [--ramp 4] [--out FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "space", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched
RESULTS = ROOT / "benchmarks" / "results" / "arena_load.json"
TOKENS, TOKEN_MS = 32, 25.0  # an answer of 32 pieces at 40 pieces/s, like one stream of a served 8B model
READING_S, RAMP_S = (2.0, 4.0), 4.0  # seconds a voter reads before judging; seconds over which voters arrive


def paced_endpoint(tokens: int = TOKENS, token_ms: float = TOKEN_MS):
    """An OpenAI-compatible `/v1/chat/completions` (stream) that answers every request concurrently."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    from hub_tools.samples.tiny_models import sample_sentences

    words = " ".join(sample_sentences()[:20]).split()

    async def chat(request: Request):
        body = await request.json()
        n = min(tokens, int(body.get("max_tokens") or tokens))
        start = sum(len(m["content"]) for m in body["messages"]) % len(words)

        async def events():
            for i in range(n):
                await asyncio.sleep(token_ms / 1000)
                chunk = {"choices": [{"index": 0, "delta": {"content": words[(start + i) % len(words)] + " "}}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": "paced", "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])


def direct_store_seconds(path: Path, votes: int, threads: int) -> list[float]:
    from votes import Vote, VoteStore

    store = VoteStore(path)
    conv = [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]

    def one(i: int) -> float:
        t0 = time.perf_counter()
        store.add(Vote(model_a="a", model_b="b", conv_a=conv, conv_b=conv, winner="model_a"))
        return time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(votes)))


def _wait_http(url: str, proc: subprocess.Popen, log: Path, limit_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + limit_s  # a far safety net: a busy machine only makes the start slower
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=5, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: not up after {limit_s} s: {log.read_text()[-2000:]}")


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, *args], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT)


def run(voters: int = 50, votes: int = 1000, out: Path | None = RESULTS,
        reading_s: tuple[float, float] = READING_S, ramp_s: float = RAMP_S) -> dict:
    """Run the benchmark at this size; write the results JSON to ``out`` (None: write nothing); return them.

    Three processes, as in production: the endpoint, the Space (`hubtool space run`), and the voters here.
    """
    import yaml
    from space_helpers import free_port
    from votes import VoteStore

    from hub_tools.serving.space_loadtest import _percentiles, run_load

    solo_votes = max(1, min(20, votes // 10))
    saturation_votes = max(voters, votes // 3)
    load_before = os.getloadavg()[0]  # the machine may be shared: its load is part of the result
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        endpoint_port, space_port = free_port(), free_port()
        endpoint = f"http://127.0.0.1:{endpoint_port}"
        models = [{"name": f"model-{i}", "backend": "openai", "model": f"served-{i}", "base_url": f"{endpoint}/v1"}
                  for i in (1, 2)]
        config = work / "space.yaml"
        config.write_text(yaml.safe_dump({
            "models": models, "max_new_tokens": TOKENS, "votes_db": str(work / "votes.sqlite"),
            "vote_limit": 0,  # every simulated voter shares the loopback address
            "max_concurrent_battles": voters}))
        procs = [_start([str(Path(__file__).resolve()), "--serve-endpoint", str(endpoint_port)], work / "endpoint.log")]
        try:
            _wait_http(f"{endpoint}/v1/models", procs[0], work / "endpoint.log")
            procs.append(_start(["-m", "hub_tools.cli", "space", "run", "--config", str(config), "--port",
                                 str(space_port)], work / "space.log"))
            url = f"http://127.0.0.1:{space_port}/"
            _wait_http(url, procs[1], work / "space.log")
            solo = run_load(url, 1, solo_votes, seed=1)
            crowd = run_load(url, voters, votes, seed=0, reading_s=reading_s, ramp_s=ramp_s)
            saturated = run_load(url, voters, saturation_votes, seed=2)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=60)
        stored = VoteStore(work / "votes.sqlite").count()
        baseline = _percentiles(direct_store_seconds(work / "direct.sqlite", votes, voters))
    expected = solo.acknowledged + crowd.acknowledged + saturated.acknowledged
    result = {
        "voters": voters, "votes": votes, "acknowledged": crowd.acknowledged, "failed": crowd.failed,
        "stored": stored - solo.acknowledged - saturated.acknowledged, "lost": expected - stored,
        "errors": (crowd.errors + saturated.errors)[:5],
        "reading_s": list(reading_s), "ramp_s": ramp_s,
        "vote_latency_ms": crowd.vote_latency_ms, "battle_latency_ms": crowd.battle_latency_ms,
        "vote_p99_target_ms": 200, "vote_p99_within_target": crowd.vote_latency_ms.get("p99", 1e9) < 200,
        "wall_s": crowd.wall_s, "paced_votes_per_s": crowd.votes_per_s,
        "mean_battles_streaming": crowd.mean_battles_streaming,
        "baseline_one_voter_battle_ms": solo.battle_latency_ms, "baseline_one_voter_vote_ms": solo.vote_latency_ms,
        "ratio_battle_p50_crowd_vs_one_voter": round(crowd.battle_latency_ms["p50"] / solo.battle_latency_ms["p50"],
                                                     2),
        "saturated": {"votes": saturation_votes, "acknowledged": saturated.acknowledged, "failed": saturated.failed,
                      "reading_s": [0, 0], "ramp_s": 0, "vote_latency_ms": saturated.vote_latency_ms,
                      "battle_latency_ms": saturated.battle_latency_ms, "votes_per_s": saturated.votes_per_s,
                      "mean_battles_streaming": saturated.mean_battles_streaming},
        "baseline_direct_sqlite_vote_ms": baseline,
        # the direct writes come all at once from as many threads as voters: compared with the saturated crowd
        "ratio_saturated_vote_p50_gradio_vs_direct_sqlite": round(saturated.vote_latency_ms["p50"] / baseline["p50"],
                                                                  1),
        "ratio_saturated_vote_p99_gradio_vs_direct_sqlite": round(saturated.vote_latency_ms["p99"] / baseline["p99"],
                                                                  2),
        "endpoint": f"paced OpenAI-compatible stream: {TOKENS} pieces per answer, {TOKEN_MS:g} ms apart, "
                    "any number of answers at once",
        "processes": "endpoint, Space (`hubtool space run`) and voters in three processes on one machine",
        "machine": f"{os.cpu_count()} cores",
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}, "note": "loopback; SQLite synchronous=FULL (WAL), group commit",
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voters", type=int, default=50)
    ap.add_argument("--votes", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--reading", type=float, nargs=2, default=READING_S, metavar=("MIN", "MAX"),
                    help="seconds each voter reads before voting (default: %(default)s)")
    ap.add_argument("--ramp", type=float, default=RAMP_S, help="seconds over which the voters arrive")
    ap.add_argument("--serve-endpoint", type=int, metavar="PORT", help="only serve the paced endpoint on PORT")
    args = ap.parse_args()
    if args.reading[0] < 0 or args.reading[0] > args.reading[1]:
        ap.error(f"--reading {args.reading[0]:g} {args.reading[1]:g}: give 0 <= MIN <= MAX")
    if args.serve_endpoint:
        import uvicorn

        uvicorn.run(paced_endpoint(), host="127.0.0.1", port=args.serve_endpoint, log_level="warning")
        return
    print(json.dumps(run(args.voters, args.votes, args.out, tuple(args.reading), args.ramp), indent=2))


if __name__ == "__main__":
    main()
