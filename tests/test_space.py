"""The demo Space through its Gradio API (gradio_client), with tiny models loaded from the local hub."""
from __future__ import annotations

import re
import sqlite3
import threading

import httpx
import numpy as np
import pytest
from arena_reference import TIMESTAMP_PATTERN, USERNAME_PATTERN, UUID_PATTERN
from space_helpers import message_text, plain_generate, publish_arena_models, serving, serving_asgi

from gradio_client import Client


@pytest.fixture(scope="module")
def arena_settings(hub, tiny_model_dir, tmp_path_factory):
    from huggingface_hub import HfApi

    from conftest import ADMIN_TOKEN

    settings = publish_arena_models(HfApi(endpoint=hub.url, token=ADMIN_TOKEN), tiny_model_dir,
                                    tmp_path_factory.mktemp("arena"))
    settings["models"][1].update(max_new_tokens=12, top_p=0.9)  # its own sampling settings, recorded per answer
    return {**settings, "vote_limit": 0, "leaderboard_cache_s": 0, "bootstrap_rounds": 200}


@pytest.fixture(scope="module")
def app(arena_settings):
    from app import create_demo
    from settings import parse_settings

    demo = create_demo(parse_settings(arena_settings), seed=0)
    with serving(demo) as url:
        yield demo, url


def shown(chat: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": message_text(m).strip()} for m in chat]


def stored(conv: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"].strip()} for m in conv if m["role"] != "system"]


def test_chat_streams_tokens_from_a_model_on_the_local_hub(app):
    demo, url = app
    spec = demo.hubtool.settings.models[0]
    client = Client(url, verbose=False)
    job = client.submit("Kaixo! Zer moduz zaude?", [], spec.name, "Euskaraz erantzun.", 16, 0.0, api_name="/chat")
    updates = [message_text(out[0][-1]) for out in job]
    assert job.status().success
    final = updates[-1]
    # streamed: several growing partial answers before the last one
    partial = [u for u in updates if u != final]
    assert len(set(updates)) >= 3, updates
    assert all(final.startswith(u) for u in partial)
    # the same text as plain transformers + peft generating greedily from the adapter's branch on the local hub
    expected = plain_generate(spec.model, [{"role": "system", "content": "Euskaraz erantzun."},
                                           {"role": "user", "content": "Kaixo! Zer moduz zaude?"}], 16,
                              adapter=spec.adapter, adapter_revision=spec.adapter_revision)
    assert final.strip() == expected.strip() != ""


def test_chat_streams_from_an_openai_compatible_endpoint(arena_settings, tmp_path):
    """An OpenAI-compatible endpoint with an API key from the environment; hubtool's own server stands in
    for vLLM/TGI/a hosted model behind a key-checking proxy."""
    import os

    from app import create_demo
    from settings import SettingsError, parse_settings
    from starlette.responses import JSONResponse

    from hub_tools.serving.openai_server import TransformersBackend, create_app

    spec = arena_settings["models"][1]
    engine = TransformersBackend(spec["model"], adapter=spec["adapter"], adapter_revision=spec["adapter_revision"],
                                 name="served")
    inner, seen = create_app(engine), []

    async def keyed(scope, receive, send):  # what a hosted endpoint does: refuse a request without the key
        if scope["type"] == "http":
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            seen.append(auth)
            if auth != "Bearer sk-test-key":
                return await JSONResponse({"error": "bad key"}, status_code=401)(scope, receive, send)
        return await inner(scope, receive, send)

    with serving_asgi(keyed) as server:
        model = {"name": "remote", "backend": "openai", "model": "served", "base_url": f"{server}/v1",
                 "api_key_env": "ARENA_TEST_KEY"}
        settings = parse_settings({"arena": False, "votes_db": str(tmp_path / "v.sqlite"), "models": [model]})
        os.environ.pop("ARENA_TEST_KEY", None)
        with pytest.raises(SettingsError, match="ARENA_TEST_KEY .* is not set; add it as a secret"):
            create_demo(settings)
        os.environ["ARENA_TEST_KEY"] = "sk-test-key"
        try:
            with serving(create_demo(settings)) as url:
                job = Client(url, verbose=False).submit("Kaixo!", [], "remote", "", 12, 0.0, api_name="/chat")
                updates = [message_text(out[0][-1]) for out in job]
        finally:
            os.environ.pop("ARENA_TEST_KEY")
    expected = plain_generate(spec["model"], [{"role": "user", "content": "Kaixo!"}], 12, adapter=spec["adapter"],
                              adapter_revision=spec["adapter_revision"])
    assert updates[-1].strip() == expected.strip() != "" and len(set(updates)) >= 3
    assert seen and set(seen) == {"Bearer sk-test-key"}


def test_an_endpoint_backend_reuses_its_connection_for_the_next_answer():
    """Each answer is read to the end of its body (past `[DONE]`), so the pooled connection serves the next
    one: a Space under load otherwise opens a TCP connection per streamed answer."""
    import json

    from backends import EndpointBackend
    from settings import ModelSpec
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    peers = []

    async def chat(request):
        peers.append((request.client.host, request.client.port))

        async def events():
            for word in ("Kaixo", " mundua"):
                yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': word}}]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    sampling = {"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0}
    with serving_asgi(app) as server:
        backend = EndpointBackend(ModelSpec(name="m", backend="openai", model="m", base_url=f"{server}/v1"))
        answers = ["".join(backend.stream([{"role": "user", "content": "Kaixo"}], sampling)) for _ in range(3)]
    assert answers == ["Kaixo mundua"] * 3
    assert len(peers) == 3 and len(set(peers)) == 1  # one connection, three answers


def test_chat_refuses_too_long_input(app):
    demo, url = app
    client = Client(url, verbose=False)
    too_long = "a" * 20_000
    with pytest.raises(Exception, match="20,000 characters; the limit is 2,000"):
        client.predict(too_long, [], demo.hubtool.settings.models[0].name, "", 4, 0.0, api_name="/chat")


def test_a_battle_takes_follow_up_turns_and_stores_exactly_the_vote(app):
    demo, url = app
    store, settings = demo.hubtool.store, demo.hubtool.settings
    before = store.count()
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="Start a battle first"):
        client.predict("A is better", "A is better", None, True, None, None, api_name="/arena_vote")
    with pytest.raises(Exception, match="20,001 characters; the limit is 2,000"):
        client.predict("b" * 20_001, api_name="/arena_send")
    chat_a, chat_b, status, box = client.predict("Zer da euskara?", api_name="/arena_send")
    assert "Judge the two answers" in status and box == ""
    chat_a, chat_b, _, _ = client.predict("Eta zergatik?", api_name="/arena_send")  # both models answer again
    assert [m["role"] for m in chat_a] == [m["role"] for m in chat_b] == ["user", "assistant"] * 2
    with pytest.raises(Exception, match="consent"):
        client.predict("A is better", "B is better", "Tie", False, None, None, api_name="/arena_vote")
    with pytest.raises(Exception, match="Content and language disagree: choose the overall winner"):
        client.predict("A is better", "B is better", None, True, None, None, api_name="/arena_vote")
    assert store.count() == before  # refusals store nothing
    names, status = client.predict("A is better", "B is better", "Both are bad", True, "C1-C2", "Bachelor",
                                   api_name="/arena_vote")
    row = store.rows()[-1]
    assert store.count() == before + 1 and "vote is stored" in status
    # the revealed names are the stored models, which are the two variants of the settings
    assert names == f"**Model A:** {row['model_a']} · **Model B:** {row['model_b']}"
    assert {row["model_a"], row["model_b"]} == {m.name for m in settings.models}
    assert (row["winner_content"], row["winner_language"], row["winner"]) == ("model_a", "model_b", "tie (bothbad)")
    assert (row["user_language"], row["user_education"], row["username"]) == ("C1-C2", "Bachelor", None)
    assert re.match(UUID_PATTERN, row["id"]) and re.match(TIMESTAMP_PATTERN, row["timestamp"])
    system = {"role": "system", "content": settings.system_prompt}
    assert row["conv_a"][0] == row["conv_b"][0] == system
    assert stored(row["conv_a"]) == shown(chat_a) and stored(row["conv_b"]) == shown(chat_b)  # every turn
    assert row["hyperparameters"] == {side: {**settings.sampling(row[side]),
                                             "seed": row["hyperparameters"][side]["seed"]}
                                      for side in ("model_a", "model_b")}
    assert {h["max_new_tokens"] for h in row["hyperparameters"].values()} == {16, 12}
    # the battle is locked: a second vote and a further turn are refused until a new round
    with pytest.raises(Exception, match="vote on this battle is stored"):
        client.predict("A is better", "B is better", "Tie", True, None, None, api_name="/arena_vote")
    with pytest.raises(Exception, match="New round"):
        client.predict("Beste bat", api_name="/arena_send")
    assert store.count() == before + 1
    client.predict(api_name="/arena_new")
    client.predict("Beste bat", api_name="/arena_send")
    names, _ = client.predict("Tie", "A is better", None, True, None, None, api_name="/arena_vote")
    assert store.rows()[-1]["winner"] == "model_a" and store.count() == before + 2  # the tie yields to A
    db = sqlite3.connect(settings.votes_db)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"


def test_streamed_answers_build_no_components_for_the_session(app, monkeypatch):
    """Gradio answers an update dict (gr.skip() included) by building a new component for the session; a
    battle's streamed pieces carry plain values, so streaming costs no component builds (under load those
    builds were a third of the Space's CPU)."""
    import gradio as gr

    demo, url = app
    built = []
    for cls in (gr.Textbox, gr.Markdown, gr.Button, gr.Radio, gr.Chatbot):
        init = cls.__init__
        monkeypatch.setattr(cls, "__init__", lambda self, *a, _init=init, _cls=cls, **k: (
            built.append(_cls.__name__), _init(self, *a, **k))[1])
    client = Client(url, verbose=False)
    job = client.submit("Zer da euskara?", api_name="/arena_send")
    updates = list(job)
    assert job.status().success and len(updates) >= 3  # it streamed
    assert built == []


def test_a_vote_while_the_answers_stream_is_refused(app):
    """The models are held mid-battle (their generation locks taken), so the battle is certainly streaming."""
    demo, url = app
    engines = [b.engine for b in demo.hubtool.backends.values()]
    client = Client(url, verbose=False)
    for engine in engines:
        engine.lock.acquire()
    try:
        job = client.submit("Kaixo", api_name="/arena_send")
        while not job.outputs():  # the battle has started streaming (its first update arrived)
            assert not job.done(), job.exception()
            threading.Event().wait(0.05)
        with pytest.raises(Exception, match="Wait until both answers are complete"):
            client.predict("A is better", "A is better", None, True, None, None, api_name="/arena_vote")
        with pytest.raises(Exception, match="still answering"):
            client.predict("Beste bat", api_name="/arena_send")
    finally:
        for engine in engines:
            engine.lock.release()
    job.result()
    client.predict("A is better", "A is better", None, True, None, None, api_name="/arena_vote")
    assert demo.hubtool.store.rows()[-1]["winner"] == "model_a"


def test_leaderboard_shows_ratings_intervals_matrices_and_contributors(app):
    demo, url = app
    client = Client(url, verbose=False)
    for overall in ("A is better", "B is better", "A is better", "Tie", "A is better", "Both are bad"):
        client.predict(api_name="/arena_new")
        client.predict("Kaixo", api_name="/arena_send")
        client.predict(overall, overall, None, True, None, None, api_name="/arena_vote")
    ratings, win_rate, battles, contributors = client.predict("overall", api_name="/leaderboard")
    votes = demo.hubtool.store.rows()
    # two models: the Bradley-Terry maximum-likelihood ratings have a closed form (ties count half a win)
    names = sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes})
    wins = {m: sum((v["winner"] == "model_a" and v["model_a"] == m) or (v["winner"] == "model_b" and v["model_b"] == m)
                   or (v["winner"] in ("tie", "tie (bothbad)")) * 0.5 for v in votes) for m in names}
    p = wins[names[0]] / len(votes)
    gap = 400 * np.log10(p / (1 - p))
    expected = {names[0]: 1000 + gap / 2, names[1]: 1000 - gap / 2}
    header = ratings["headers"]
    assert header == ["rank", "model", "rating", "ci_low", "ci_high", "battles"]
    for row in ratings["data"]:
        record = dict(zip(header, row))
        assert record["rating"] == pytest.approx(expected[record["model"]], abs=0.01)
        assert record["ci_low"] < record["rating"] < record["ci_high"]  # a real interval, around the rating
        assert record["battles"] == len(votes)
    assert [r[1] for r in ratings["data"]] == sorted(expected, key=expected.get, reverse=True)
    for matrix in (win_rate, battles):
        cells = {row[0]: dict(zip(matrix["headers"][1:], row[1:])) for row in matrix["data"]}
        assert all(cells[m][m] == "" for m in names)  # nobody plays themselves: blank, not 0
    rate = {row[0]: dict(zip(win_rate["headers"][1:], row[1:])) for row in win_rate["data"]}
    assert float(rate[names[0]][names[1]]) == pytest.approx(p, abs=0.005)
    count = {row[0]: dict(zip(battles["headers"][1:], row[1:])) for row in battles["data"]}
    assert int(count[names[0]][names[1]]) == len(votes)
    assert contributors["data"] == []  # anonymous votes: no contributor
    content = client.predict("content", api_name="/leaderboard")[0]
    assert {r[1] for r in content["data"]} == set(names)


def test_a_signed_in_voter_gets_a_pseudonym_a_stored_profile_and_a_vote_limit(arena_settings, tmp_path):
    import hashlib
    import hmac

    from app import create_demo
    from settings import parse_settings

    settings = parse_settings({**arena_settings, "auth": "gradio", "vote_limit": 10, "vote_limit_window_s": 3600,
                               "votes_db": str(tmp_path / "votes.sqlite"), "max_new_tokens": 2})
    demo = create_demo(settings, seed=1, accounts=[("ane", "pw-ane"), ("bob", "pw-bob")])
    store = demo.hubtool.store
    with serving(demo) as url:
        with pytest.raises(Exception):
            Client(url, verbose=False, auth=("ane", "wrong"))
        ane = Client(url, verbose=False, auth=("ane", "pw-ane"))
        for i in range(10):
            ane.predict(api_name="/arena_new")
            ane.predict(f"Galdera {i}", api_name="/arena_send")
            # the profile is given with the first vote only; later votes carry the stored one
            ane.predict("A is better", "Tie", None, True, "B1-B2" if i == 0 else None, "Bachelor" if i == 0 else None,
                        api_name="/arena_vote")
        ane.predict(api_name="/arena_new")
        ane.predict("Galdera 10", api_name="/arena_send")
        with pytest.raises(Exception, match=r"You have cast 10 votes in the last 60 min.*You can vote again in"):
            ane.predict("A is better", "Tie", None, True, None, None, api_name="/arena_vote")
        bob = Client(url, verbose=False, auth=("bob", "pw-bob"))  # another person from the same address
        bob.predict("Kaixo", api_name="/arena_send")
        bob.predict("B is better", "B is better", None, True, "C1-C2", "Vocational", api_name="/arena_vote")
        board = ane.predict("overall", api_name="/leaderboard")[3]
    rows = store.rows()
    assert len(rows) == 11
    salt = (tmp_path / "pseudonym.salt").read_bytes().strip()
    pseudonyms = {name: str(int.from_bytes(hmac.new(salt, name.encode(), hashlib.sha256).digest()[:8], "big",
                                           signed=True)) for name in ("ane", "bob")}
    assert [r["username"] for r in rows] == [pseudonyms["ane"]] * 10 + [pseudonyms["bob"]]
    assert all(re.match(USERNAME_PATTERN, r["username"]) for r in rows)
    assert {(r["user_language"], r["user_education"]) for r in rows[:10]} == {("B1-B2", "Bachelor")}
    assert (rows[10]["user_language"], rows[10]["user_education"]) == ("C1-C2", "Vocational")
    assert store.profile(pseudonyms["ane"]) == {"user_language": "B1-B2", "user_education": "Bachelor"}
    assert board["data"] == [[1, pseudonyms["ane"], 10], [2, pseudonyms["bob"], 1]]


def test_anonymous_votes_behind_a_proxy_are_limited_per_visitor_not_per_proxy(app, arena_settings, tmp_path,
                                                                             monkeypatch):
    """A hosted Space sees its proxy as the TCP peer of every visitor: with `proxy_hops: 1` the vote limit
    counts the address the proxy appended to X-Forwarded-For, never one the client wrote itself; without it
    (the default off a Space) the header is ignored.

    uvicorn itself trusts X-Forwarded-For from 127.0.0.1 (a proxy on the same machine); here it trusts no
    address, as on a Space, where the proxy's address is not one uvicorn knows."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")
    from app import create_demo
    from settings import parse_settings

    from hub_tools.serving.space_loadtest import GradioSession

    def vote(url: str, *forwarded_for: str) -> str:
        """One battle and vote; each argument is one X-Forwarded-For line of every request."""
        session = GradioSession(url)
        session.http.headers = httpx.Headers([("X-Forwarded-For", line) for line in forwarded_for])
        try:
            session.call("arena_send", "Kaixo")
            session.call("arena_vote", "A is better", "A is better", None, True, None, None)
            return "stored"
        except RuntimeError as err:
            return "refused" if "Your network address has sent 1 vote in the last 60 min" in str(err) else f"error: {err}"
        finally:
            session.close()

    base = {**arena_settings, "vote_limit": 1, "vote_limit_window_s": 3600, "max_new_tokens": 2}
    backends = app[0].hubtool.backends  # the models the module's app loaded
    demo = create_demo(parse_settings({**base, "proxy_hops": 1, "votes_db": str(tmp_path / "a.sqlite")}),
                       backends=backends, seed=1)
    with serving(demo) as url:
        results = [vote(url, "203.0.113.5"),                 # a visitor, as the proxy reports it
                   vote(url, "10.9.8.7, 198.51.100.7"),      # another; the left entry is what the client sent
                   vote(url, "203.0.113.5, 198.51.100.7"),   # the second visitor writing the first one's address
                   vote(url, "8.8.8.8, 198.51.100.7"),       # ... or any other address
                   vote(url, "6.6.6.6", "198.51.100.7"),     # ... or a line of its own before the proxy's line
                   vote(url, "203.0.113.5:4444"),            # the first visitor again, from another port
                   vote(url, "2001:db8:1:2::1"),             # an IPv6 visitor
                   vote(url, "2001:db8:1:2::ffff"),          # ... again, from another address of its /64
                   vote(url, "2001:db8:1:3::1")]             # another IPv6 network
    assert results == ["stored", "stored", "refused", "refused", "refused", "refused", "stored", "refused", "stored"]
    assert demo.hubtool.store.count() == 4

    demo = create_demo(parse_settings({**base, "proxy_hops": 0, "votes_db": str(tmp_path / "b.sqlite")}),
                       backends=backends, seed=1)
    with serving(demo) as url:
        results = [vote(url, "203.0.113.5"), vote(url, "198.51.100.7")]  # one TCP peer: one anonymous limit
    assert results == ["stored", "refused"]


def test_loadtest_command_paces_its_voters_and_calls_the_vote_outside_the_queue(app, arena_settings, tmp_path):
    """`hubtool space loadtest --reading --ramp`: voters who read before voting; the vote and the new round
    are answered on the request itself (queue=False), and the load test calls them so, as a browser does."""
    from app import create_demo
    from cli_helpers import cli
    from settings import parse_settings

    from hub_tools.serving.space_loadtest import GradioSession

    settings = {**arena_settings, "max_new_tokens": 2, "votes_db": str(tmp_path / "votes.sqlite")}
    demo = create_demo(parse_settings(settings), backends=app[0].hubtool.backends, seed=2)
    with serving(demo) as url:
        session = GradioSession(url)
        queued = {name: spec[2] for name, spec in session.endpoints.items()}
        assert queued["arena_vote"] is False and queued["arena_new"] is False and queued["arena_send"] is True
        posted = []
        session.http.event_hooks["request"] = [lambda request: posted.append(request.url.path)]
        session.call("arena_new")
        session.call("arena_send", "Kaixo")
        session.call("arena_vote", "A is better", "Tie", "A is better", True, None, None)
        session.close()
        joins = [p for p in posted if p.endswith("/queue/join")]
        assert [p.rsplit("/", 2)[-2:] for p in posted if "/run/" in p] == [["run", "arena_new"], ["run", "arena_vote"]]
        assert len(joins) == 1  # only the battle goes through the queue
        code, out = cli("space", "loadtest", url, "--voters", 3, "--votes", 6, "--reading", 0.05, 0.1, "--ramp",
                        0.1, "--json")
        assert code == 0, out
        assert out["acknowledged"] == 6 == demo.hubtool.store.count() - 1 and out["failed"] == 0
        assert out["reading_s"] == [0.05, 0.1] and out["ramp_s"] == 0.1
        assert out["wall_s"] >= 2 * 0.05  # each voter read for at least 0.05 s before each of its two votes
        code, out = cli("space", "loadtest", url, "--reading", 4, 2)
        assert code == 2 and "--reading" in out and "MIN 4 is above MAX 2" in out
    assert demo.hubtool.store.count() == 7  # the refused run cast nothing


def test_the_client_address_rule(monkeypatch):
    from identity import client_address, proxy_hops_default
    from settings import SettingsError, parse_settings

    assert client_address("10.0.0.2", "1.1.1.1, 2.2.2.2, 3.3.3.3", 0) == "10.0.0.2"
    assert client_address("10.0.0.2", "1.1.1.1, 2.2.2.2, 3.3.3.3", 1) == "3.3.3.3"
    assert client_address("10.0.0.2", "1.1.1.1, 2.2.2.2, 3.3.3.3", 2) == "2.2.2.2"
    assert client_address("10.0.0.2", "2.2.2.2", 3) == "2.2.2.2"  # fewer entries than hops: the leftmost
    assert client_address("10.0.0.2", " , ", 1) == client_address("10.0.0.2", None, 1) == "10.0.0.2"
    assert client_address(None, None, 0) == "unknown"
    assert client_address("10.0.0.2", "not-an-address", 1) == "10.0.0.2"  # garbage counts as the peer
    assert client_address("10.0.0.2", "[2001:db8::5]:443", 1) == "2001:db8::/64"
    assert client_address("::ffff:192.0.2.7", None, 0) == "192.0.2.7"
    assert client_address("192.0.2.7:5000", None, 0) == "192.0.2.7"
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert proxy_hops_default() == 0
    monkeypatch.setenv("SPACE_ID", "hitz/latxa-demo")
    assert proxy_hops_default() == 1
    models = [{"name": "a", "model": "x/y"}, {"name": "b", "model": "x/z"}]
    for bad in (-1, True, "1"):
        with pytest.raises(SettingsError, match="`proxy_hops` must be an integer >= 0"):
            parse_settings({"models": models, "proxy_hops": bad})


def test_settings_errors_name_the_file_and_field(tmp_path):
    from settings import SettingsError, load_settings, parse_settings

    with pytest.raises(SettingsError, match=r"models\[0\]: unknown field\(s\) revison"):
        parse_settings({"models": [{"name": "a", "model": "x/y", "revison": "main"}, {"name": "b", "model": "x/z"}]})
    with pytest.raises(SettingsError, match="arena needs at least two models"):
        parse_settings({"models": [{"name": "a", "model": "x/y"}]})
    with pytest.raises(SettingsError, match="backend 'vllm' is not one of"):
        parse_settings({"models": [{"name": "a", "model": "x/y", "backend": "vllm"}], "arena": False})
    with pytest.raises(SettingsError, match="auth 'password' is not one of none, gradio, hf_oauth"):
        parse_settings({"models": [{"name": "a", "model": "x/y"}], "arena": False, "auth": "password"})
    path = tmp_path / "space.yaml"
    path.write_text("models:\n  - {name: a, model: m, backend: openai}\n  - {name: b, model: n, backend: openai}\n")
    with pytest.raises(SettingsError, match="HUBTOOL_OPENAI_BASE_URL"):
        load_settings(path)
