"""The transformers-backed OpenAI-compatible server, over HTTP on loopback."""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import torch
import uvicorn

from hub_tools.serving.openai_server import TransformersBackend, create_app


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    backend = TransformersBackend(str(tiny_model_dir), name="tiny")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(backend), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", backend
    srv.should_exit = True
    thread.join(timeout=10)


def direct(backend, prompt: str, n: int) -> str:
    enc = backend.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = backend.model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=backend.tokenizer.pad_token_id)
    new = out[0, enc["input_ids"].shape[1]:]
    ended = (new == backend.tokenizer.eos_token_id).nonzero()
    return backend.tokenizer.decode(new[: ended[0, 0]] if len(ended) else new, skip_special_tokens=True)


def test_models_and_completions_equal_direct_generation(server):
    url, backend = server
    with httpx.Client(trust_env=False, timeout=60) as client:
        assert client.get(f"{url}/v1/models").json()["data"][0]["id"] == "tiny"
        r = client.post(f"{url}/v1/completions", json={"model": "tiny", "prompt": "Kaixo, zer moduz", "max_tokens": 6})
        body = r.json()
        assert r.status_code == 200 and body["object"] == "text_completion"
        assert body["choices"][0]["text"] == direct(backend, "Kaixo, zer moduz", 6)
        assert body["usage"]["completion_tokens"] <= 6 and body["usage"]["prompt_tokens"] > 0
        batch = client.post(f"{url}/v1/completions", json={"prompt": ["Kaixo", "Egun on denoi", "Gabon"],
                                                             "max_tokens": 4}).json()
        assert [c["index"] for c in batch["choices"]] == [0, 1, 2] and all(isinstance(c["text"], str)
                                                                           for c in batch["choices"])


def test_chat_streaming_equals_the_non_streamed_answer(server):
    url, backend = server
    messages = [{"role": "system", "content": "Euskaraz."}, {"role": "user", "content": "Kaixo!"}]
    with httpx.Client(trust_env=False, timeout=60) as client:
        plain = client.post(f"{url}/v1/chat/completions", json={"messages": messages, "max_tokens": 8}).json()
        assert plain["object"] == "chat.completion" and plain["choices"][0]["message"]["role"] == "assistant"
        assert plain["choices"][0]["message"]["content"] == direct(backend, backend.chat_prompt(messages), 8)
        pieces, events = [], 0
        with client.stream("POST", f"{url}/v1/chat/completions",
                           json={"messages": messages, "max_tokens": 8, "stream": True}) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if not line.startswith("data: "):
                    continue
                events += 1
                if line == "data: [DONE]":
                    break
                delta = json.loads(line[6:])["choices"][0]["delta"]
                pieces.append(delta.get("content", ""))
        assert events >= 3 and "".join(pieces) == plain["choices"][0]["message"]["content"]


def test_stop_sequences_and_bad_requests(server):
    url, backend = server
    full = direct(backend, "Kaixo", 12)
    with httpx.Client(trust_env=False, timeout=60) as client:
        if len(full) > 2:
            stop = full[1:3]
            r = client.post(f"{url}/v1/completions", json={"prompt": "Kaixo", "max_tokens": 12, "stop": stop}).json()
            assert r["choices"][0]["text"] == full[: full.index(stop)] and r["choices"][0]["finish_reason"] == "stop"
        bad = client.post(f"{url}/v1/chat/completions", json={"messages": "hi"})
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
        bad = client.post(f"{url}/v1/completions", json={"prompt": [1, 2]})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        for route in ("completions", "chat/completions"):
            not_object = client.post(f"{url}/v1/{route}", json=["a list"])
            assert not_object.status_code == 400 and "JSON object" in not_object.json()["error"]["message"]


def test_serve_model_refuses_non_loopback_hosts():
    from click.testing import CliRunner

    from hub_tools.cli import main

    result = CliRunner().invoke(main, ["serve-model", "--model", "x", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "not a loopback address" in result.output
