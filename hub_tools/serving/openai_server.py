"""A small OpenAI-compatible server backed by transformers, for CPU runs and tests.

It serves `/v1/models`, `/v1/completions` and `/v1/chat/completions` (with `stream: true` as
server-sent events), the subset that datatrove's inference pipeline (as a `custom`/endpoint server)
and the demo Space's local backend use. A request with a list of prompts is generated as one batch.
On GPUs, `vllm serve` speaks the same API; this server is its stand-in where vLLM cannot run.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def _token_streamer(tokenizer, timeout: float):
    """A TextIteratorStreamer that emits after every token instead of every word (transformers' default
    waits for a space), holding back only a character whose UTF-8 bytes are not complete yet."""
    from transformers import TextIteratorStreamer

    class TokenStreamer(TextIteratorStreamer):
        def put(self, value) -> None:
            value = value[0] if len(value.shape) > 1 else value
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.tolist())
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd") and len(self.token_cache) - getattr(self, "_flushed", 0) < 4:
                return  # maybe the next token completes the character
            self._flushed = len(self.token_cache)
            printable, self.print_len = text[self.print_len:], len(text)
            if printable:
                self.on_finalized_text(printable)

    return TokenStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout)


class TransformersBackend:
    """One model (optionally a PEFT adapter on it); generation serialized by a lock."""

    def __init__(self, model: str, adapter: str | None = None, revision: str | None = None,
                 adapter_revision: str | None = None, name: str | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name or adapter or model
        self.tokenizer = AutoTokenizer.from_pretrained(adapter or model,
                                                       revision=adapter_revision if adapter else revision)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # batched generation continues every prompt at the same position
        lm = AutoModelForCausalLM.from_pretrained(model, revision=revision)
        if adapter:
            from peft import PeftModel

            lm = PeftModel.from_pretrained(lm, adapter, revision=adapter_revision)
        self.model = lm.eval()
        self.lock = threading.Lock()

    def chat_prompt(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _gen_kwargs(self, max_tokens: int, temperature: float, top_p: float, seed: int | None) -> dict:
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        sampling = temperature > 0
        return {"max_new_tokens": max_tokens, "do_sample": sampling, "pad_token_id": self.tokenizer.pad_token_id,
                **({"temperature": temperature, "top_p": top_p} if sampling else {})}

    def complete(self, prompts: list[str], max_tokens: int = 64, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None) -> list[Completion]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with self.lock, torch.no_grad():
            out = self.model.generate(**enc, **self._gen_kwargs(max_tokens, temperature, top_p, seed))
        results = []
        for i in range(len(prompts)):
            new = out[i, enc["input_ids"].shape[1]:]
            ended = (new == self.tokenizer.eos_token_id).nonzero()
            if len(ended):
                new = new[: ended[0, 0]]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            reason = "stop" if len(ended) else "length"
            text, cut = _apply_stop(text, stop)
            results.append(Completion(text, int(enc["attention_mask"][i].sum()), len(new), "stop" if cut else reason))
        return results

    def stream(self, prompt: str, max_tokens: int = 64, temperature: float = 0.0, top_p: float = 1.0,
               seed: int | None = None) -> Iterator[str]:
        enc = self.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
        streamer = _token_streamer(self.tokenizer, timeout=300)
        stop = threading.Event()
        kwargs = {**enc, **self._gen_kwargs(max_tokens, temperature, top_p, seed), "streamer": streamer,
                  "stopping_criteria": _stopped_by(stop)}

        def run() -> None:
            with self.lock:
                self.model.generate(**kwargs)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield from (piece for piece in streamer if piece)
        except GeneratorExit:
            # a reader that left early (a battle cancelled by a new round, a closed connection): the generation
            # stops at its next token instead of holding the model's lock until max_tokens. No join here: the
            # close may run on a server's event loop thread, which must not wait for a forward pass
            stop.set()
            raise
        thread.join()


def _stopped_by(event: threading.Event):
    """transformers stopping criteria that end a generation once ``event`` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stopped(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Stopped()])


def _apply_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    cut = min((text.index(s) for s in stop or [] if s and s in text), default=None)
    return (text[:cut], True) if cut is not None else (text, False)


async def _body(request: Request) -> dict | JSONResponse:
    """The request's JSON object, or the OpenAI-shaped 400 to answer instead."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the body must be JSON")
    return body if isinstance(body, dict) else _error(400, "the body must be a JSON object")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": status}},
                        status_code=status)


def create_app(backend: TransformersBackend) -> Starlette:
    def params(body: dict) -> dict:
        stop = body.get("stop")
        return {"max_tokens": int(body.get("max_tokens") or 64), "temperature": float(body.get("temperature", 0.0)),
                "top_p": float(body.get("top_p", 1.0)), "seed": body.get("seed"),
                "stop": [stop] if isinstance(stop, str) else stop}

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": backend.name, "object": "model", "owned_by": "hubtool"}]})

    def sse(chunks: Iterator[dict]) -> StreamingResponse:
        def events() -> Iterator[str]:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(iterate_in_threadpool(events()), media_type="text/event-stream")

    async def completions(request: Request):
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            return _error(400, "`prompt` must be a string or a non-empty list of strings")
        p, rid, created = params(body), f"cmpl-{uuid.uuid4().hex}", int(time.time())
        if body.get("stream"):
            if len(prompts) != 1:
                return _error(400, "streaming takes one prompt")
            return sse({"id": rid, "object": "text_completion", "created": created, "model": backend.name,
                        "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                       for piece in backend.stream(prompts[0], p["max_tokens"], p["temperature"], p["top_p"], p["seed"]))
        done = await run_in_threadpool(backend.complete, prompts, **p)
        return JSONResponse({
            "id": rid, "object": "text_completion", "created": created, "model": backend.name,
            "choices": [{"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                        for i, c in enumerate(done)],
            "usage": _usage(done)})

    async def chat(request: Request):
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and {"role", "content"} <= set(m) for m in messages):
            return _error(400, "`messages` must be a non-empty list of {role, content}")
        prompt = backend.chat_prompt(messages)
        p, rid, created = params(body), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.get("stream"):
            first = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": backend.name,
                     "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}

            def chunks() -> Iterator[dict]:
                yield first
                for piece in backend.stream(prompt, p["max_tokens"], p["temperature"], p["top_p"], p["seed"]):
                    yield {**first, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield {**first, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

            return sse(chunks())
        done = await run_in_threadpool(backend.complete, [prompt], **p)
        return JSONResponse({
            "id": rid, "object": "chat.completion", "created": created, "model": backend.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": done[0].text},
                         "finish_reason": done[0].finish_reason}],
            "usage": _usage(done)})

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/chat/completions", chat, methods=["POST"])])


def _usage(done: list[Completion]) -> dict:
    prompt = sum(c.prompt_tokens for c in done)
    completion = sum(c.completion_tokens for c in done)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def serve(model: str, adapter: str | None = None, revision: str | None = None, adapter_revision: str | None = None,
          name: str | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model (and adapter) and serve the API until interrupted."""
    import sys

    import uvicorn

    backend = TransformersBackend(model, adapter, revision, adapter_revision, name=name)
    print(f"serving {backend.name} on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")
