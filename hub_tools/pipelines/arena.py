"""A short arena round with scripted voters, played through the demo Space's public Gradio API.

The staged Space folder runs in its own process (as a Space would), serving the release's models from
their local folders; ``gradio_client`` sends prompts and votes exactly as a browser session does. The
voters are scripts, and everything they produce is marked as simulated: vote ids are
``simulated-NNNN`` and the preference card says so. Decoding is greedy and the app's model pairing is
seeded, and the clock of the round is simulated too (``simulated_start`` + one minute per vote), so the
same models and settings give byte-identical votes.

All contact with the app's API is in :func:`play_battle` (the arena's UI may change; adapt it there).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CHOICES = {"model_a": "A is better", "model_b": "B is better", "tie": "Tie", "tie (bothbad)": "Both are bad"}
_REVEAL = re.compile(r"Model A:\**\s*(\S+).*Model B:\**\s*(\S+)")


class ArenaConfig(BaseModel):
    """The `arena` stage's config (a YAML file named by the manifest)."""

    model_config = ConfigDict(extra="forbid")

    battles: int = Field(12, ge=1, description="Battles in the round (one vote each).")
    voters: list[Literal["longer", "shorter", "more_words", "fewer_repeats"]] = Field(
        default_factory=lambda: ["longer", "more_words", "fewer_repeats"],
        description="Scripted voters, taking battles in turn; each prefers one property of the answers.")
    prompts: list[str] = Field(default_factory=list, description="Prompts (else: the `prompts` input's rows).")
    max_new_tokens: int = Field(24, ge=1)
    system_prompt: str = "Euskaraz erantzun beti."
    seed: int = 0
    simulated_start: str = Field("2025-01-01T00:00:00+00:00", description="The simulated clock of the round.")
    start_timeout: float = Field(300.0, gt=0, description="Seconds to wait for the app to serve.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LAUNCH = """
import sys
sys.path.insert(0, sys.argv[1])
from app import create_demo
from settings import load_settings
demo = create_demo(load_settings(sys.argv[2]), seed=int(sys.argv[3]))
demo.queue(default_concurrency_limit=1).launch(server_name="127.0.0.1", server_port=int(sys.argv[4]), quiet=True)
"""


@contextmanager
def serve_space(space_dir: Path, settings: dict, work: Path, seed: int, timeout: float):
    """The staged Space app in its own process on a free loopback port; yields its URL."""
    import httpx

    work.mkdir(parents=True, exist_ok=True)
    settings_path = work / "arena-settings.yaml"
    settings_path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    port = _free_port()
    log = open(work / "space.log", "w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(space_dir), str(settings_path), str(seed), str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Space app exited with {proc.returncode}; its log: {work / 'space.log'}")
            try:
                if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Space app did not serve within {timeout:.0f}s; its log: {work / 'space.log'}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _answer(chat) -> str:
    """The assistant's text in a chatbot value as the API returns it."""
    for message in reversed(chat or []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
            return str(content or "")
    return ""


def choose(voter: str, a: str, b: str) -> str:
    """A scripted voter's verdict on two answers (a winner value of the arena's schema)."""
    def score(text: str) -> float:
        words = text.split()
        if voter in ("longer", "shorter"):
            return len(text) if voter == "longer" else -len(text)
        if voter == "more_words":
            return len(set(words))
        return -(len(words) - len(set(words)))  # fewer_repeats

    if not a.strip() and not b.strip():
        return "tie (bothbad)"
    sa, sb = score(a), score(b)
    return "model_a" if sa > sb else "model_b" if sb > sa else "tie"


def play_battle(client, prompt: str, voter: str) -> dict:
    """One battle through the app's API: a new round, the prompt (both answers stream), the vote (the same
    verdict on content and language, so the app asks no overall question), and the revealed names."""
    client.predict(api_name="/arena_new")
    chat_a, chat_b, *_ = client.predict(prompt, api_name="/arena_send")
    a, b = _answer(chat_a), _answer(chat_b)
    verdict = choose(voter, a, b)
    label = CHOICES[verdict]
    voted = client.predict(label, label, label, True, None, None, api_name="/arena_vote")
    texts = [voted] if isinstance(voted, str) else [v for v in voted if isinstance(v, str)]
    m = next((m for m in (_REVEAL.search(t.replace("·", " ")) for t in texts) if m), None)
    return {"winner": verdict, "answer_a": a, "answer_b": b, "revealed": m.groups() if m else None}


def run_round(cfg: ArenaConfig, space_dir: Path, models: list[dict], prompts: list[str], out: Path,
              work: Path, on_step=None) -> dict:
    """Play ``cfg.battles`` battles and write ``out/votes-0000000001-NNNNNNNNNN.jsonl`` (the layout
    `recipes/preferences` reads). ``models`` are the app's model entries (local folders)."""
    from gradio_client import Client

    from recipes.preferences.build import load_votes

    prompts = cfg.prompts or prompts
    if not prompts:
        raise ValueError("the arena round has no prompts: set `prompts` in its config or a `prompts` input")
    db = work / "votes.sqlite"
    db.unlink(missing_ok=True)
    settings = {"title": "arena round (simulated voters)", "system_prompt": cfg.system_prompt, "models": models,
                "max_new_tokens": cfg.max_new_tokens, "temperature": 0.0, "arena": True, "votes_db": str(db),
                "consent_text": "Simulated voter.", "bootstrap_rounds": 20}
    played = []
    with serve_space(space_dir, settings, work, cfg.seed, cfg.start_timeout) as url:
        client = Client(url, verbose=False, download_files=False)
        for i in range(cfg.battles):
            voter = cfg.voters[i % len(cfg.voters)]
            if on_step:
                on_step(f"arena: battle {i + 1}/{cfg.battles} ({voter} voter)")
            played.append(play_battle(client, prompts[i % len(prompts)], voter))
    votes = load_votes(db)
    if len(votes) != cfg.battles:
        raise RuntimeError(f"the app stored {len(votes)} votes for {cfg.battles} battles")
    start = datetime.fromisoformat(cfg.simulated_start)
    for i, vote in enumerate(votes):  # what the voters did stays; the ids and the clock are the simulation's
        vote["id"] = f"simulated-{i:04d}"
        vote["timestamp"] = (start + timedelta(minutes=i)).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("votes-*.jsonl"):
        old.unlink()
    (out / f"votes-{1:010d}-{len(votes):010d}.jsonl").write_text(
        "".join(json.dumps(v, ensure_ascii=False, sort_keys=True) + "\n" for v in votes), encoding="utf-8")
    agreed = sum(1 for p, v in zip(played, votes) if p["winner"] == v["winner"])
    return {"votes": len(votes), "voters": sorted(set(cfg.voters)), "winners_as_voted": agreed,
            "models": sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes})}
