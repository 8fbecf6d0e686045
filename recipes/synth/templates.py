"""Chat-template handling for the completion endpoint: Magpie's pre-query prefix and full prompts.

Magpie (Xu et al., 2024) prompts an aligned model with only the part of its chat template that comes
before a user's message. The model then writes a user query itself. The prefix is derived from the
tokenizer's own template, never hard-coded: render a conversation whose user text is a sentinel and cut
there. What the template puts after the user's text (the end-of-turn marker) becomes a stop sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hub_tools.errors import UsageProblem

SENTINEL = "\u241fHUBTOOL_QUERY\u241f"


class TemplateError(UsageProblem, ValueError):
    """A tokenizer whose chat template cannot give a Magpie prefix."""


@dataclass(frozen=True)
class PreQuery:
    prefix: str           # the prompt: everything the template puts before the user's text
    stop: tuple[str, ...]  # what ends the user's turn


def pre_query(tokenizer, system_prompt: str | None = None) -> PreQuery:
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError("the backbone's tokenizer has no chat template: Magpie needs an instruct model's template")
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
        {"role": "user", "content": SENTINEL}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    if text.count(SENTINEL) != 1:
        raise TemplateError("the chat template does not place the user's text verbatim; cannot derive the prefix")
    prefix, after = text.split(SENTINEL)
    end_of_turn = after.strip()
    return PreQuery(prefix, (end_of_turn,) if end_of_turn else ())


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """The completion prompt that asks the model for the assistant's next turn."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@lru_cache(maxsize=4)
def load_tokenizer(model: str, revision: str | None = None):
    """The backbone's tokenizer (cached per process; datatrove tasks may run in worker processes)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model, revision=revision)
