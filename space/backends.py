"""Chat backends of the demo: a model loaded in-process (transformers, optionally with a PEFT adapter at
a revision) or an OpenAI-compatible endpoint (`vllm serve` in production, `hubtool serve-model` on a CPU).

Both stream text pieces. The in-process backend is hubtool's own OpenAI-server backend
(hub_tools/serving/openai_server.py), which `hubtool space deploy` ships beside the app as hubtool_serving.py.
"""
from __future__ import annotations

import json
import os
from typing import Iterator, Protocol

from settings import ModelSpec, SpaceSettings

try:
    from hub_tools.serving.openai_server import TransformersBackend
except ImportError:  # inside a deployed Space
    from hubtool_serving import TransformersBackend


class ChatBackend(Protocol):
    name: str

    def stream(self, messages: list[dict], max_new_tokens: int, temperature: float, top_p: float) -> Iterator[str]:
        """Yield the answer to ``messages`` piece by piece."""


class LocalBackend:
    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.engine = TransformersBackend(spec.model, adapter=spec.adapter, revision=spec.revision,
                                          adapter_revision=spec.adapter_revision, name=spec.name)

    def stream(self, messages: list[dict], max_new_tokens: int, temperature: float, top_p: float) -> Iterator[str]:
        yield from self.engine.stream(self.engine.chat_prompt(messages), max_new_tokens, temperature, top_p)


class EndpointError(RuntimeError):
    pass


class EndpointBackend:
    """`/chat/completions` with `stream: true`, read as server-sent events."""

    def __init__(self, spec: ModelSpec, timeout: float = 120.0):
        import httpx

        self.name, self.model = spec.name, spec.model
        key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        self.client = httpx.Client(base_url=spec.base_url.rstrip("/"), timeout=timeout, trust_env=False,
                                   headers={"Authorization": f"Bearer {key}"} if key else {})

    def stream(self, messages: list[dict], max_new_tokens: int, temperature: float, top_p: float) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens,
                "temperature": temperature, "top_p": top_p, "stream": True}
        with self.client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code != 200:
                response.read()
                raise EndpointError(f"{self.name}: the endpoint answered {response.status_code}: "
                                    f"{response.text[:300]}")
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                delta = json.loads(data)["choices"][0].get("delta", {})
                if delta.get("content"):
                    yield delta["content"]


def load_backends(settings: SpaceSettings) -> dict[str, ChatBackend]:
    return {spec.name: LocalBackend(spec) if spec.backend == "transformers" else EndpointBackend(spec)
            for spec in settings.models}


def interleave(a: Iterator[str], b: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Pull from two streams in turn; yield both texts so far after every piece (side-by-side streaming)."""
    texts, live = ["", ""], [a, b]
    while any(live):
        for i, stream in enumerate(live):
            if stream is None:
                continue
            try:
                texts[i] += next(stream)
            except StopIteration:
                live[i] = None
                continue
            yield texts[0], texts[1]
    yield texts[0], texts[1]
