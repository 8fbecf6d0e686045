"""Chat backends of the demo: a model loaded in-process (transformers, optionally with a PEFT adapter at
a revision) or any OpenAI-compatible endpoint (`vllm serve`, TGI, a hosted closed model, `hubtool
serve-model` on a CPU), its API key read from an environment variable (a Space secret) named in the settings.

Both stream text pieces for given sampling settings ({temperature, top_p, max_new_tokens, seed}). An
endpoint backend takes any number of generations at once (the server batches them); the in-process
backend runs one generation at a time per model. The in-process backend is hubtool's own OpenAI-server
backend (hub_tools/serving/openai_server.py), which `hubtool space deploy` ships as hubtool_serving.py.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from typing import Iterator, Protocol

from settings import ModelSpec, SettingsError, SpaceSettings

try:
    from hub_tools.serving.openai_server import TransformersBackend
except ImportError:  # inside a deployed Space
    from hubtool_serving import TransformersBackend


class ChatBackend(Protocol):
    name: str

    def stream(self, messages: list[dict], sampling: dict) -> Iterator[str]:
        """Yield the answer to ``messages`` piece by piece."""


class LocalBackend:
    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.engine = TransformersBackend(spec.model, adapter=spec.adapter, revision=spec.revision,
                                          adapter_revision=spec.adapter_revision, name=spec.name)

    def stream(self, messages: list[dict], sampling: dict) -> Iterator[str]:
        yield from self.engine.stream(self.engine.chat_prompt(messages), int(sampling["max_new_tokens"]),
                                      float(sampling["temperature"]), float(sampling["top_p"]), sampling.get("seed"))


class EndpointError(RuntimeError):
    pass


class EndpointBackend:
    """`/chat/completions` with `stream: true`, read as server-sent events; one pooled HTTP client, no lock."""

    def __init__(self, spec: ModelSpec, timeout: float = 120.0, max_connections: int = 64):
        import httpx

        self.name, self.model = spec.name, spec.model
        key = None
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise SettingsError(f"model {spec.name!r}: the environment variable {spec.api_key_env} (its API key) "
                                    "is not set; add it as a secret of the Space (or export it locally)")
        self.client = httpx.Client(base_url=spec.base_url.rstrip("/"), timeout=timeout, trust_env=False,
                                   headers={"Authorization": f"Bearer {key}"} if key else {},
                                   limits=httpx.Limits(max_connections=max_connections,
                                                       max_keepalive_connections=max_connections))

    def stream(self, messages: list[dict], sampling: dict) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "max_tokens": int(sampling["max_new_tokens"]),
                "temperature": float(sampling["temperature"]), "top_p": float(sampling["top_p"]), "stream": True}
        if sampling.get("seed") is not None:
            body["seed"] = int(sampling["seed"])
        with self.client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code != 200:
                response.read()
                raise EndpointError(f"{self.name}: the endpoint answered {response.status_code}: "
                                    f"{response.text[:300]}")
            done = False
            for line in response.iter_lines():  # read to the end of the body, so the connection is kept for reuse
                if done or not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                choices = json.loads(data).get("choices") or [{}]
                delta = choices[0].get("delta", {})
                if delta.get("content"):
                    yield delta["content"]


def load_backends(settings: SpaceSettings) -> dict[str, ChatBackend]:
    return {spec.name: LocalBackend(spec) if spec.backend == "transformers"
            else EndpointBackend(spec, max_connections=2 * settings.max_concurrent_battles)
            for spec in settings.models}


_DONE = object()


def merge(a: Iterator[str], b: Iterator[str], interval_s: float = 0.0) -> Iterator[tuple[str, str]]:
    """Both streams read at once (one thread each); yields both texts so far when they grew, at most once
    per ``interval_s`` (each update costs the server a render of both conversations, so under load fewer,
    larger updates keep votes fast), and once more at the end.

    A stream's error is raised after the other stream has ended, as a StreamError naming the side. When the
    reader leaves early (the battle was cancelled by a new round), both streams are closed at their next
    piece: an endpoint's connection is dropped and a local model stops generating, instead of both
    answering to the end for nobody.
    """
    pieces: queue.Queue = queue.Queue()
    left = threading.Event()

    def pump(side: int, stream: Iterator[str]) -> None:
        try:
            for piece in stream:
                if left.is_set():
                    break
                pieces.put((side, piece))
        except Exception as err:  # handed to the consumer, which decides what the voter sees
            pieces.put((side, err))
        finally:
            try:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            finally:
                pieces.put((side, _DONE))

    threads = [threading.Thread(target=pump, args=(i, s), daemon=True) for i, s in enumerate((a, b))]
    for t in threads:
        t.start()
    texts, live, errors, dirty, last = ["", ""], 2, [], False, float("-inf")
    try:
        while live:
            wait = max(0.0, last + interval_s - time.monotonic()) if dirty else None
            try:
                side, piece = pieces.get(timeout=wait)
            except queue.Empty:
                side, piece = None, None
            if piece is _DONE:
                live -= 1
            elif isinstance(piece, Exception):
                errors.append(StreamError(side, piece))
            elif piece is not None:
                texts[side] += piece
                dirty = True
            if dirty and live and time.monotonic() - last >= interval_s:
                yield texts[0], texts[1]
                dirty, last = False, time.monotonic()
        if errors:
            raise errors[0]
        yield texts[0], texts[1]
    finally:
        left.set()


class StreamError(RuntimeError):
    def __init__(self, side: int, error: Exception):
        super().__init__(f"model {'AB'[side]}: {type(error).__name__}: {error}")
        self.side, self.error = side, error
