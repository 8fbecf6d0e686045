"""An arena battle as a state machine, and the reference arena's rule for the overall winner.

    new round --send--> streaming --both answers done--> vote open --vote--> voted --new round--> new round
                            ^                               |
                            +------ follow-up turn ---------+        (a model error: failed --new round--> ...)

Votes are only taken in `vote open`, so a stored vote is always about the answers the voter saw; follow-up
turns go to both models until the voter votes. The voter judges two dimensions, as the reference arena
(HiTZ's Ebaluatoia, hitz-zentroa/latxa-instruct `evaluation/human/frontend/arena_with_user.py`) asked them:
content and language. Its rule for the overall winner: when they agree, that; when one is a tie and the
other names a model, that model; only when they name different models is the voter asked "overall".
hubtool adds LMSYS's "both are bad" beside the tie; when content and language are a tie and both-bad,
no rule decides, so the overall question is asked too.

Pure Python (no Gradio): app.py drives it, tests check it directly.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace

NEW, STREAMING, VOTE_OPEN, VOTED, FAILED = "new", "streaming", "vote_open", "voted", "failed"
# What the voter clicks -> what is stored (the reference's values, plus LMSYS's both-bad).
CHOICES = {"A is better": "model_a", "B is better": "model_b", "Tie": "tie", "Both are bad": "tie (bothbad)"}
DECISIVE = ("model_a", "model_b")


class BattleError(ValueError):
    """A refused action; the message is shown to the voter as it is."""


def needs_overall(content: str | None, language: str | None) -> bool:
    """Whether the overall question must be asked for these two judgements (stored values)."""
    if not content or not language or content == language:
        return False
    if content in DECISIVE and language in DECISIVE:
        return True   # A better on one dimension, B on the other
    if content in DECISIVE or language in DECISIVE:
        return False  # one names a model, the other is a tie: that model wins
    return True       # a tie and both-bad


def decide_winner(content: str, language: str, overall: str | None = None) -> str:
    """The overall winner by the reference's rule (stored values in, stored value out)."""
    for name, value in (("content", content), ("language", language), ("overall", overall)):
        if value is not None and value not in CHOICES.values():
            raise BattleError(f"{name}: {value!r} is not one of {', '.join(CHOICES.values())}")
    if content == language:
        return content
    if needs_overall(content, language):
        if not overall:
            raise BattleError("Content and language disagree: choose the overall winner too.")
        return overall
    return content if content in DECISIVE else language


def choice_value(label: str | None) -> str | None:
    """The stored value of a clicked choice (None when nothing is chosen)."""
    if not label:
        return None
    if label not in CHOICES:
        raise BattleError(f"{label!r} is not a choice; the choices are {', '.join(CHOICES)}.")
    return CHOICES[label]


@dataclass(frozen=True)
class Battle:
    """One battle of one voter. Immutable: every step returns a new Battle (Gradio keeps it per session)."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    phase: str = NEW
    model_a: str | None = None
    model_b: str | None = None
    sampling_a: dict = field(default_factory=dict)
    sampling_b: dict = field(default_factory=dict)
    conv_a: tuple = ()
    conv_b: tuple = ()
    turns: int = 0
    pending: str | None = None      # the user turn being answered
    error: str | None = None

    # -- turns -----------------------------------------------------------------------------
    def check_turn(self, prompt: str | None, max_chars: int, max_turns: int) -> str:
        """The cleaned prompt, or a BattleError saying why this turn cannot be sent now."""
        if self.phase == STREAMING:
            raise BattleError("Both models are still answering: wait until they finish.")
        if self.phase == VOTED:
            raise BattleError("You have voted on this battle: press “New round” to start another.")
        if self.phase == FAILED:
            raise BattleError("A model could not answer in this battle: press “New round” to start another.")
        prompt = (prompt or "").strip()
        if not prompt:
            raise BattleError("Write a message first.")
        if len(prompt) > max_chars:
            raise BattleError(f"Your message has {len(prompt):,} characters; the limit is {max_chars:,}. "
                              "Shorten it and send it again (nothing was sent).")
        if self.turns >= max_turns:
            raise BattleError(f"This battle has reached its {max_turns} turns: vote, then start a new round.")
        return prompt

    def start_turn(self, prompt: str, models: list[str], sampling, system_prompt: str,
                   rng: random.Random) -> "Battle":
        """Streaming: the first turn draws two different models and their sampling settings (with a seed)."""
        battle = self
        if self.phase == NEW:
            model_a, model_b = rng.sample(sorted(models), 2)
            system = ({"role": "system", "content": system_prompt},) if system_prompt.strip() else ()
            battle = replace(self, model_a=model_a, model_b=model_b, conv_a=system, conv_b=system,
                             sampling_a={**sampling(model_a), "seed": rng.randrange(2 ** 31)},
                             sampling_b={**sampling(model_b), "seed": rng.randrange(2 ** 31)})
        user = {"role": "user", "content": prompt}
        return replace(battle, phase=STREAMING, pending=prompt, conv_a=battle.conv_a + (user,),
                       conv_b=battle.conv_b + (user,), turns=battle.turns + 1)

    def finish_turn(self, answer_a: str, answer_b: str) -> "Battle":
        """Vote open: both answers are complete and part of the conversations."""
        if self.phase != STREAMING:
            raise BattleError(f"no turn is being answered (phase {self.phase})")
        return replace(self, phase=VOTE_OPEN, pending=None,
                       conv_a=self.conv_a + ({"role": "assistant", "content": answer_a},),
                       conv_b=self.conv_b + ({"role": "assistant", "content": answer_b},))

    def fail(self, reason: str) -> "Battle":
        return replace(self, phase=FAILED, pending=None, error=reason)

    # -- the vote --------------------------------------------------------------------------
    def check_vote(self, content: str | None, language: str | None, overall: str | None) -> dict[str, str]:
        """The three stored winners of a vote on this battle, or a BattleError saying what is missing."""
        if self.phase == NEW:
            raise BattleError("Start a battle first: send a message and wait for both answers.")
        if self.phase == STREAMING:
            raise BattleError("Wait until both answers are complete, then vote.")
        if self.phase == VOTED:
            raise BattleError("Your vote on this battle is stored: press “New round” to vote on another.")
        if self.phase == FAILED:
            raise BattleError("A model could not answer in this battle, so it cannot be judged: press “New round”.")
        content, language, overall = choice_value(content), choice_value(language), choice_value(overall)
        if not content or not language:
            raise BattleError("Choose the better answer for content and for language.")
        if not needs_overall(content, language):
            overall = None  # a stale overall choice of an earlier disagreement does not count
        return {"winner": decide_winner(content, language, overall), "winner_content": content,
                "winner_language": language}

    def voted(self) -> "Battle":
        return replace(self, phase=VOTED)

    # -- views -----------------------------------------------------------------------------
    def shown(self, side: str, partial: str | None = None) -> list[dict]:
        """What the voter sees in one column: the turns without the system prompt (+ a streaming answer)."""
        conv = [m for m in (self.conv_a if side == "a" else self.conv_b) if m["role"] != "system"]
        if partial is not None:
            conv = conv + [{"role": "assistant", "content": partial}]
        return [dict(m) for m in conv]

    def history(self, side: str) -> list[dict]:
        """The conversation a model answers (system prompt included)."""
        return [dict(m) for m in (self.conv_a if side == "a" else self.conv_b)]

    def reveal(self) -> str:
        return f"**Model A:** {self.model_a} · **Model B:** {self.model_b}"
