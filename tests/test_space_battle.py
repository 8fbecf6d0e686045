"""The arena's pieces without Gradio: the battle state machine, the reference's winner rule, pseudonyms,
the vote rate limit and the leaderboard tables."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import random
import re

import pytest
from arena_reference import USERNAME_PATTERN, reference_winner
from space_helpers import SPACE_DIR  # noqa: F401  (puts space/ on the path)

from battle import (CHOICES, FAILED, NEW, STREAMING, VOTE_OPEN, VOTED, Battle, BattleError, decide_winner,
                    needs_overall)
from identity import EDUCATION_LEVELS, LANGUAGE_LEVELS, RateLimiter, Voter, parse_accounts, pseudonym


def test_the_winner_rule_is_the_reference_arenas():
    """Every combination of the reference's three choices gives the reference's winner and asks 'overall'
    exactly when the reference showed that question."""
    three = ("model_a", "tie", "model_b")
    for content, language in itertools.product(three, three):
        asked = content != language and "tie" not in (content, language)
        assert needs_overall(content, language) is asked
        for overall in (three if asked else (None,)):
            assert decide_winner(content, language, overall) == reference_winner(content, language, overall)
    # both-bad (hubtool's addition, LMSYS's value): agreeing judgements stand; a decisive one wins over it;
    # with a tie there is no rule, so overall is asked
    assert decide_winner("tie (bothbad)", "tie (bothbad)") == "tie (bothbad)"
    assert decide_winner("tie (bothbad)", "model_b") == "model_b" and not needs_overall("tie (bothbad)", "model_b")
    assert needs_overall("tie", "tie (bothbad)") and decide_winner("tie", "tie (bothbad)", "tie") == "tie"
    with pytest.raises(BattleError, match="choose the overall winner"):
        decide_winner("model_a", "model_b")


def test_a_battle_moves_through_its_phases_and_refuses_out_of_turn_actions():
    rng = random.Random(0)
    sampling = {"m1": {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 8},
                "m2": {"temperature": 0.2, "top_p": 1.0, "max_new_tokens": 4}}.__getitem__
    battle = Battle()
    assert battle.phase == NEW
    with pytest.raises(BattleError, match="Start a battle first"):
        battle.check_vote("A is better", "A is better", None)
    with pytest.raises(BattleError, match="20,000 characters; the limit is 2,000"):
        battle.check_turn("a" * 20_000, 2000, 3)
    battle = battle.start_turn(battle.check_turn(" Kaixo ", 2000, 3), ["m1", "m2"], sampling, "Sys", rng)
    assert battle.phase == STREAMING and {battle.model_a, battle.model_b} == {"m1", "m2"}
    assert battle.sampling_a["temperature"] == sampling(battle.model_a)["temperature"] and "seed" in battle.sampling_a
    with pytest.raises(BattleError, match="Wait until both answers are complete"):
        battle.check_vote("A is better", "A is better", None)
    with pytest.raises(BattleError, match="still answering"):
        battle.check_turn("more", 2000, 3)
    battle = battle.finish_turn("a1", "b1")
    assert battle.phase == VOTE_OPEN
    battle = battle.start_turn(battle.check_turn("Eta?", 2000, 3), ["m1", "m2"], sampling, "Sys", rng).finish_turn(
        "a2", "b2")  # a follow-up goes to both models, which keep theirs
    assert battle.history("a") == [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Kaixo"},
                                   {"role": "assistant", "content": "a1"}, {"role": "user", "content": "Eta?"},
                                   {"role": "assistant", "content": "a2"}]
    assert battle.shown("b") == battle.history("b")[1:]
    with pytest.raises(BattleError, match="disagree"):
        battle.check_vote("A is better", "B is better", None)
    # an overall choice left from an earlier disagreement does not count once they agree
    assert battle.check_vote("Tie", "A is better", "B is better") == {
        "winner": "model_a", "winner_content": "tie", "winner_language": "model_a"}
    battle = battle.voted()
    with pytest.raises(BattleError, match="vote on this battle is stored"):
        battle.check_vote("Tie", "Tie", None)
    with pytest.raises(BattleError, match="New round"):
        battle.check_turn("again", 2000, 3)
    assert battle.phase == VOTED and "Model A:** " + battle.model_a in battle.reveal()
    failed = Battle().start_turn("x", ["m1", "m2"], sampling, "", rng).fail("boom")
    assert failed.phase == FAILED and failed.history("a") == [{"role": "user", "content": "x"}]
    with pytest.raises(BattleError, match="cannot be judged"):
        failed.check_vote("Tie", "Tie", None)
    three = Battle()
    for turn in range(3):
        three = three.start_turn(three.check_turn(f"t{turn}", 2000, 3), ["m1", "m2"], sampling, "", rng).finish_turn(
            "a", "b")
    with pytest.raises(BattleError, match="reached its 3 turns"):
        three.check_turn("t4", 2000, 3)
    assert set(CHOICES.values()) == {"model_a", "model_b", "tie", "tie (bothbad)"}


def test_pseudonyms_are_keyed_hashes_in_the_reference_form():
    expected = str(int.from_bytes(hmac.new(b"salt", b"ane", hashlib.sha256).digest()[:8], "big", signed=True))
    assert pseudonym("ane", b"salt") == expected and re.match(USERNAME_PATTERN, expected)
    assert pseudonym("ane", b"other") != expected
    assert parse_accounts("ane:pw1, bob:pw:2\n") == [("ane", "pw1"), ("bob", "pw:2")]
    with pytest.raises(ValueError, match="name:password"):
        parse_accounts("ane")
    assert [v for _, v in LANGUAGE_LEVELS] == ["C1-C2", "B1-B2", "A1-A2"]
    assert "Bachelor" in [v for _, v in EDUCATION_LEVELS]


def test_the_rate_limit_refuses_the_eleventh_vote_in_a_window_of_ten():
    now = [0.0]
    limiter = RateLimiter(limit=10, window_s=600, clock=lambda: now[0])
    ane, anon = Voter(user="1", client="10.0.0.1"), Voter(user=None, client="10.0.0.1")
    for i in range(10):
        now[0] = i * 5.0
        limiter.acquire(ane)
    with pytest.raises(PermissionError, match=r"You have cast 10 votes in the last 10 min.*again in 9 min 15 s"):
        limiter.acquire(ane)
    limiter.acquire(anon)  # anonymous votes from the same address are counted apart from signed-in people
    now[0] = 600.0  # the first vote leaves the window
    limiter.acquire(ane)
    unlimited = RateLimiter(limit=0, window_s=1)
    for _ in range(100):
        unlimited.acquire(anon)


def test_the_rate_limit_forgets_voters_whose_window_has_passed():
    now = [0.0]
    limiter = RateLimiter(limit=2, window_s=60, clock=lambda: now[0])
    for i in range(3000):  # one vote each from 3,000 addresses, one second apart
        now[0] = float(i)
        limiter.check(Voter(user=None, client=f"10.0.{i // 256}.{i % 256}"))
        limiter.acquire(Voter(user=None, client=f"10.0.{i // 256}.{i % 256}"))
    assert len(limiter._times) <= 60 + 1024  # the recent ones, and at most one sweep's worth of older ones
    limiter.check(Voter(user=None, client="192.0.2.1"))  # a check alone keeps nothing
    assert "client:192.0.2.1" not in limiter._times


def test_merge_closes_both_streams_when_the_reader_leaves():
    """A battle cancelled by a new round: both answers' streams are closed at their next piece (an endpoint's
    connection dropped, a local generation stopped), not read to the end for nobody."""
    import threading

    from backends import merge

    closed = [threading.Event(), threading.Event()]
    produced = [0, 0]

    def endless(side: int):
        try:
            while True:
                produced[side] += 1
                yield "x"
        finally:
            closed[side].set()

    merged = merge(endless(0), endless(1))
    assert next(merged)
    merged.close()
    assert all(event.wait(timeout=120) for event in closed)  # a far safety net; both close at once

    finished = list(merge(iter(["a", "b"]), iter(["c"])))  # read to the end: both texts in full
    assert finished[-1] == ("ab", "c")
