"""The transformers-backed OpenAI-compatible server, over HTTP on loopback."""
from __future__ import annotations

import json

import httpx
import pytest
import torch
from space_helpers import serving_asgi

from hub_tools.serving.openai_server import TransformersBackend, create_app


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    backend = TransformersBackend(str(tiny_model_dir), name="tiny")
    with serving_asgi(create_app(backend)) as url:
        yield url, backend


def direct(backend, prompt: str, n: int) -> str:
    enc = backend.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = backend.model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=backend.tokenizer.pad_token_id)
    new = out[0, enc["input_ids"].shape[1]:]
    ended = (new == backend.tokenizer.eos_token_id).nonzero()
    return backend.tokenizer.decode(new[: ended[0, 0]] if len(ended) else new, skip_special_tokens=True)


def test_models_and_completions_equal_direct_generation(server):
    url, backend = server
    with httpx.Client(trust_env=False, timeout=300) as client:
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
    with httpx.Client(trust_env=False, timeout=300) as client:
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


PROMPTS = ("Kaixo", "Egun on denoi", "Gabon", "Zer moduz zaude gaur?", "Euskal Herria")


def test_stop_sequences_cut_the_output(server):
    """The stop string is taken from the deterministic greedy output of a first request, at a place where it
    first occurs after the start, so the stop is certain to occur and the cut keeps a non-empty head; the
    check never depends on what the tiny model happens to write."""
    url, backend = server
    with httpx.Client(trust_env=False, timeout=300) as client:  # timeout: a far safety net only

        def complete(prompt: str, **extra) -> dict:
            r = client.post(f"{url}/v1/completions", json={"prompt": prompt, "max_tokens": 12, **extra})
            assert r.status_code == 200, r.text
            return r.json()["choices"][0]

        for prompt in PROMPTS:
            full = complete(prompt)
            text = full["text"]
            assert text == direct(backend, prompt, 12)
            stop = next((text[i:i + 2] for i in range(1, len(text) - 1) if text.index(text[i:i + 2]) == i), None)
            if stop:
                break
        assert stop, f"none of {PROMPTS} gave a greedy output with a stop string after its start: {text!r}"
        head = text[:text.index(stop)]
        assert head and stop not in head
        cut = complete(prompt, stop=stop)
        assert (cut["text"], cut["finish_reason"]) == (head, "stop")
        cut = complete(prompt, stop=["\u2603 never written", stop])  # a list: the stop that occurs cuts
        assert (cut["text"], cut["finish_reason"]) == (head, "stop")
        cut = complete(prompt, stop=[stop, text[0]])  # both occur: the earliest wins
        assert (cut["text"], cut["finish_reason"]) == ("", "stop")
        uncut = complete(prompt, stop="\u2603 never written")
        assert (uncut["text"], uncut["finish_reason"]) == (text, full["finish_reason"])


def test_bad_requests_get_an_openai_shaped_400(server):
    url, _ = server
    with httpx.Client(trust_env=False, timeout=300) as client:
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


def test_a_stream_closed_early_stops_the_generation(server):
    """A reader that leaves after the first piece (a cancelled battle, a dropped connection) ends the
    generation at its next token: the model is not run to max_tokens for nobody, holding its lock."""
    url, backend = server
    forwards = []
    hook = backend.model.register_forward_hook(lambda *args: forwards.append(1))
    messages = [{"role": "user", "content": "Kaixo"}]
    prompt = backend.chat_prompt(messages)

    def generation_ended() -> int:
        """Forward passes made by the generation, once it has let go of the model (120 s: a safety net)."""
        assert backend.lock.acquire(timeout=120)
        backend.lock.release()
        return len(forwards)

    try:
        full = "".join(backend.stream(prompt, max_tokens=120))  # greedy: the same tokens each time
        ran_to_the_end = generation_ended()
        assert ran_to_the_end >= 100 and full  # no early end of sequence, so the counts below mean something
        forwards.clear()
        pieces = backend.stream(prompt, max_tokens=120)
        assert next(pieces)
        pieces.close()
        assert generation_ended() < ran_to_the_end / 2

        forwards.clear()  # the same over HTTP: the client reads one event and hangs up
        with httpx.Client(trust_env=False, timeout=300) as client:
            with client.stream("POST", f"{url}/v1/chat/completions",
                               json={"messages": messages, "max_tokens": 120, "stream": True}) as resp:
                assert any(line.startswith("data: ") for line in resp.iter_lines())
        assert generation_ended() < ran_to_the_end / 2
    finally:
        hook.remove()
