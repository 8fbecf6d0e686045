"""A scripted OpenAI-compatible server for tests that must know every answer and every fault in advance.

It is a real HTTP server (starlette under uvicorn, on loopback), speaking the subset of the API that
datatrove's InferenceRunner uses (`/v1/models`, `/v1/completions`, `/v1/chat/completions`). A test gives
it `answer(body) -> text`; it answers at once, so counts do not depend on how fast a model generates.
Faults are chosen by request, not by time:
- ``faults[key]``: the actions for the next requests whose ``key(body)`` is ``key``, used up in order:
  ``"fail"`` (HTTP 500) or ``"hang"`` (no answer until :meth:`StandIn.release`);
- ``hold_after = n``: every request after the n-th is held until :meth:`StandIn.release`, which lets a test
  stop a run at a known point (e.g. a checkpoint boundary) and kill it there.
A held request answered after the release gets a 503 and is not counted as answered.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

FAIL, HANG = "fail", "hang"


def last_user_text(body: dict) -> str:
    """The text a request asks about: its prompt, or its last message."""
    if "messages" in body:
        return body["messages"][-1]["content"]
    return body["prompt"]


class StandIn:
    """The server's script and what it saw (bodies in arrival order, answered count)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = threading.Event()      # set when a request is held (by a fault or by hold_after)
        self._holding: list[threading.Event] = []
        self.script(lambda body: "")

    def script(self, answer: Callable[[dict], str], key: Callable[[dict], str] = last_user_text,
               faults: dict[str, list[str]] | None = None, hold_after: int | None = None) -> None:
        """Start over with a new script: counters reset, held requests released."""
        self.release()
        with self.lock:
            self.answer, self.key = answer, key
            self.faults = {k: list(v) for k, v in (faults or {}).items()}
            self.hold_after = hold_after
            self.bodies: list[dict] = []
            self.answered = 0
            self.failed = 0
            self.held.clear()

    def release(self) -> None:
        """Let every held request go (it is answered 503)."""
        with self.lock:
            holding, self._holding = self._holding, []
        for gate in holding:
            gate.set()

    @property
    def received(self) -> int:
        return len(self.bodies)

    def _action(self, body: dict) -> str | None:
        with self.lock:
            self.bodies.append(body)
            pending = self.faults.get(self.key(body))
            if pending:
                return pending.pop(0)
            if self.hold_after is not None and len(self.bodies) > self.hold_after:
                return HANG
            return None

    async def _generate(self, request: Request):
        body = await request.json()
        action = self._action(body)
        if action == FAIL:
            with self.lock:
                self.failed += 1
            return PlainTextResponse("injected failure", status_code=500)
        if action == HANG:
            gate = threading.Event()
            with self.lock:
                self._holding.append(gate)
            self.held.set()
            while not gate.is_set():
                await asyncio.sleep(0.02)
            return PlainTextResponse("released", status_code=503)
        text = self.answer(body)
        with self.lock:
            self.answered += 1
        usage = {"prompt_tokens": len(json.dumps(body).split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if request.url.path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            return JSONResponse({"id": "chatcmpl-standin", "object": "chat.completion", "model": body.get("model"),
                                 "choices": [choice], "usage": usage})
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        return JSONResponse({"id": "cmpl-standin", "object": "text_completion", "model": body.get("model"),
                             "choices": [choice], "usage": usage})

    def app(self) -> Starlette:
        async def models(request: Request) -> JSONResponse:
            return JSONResponse({"object": "list", "data": [{"id": "standin", "object": "model"}]})

        return Starlette(routes=[Route("/v1/models", models),
                                 Route("/v1/completions", self._generate, methods=["POST"]),
                                 Route("/v1/chat/completions", self._generate, methods=["POST"])])
