"""Chat through hubtool's OpenAI-compatible server (hub_tools/serving/openai_server.py) against calling
`generate` on the same model directly in this process.

The model is a small Llama built locally (no download), greedy decoding of ``chat_tokens`` new tokens.
Time to first token: request sent -> first content delta of the SSE stream, against generate() called ->
first token out of a streamer. Tokens/s: new tokens / (last token - first token) for both.
"""
from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

from benchmarks._common import Figure

PROMPT = [{"role": "user", "content": "Kaixo! Zer moduz zaude gaur?"}]


def _model(folder: Path, hidden: int, layers: int) -> Path:
    from hub_tools.samples.tiny_models import build_llama, build_tokenizer

    tok = build_tokenizer()
    model = build_llama(tok, seed=0, hidden_size=hidden, layers=layers)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _direct(backend, tokens: int) -> tuple[float, float, int]:
    """(ttft s, tokens/s, tokens) for generate() with a streamer, as the server's backend would call it."""
    from transformers import TextIteratorStreamer

    prompt = backend.chat_prompt(PROMPT)
    enc = backend.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    stamps: list[float] = []

    class Counting(TextIteratorStreamer):
        def put(self, value):
            if not self.next_tokens_are_prompt:
                stamps.append(time.perf_counter())
            super().put(value)

    streamer = Counting(backend.tokenizer, skip_prompt=True)
    t0 = time.perf_counter()
    thread = threading.Thread(target=lambda: backend.model.generate(
        **enc, max_new_tokens=tokens, do_sample=False, streamer=streamer,
        pad_token_id=backend.tokenizer.pad_token_id))
    thread.start()
    for _ in streamer:
        pass
    thread.join()
    return stamps[0] - t0, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


def _served(url: str, tokens: int) -> tuple[float, float, int]:
    import httpx

    body = {"model": "m", "messages": PROMPT, "max_tokens": tokens, "stream": True, "temperature": 0}
    stamps: list[float] = []
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300, trust_env=False) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content"):
                    stamps.append(time.perf_counter())
    return stamps[0] - t0, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


def run(size: dict, work: Path) -> list[Figure]:
    import socket

    import uvicorn

    from hub_tools.serving.openai_server import TransformersBackend, create_app

    reps, tokens = size["chat_reps"], size["chat_tokens"]
    folder = _model(work / "chat-model", size["chat_hidden"], size["chat_layers"])
    backend = TransformersBackend(str(folder))
    backend.model.generation_config.min_new_tokens = tokens  # both paths produce exactly `tokens` tokens
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(backend), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        _served(url, tokens), _direct(backend, tokens)  # warm-up both paths
        served, direct = [], []
        for i in range(reps):
            for out, fn in ([(served, lambda: _served(url, tokens)), (direct, lambda: _direct(backend, tokens))]
                            if i % 2 == 0 else [(direct, lambda: _direct(backend, tokens)),
                                                (served, lambda: _served(url, tokens))]):
                out.append(fn())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    params = sum(p.numel() for p in backend.model.parameters())
    sizes = {"parameters": params, "hidden_size": size["chat_hidden"], "layers": size["chat_layers"],
             "new_tokens": tokens, "tokens_streamed": statistics.median(x[2] for x in served)}
    ttft_s, ttft_d = statistics.median(x[0] for x in served), statistics.median(x[0] for x in direct)
    tps_s, tps_d = statistics.median(x[1] for x in served), statistics.median(x[1] for x in direct)
    return [
        Figure("chat", "chat time to first token", "ms", round(ttft_s * 1000, 2), "direct generate()",
               round(ttft_d * 1000, 2), round(ttft_d / ttft_s, 3), reps, sizes),
        Figure("chat", "chat tokens/s", "tokens/s", round(tps_s, 1), "direct generate()", round(tps_d, 1),
               round(tps_s / tps_d, 3), reps, sizes),
    ]
