"""The recipe's rollouts: what each method asks the backbone for one row, through datatrove's InferenceRunner.

One code path for every server type: the runner's `generate` callback reaches a vLLM server datatrove
started, an OpenAI-compatible endpoint, or hubtool's transformers server. Magpie talks to the completion
endpoint (its prompt is a bare pre-query prefix); translate and backtranslate talk to the chat endpoint.
A failed or timed-out request is retried; a row whose requests keep failing comes back as an error and is
counted by the post-processing, never silently dropped.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import SynthConfig
from .templates import chat_prompt, load_tokenizer, pre_query

log = logging.getLogger("hubtool.synth")
_SCORE = re.compile(r"\b([1-5])\b")


class GenerationFailed(RuntimeError):
    pass


@dataclass
class _Row:
    """What one row's requests cost."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)


class Throughput:
    """Prompts/s and tokens/s of this process: to ``on_step`` every second, to the log every ``interval``."""

    def __init__(self, on_step: Callable[[str], None] | None = None, interval: float = 30.0):
        self.on_step = on_step
        self.interval, self.start = interval, time.monotonic()
        self.last_log = self.last_show = self.start
        self.requests = self.tokens = 0

    def add(self, tokens: int) -> None:
        self.requests += 1
        self.tokens += tokens
        now = time.monotonic()
        elapsed = max(now - self.start, 1e-9)
        line = f"{self.requests:,} prompts, {self.requests / elapsed:.2f} prompts/s, {self.tokens / elapsed:.1f} tokens/s"
        if self.on_step is not None and now - self.last_show >= 1.0:
            self.last_show = now
            self.on_step(line)
        if now - self.last_log >= self.interval:
            self.last_log = now
            log.info("synth: %s", line)


class SynthRollout:
    """Callable rollout for InferenceRunner: ``await rollout(document, generate)`` -> a JSON-able dict."""

    def __init__(self, cfg: SynthConfig, on_step: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.use_chat = cfg.method != "magpie"
        self.on_step = on_step
        self._meter: Throughput | None = None

    def __getstate__(self) -> dict:
        # Worker processes get no progress callback (it belongs to the CLI's process and may not pickle).
        return {**self.__dict__, "on_step": None, "_meter": None}

    # -- requests -----------------------------------------------------------------------------------
    def _sampling(self, max_tokens: int, temperature: float | None = None, seed: int | None = None) -> dict:
        s = self.cfg.sampling
        payload = {"max_tokens": max_tokens, "temperature": s.temperature if temperature is None else temperature,
                   "top_p": s.top_p}
        if seed is not None:
            payload["seed"] = seed
        return payload

    async def _call(self, generate, payload: dict, row: _Row):
        from datatrove.pipeline.inference.types import InferenceError, ServerError

        server = self.cfg.server
        last = "no attempt"
        for attempt in range(server.retries + 1):
            if attempt:
                row.retries += 1
                await asyncio.sleep(server.retry_backoff * 2 ** (attempt - 1))
            try:
                result = await asyncio.wait_for(generate(dict(payload)), server.request_timeout)
            except asyncio.TimeoutError:
                last = f"timeout after {server.request_timeout:g}s"
            except (InferenceError, ServerError, OSError) as err:
                last = f"{type(err).__name__}: {str(getattr(err, 'error', err))[:300]}"
                if "BadRequestError" in str(err):
                    break  # the same request would be refused again
            else:
                usage = result.usage or {}
                row.requests += 1
                row.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                row.completion_tokens += int(usage.get("completion_tokens") or 0)
                row.finish_reasons.append(result.finish_reason)
                self._meter = self._meter or Throughput(self.on_step)
                self._meter.add(int(usage.get("completion_tokens") or 0))
                return result.text
            log.warning("synth: request failed (%s); attempt %d of %d", last, attempt + 1, server.retries + 1)
        raise GenerationFailed(last)

    async def _ask(self, generate, messages: list[dict], row: _Row, max_tokens: int,
                   temperature: float | None = None, seed: int | None = None) -> str:
        """One assistant turn: the chat endpoint, or the completion endpoint with the template applied here."""
        if self.use_chat:
            payload = {"messages": messages, **self._sampling(max_tokens, temperature, seed)}
        else:
            tok = load_tokenizer(self.cfg.backbone.local_path(self.cfg.resolve) or self.cfg.backbone.model,
                                 self.cfg.backbone.revision)
            payload = {"prompt": chat_prompt(tok, messages), "add_special_tokens": False,
                       **self._sampling(max_tokens, temperature, seed)}
        return await self._call(generate, payload, row)

    # -- methods ------------------------------------------------------------------------------------
    async def magpie(self, doc, generate, row: _Row) -> dict:
        tok = load_tokenizer(self.cfg.backbone.local_path(self.cfg.resolve) or self.cfg.backbone.model,
                             self.cfg.backbone.revision)
        system = doc.metadata.get("system_prompt")
        query = pre_query(tok, system)
        seed = self.cfg.seed * 1_000_003 + int(doc.metadata["slot"])
        payload = {"prompt": query.prefix, "stop": list(query.stop), "add_special_tokens": False,
                   **self._sampling(self.cfg.sampling.max_tokens_instruction, seed=seed)}
        instruction = (await self._call(generate, payload, row)).strip()
        if not instruction:
            return {"instruction": "", "response": "", "system": system}
        conversation = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": instruction}]
        response = await self._ask(generate, conversation, row, self.cfg.sampling.max_tokens_response, seed=seed)
        return {"instruction": instruction, "response": response, "system": system}

    def row_seed(self, doc, part: int = 0) -> int:
        """A per-row, per-request sampling seed from the config's seed and the row's id: a rerun (in any order,
        batched with any other rows) asks for the same samples."""
        digest = hashlib.sha256(f"{doc.id}\0{part}".encode()).digest()
        return (self.cfg.seed * 1_000_003 + int.from_bytes(digest[:4], "big")) % (2**31)

    async def translate(self, doc, generate, row: _Row) -> dict:
        meta = doc.metadata

        async def into_target(text: str, part: int) -> str:
            prompt = self.cfg.translate_prompt.format(language_name=self.cfg.language_name, text=text)
            return await self._ask(generate, [{"role": "user", "content": prompt}], row,
                                   self.cfg.sampling.max_tokens_response, seed=self.row_seed(doc, part))

        if meta.get("response"):
            instruction, response = await asyncio.gather(into_target(doc.text, 0), into_target(meta["response"], 1))
        else:  # an instruction set without answers: the backbone answers the translated instruction
            instruction = await into_target(doc.text, 0)
            response = await self._ask(generate, [{"role": "user", "content": instruction}], row,
                                       self.cfg.sampling.max_tokens_response, seed=self.row_seed(doc, 1))
        return {"instruction": instruction, "response": response, "system": meta.get("system_prompt"),
                "source_doc_id": meta["source_id"], "source_instruction": doc.text}

    async def backtranslate(self, doc, generate, row: _Row) -> dict:
        name = self.cfg.language_name
        text = doc.text[: self.cfg.input.max_chars]
        prompt = self.cfg.backtranslate_prompt.format(language_name=name, text=text)
        instruction = await self._ask(generate, [{"role": "user", "content": prompt}], row,
                                      self.cfg.sampling.max_tokens_instruction, seed=self.row_seed(doc, 0))
        response = text
        if self.cfg.refine:
            refine = self.cfg.refine_prompt.format(language_name=name, instruction=instruction, response=text)
            response = await self._ask(generate, [{"role": "user", "content": refine}], row,
                                       self.cfg.sampling.max_tokens_response, seed=self.row_seed(doc, 1))
        return {"instruction": instruction, "response": response, "system": doc.metadata.get("system_prompt"),
                "source_doc_id": doc.metadata["source_id"]}

    async def judge(self, generate, result: dict, row: _Row) -> tuple[int | None, str]:
        j = self.cfg.postprocess.judge
        prompt = j.prompt.format(language_name=self.cfg.language_name, instruction=result["instruction"],
                                 response=result["response"])
        answer = await self._ask(generate, [{"role": "user", "content": prompt}], row, j.max_tokens, j.temperature)
        match = _SCORE.search(answer)
        return (int(match.group(1)) if match else None), answer[:200]

    async def __call__(self, document, generate, **_shared) -> dict:
        row = _Row()
        try:
            result = await getattr(self, self.cfg.method)(document, generate, row)
            if self.cfg.postprocess.judge.enabled and result["instruction"].strip():
                result["score"], result["judge_answer"] = await self.judge(generate, result, row)
        except GenerationFailed as err:
            result = {"error": str(err)}
        result["usage"] = {"requests": row.requests, "retries": row.retries, "prompt_tokens": row.prompt_tokens,
                           "completion_tokens": row.completion_tokens, "finish_reasons": row.finish_reasons}
        return result
