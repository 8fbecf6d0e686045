"""The demo Space through its Gradio API (gradio_client), with tiny models loaded from the local hub."""
from __future__ import annotations

import sqlite3

import pytest
from space_helpers import message_text, publish_arena_models, serving, serving_asgi

from gradio_client import Client


@pytest.fixture(scope="module")
def arena_settings(hub, tiny_model_dir, tmp_path_factory):
    from huggingface_hub import HfApi

    from conftest import ADMIN_TOKEN

    return publish_arena_models(HfApi(endpoint=hub.url, token=ADMIN_TOKEN), tiny_model_dir,
                                tmp_path_factory.mktemp("arena"))


@pytest.fixture(scope="module")
def app(arena_settings):
    from app import create_demo
    from settings import parse_settings

    demo = create_demo(parse_settings(arena_settings), seed=0)
    with serving(demo) as url:
        yield demo, url


def test_chat_streams_tokens_from_a_model_on_the_local_hub(app):
    from hub_tools.serving.openai_server import TransformersBackend

    demo, url = app
    name = demo.hubtool.settings.models[0].name
    client = Client(url, verbose=False)
    job = client.submit("Kaixo! Zer moduz zaude?", [], name, "Euskaraz erantzun.", 16, 0.0, api_name="/chat")
    updates = [message_text(out[0][-1]) for out in job]
    assert job.status().success
    final = updates[-1]
    # streamed: several growing partial answers before the last one
    partial = [u for u in updates if u != final]
    assert len(set(updates)) >= 3, updates
    assert all(final.startswith(u) for u in partial)
    # the same text as a direct greedy generation with the adapter at that branch of the local hub
    spec = demo.hubtool.settings.models[0]
    engine = TransformersBackend(spec.model, adapter=spec.adapter, adapter_revision=spec.adapter_revision)
    prompt = engine.chat_prompt([{"role": "system", "content": "Euskaraz erantzun."},
                                 {"role": "user", "content": "Kaixo! Zer moduz zaude?"}])
    assert final == engine.complete([prompt], 16)[0].text != ""


def test_chat_streams_from_an_openai_compatible_endpoint(arena_settings, tmp_path):
    """The production backend (`vllm serve`); here hubtool's own OpenAI-compatible server stands in for it."""
    from app import create_demo
    from settings import parse_settings

    from hub_tools.serving.openai_server import TransformersBackend, create_app

    spec = arena_settings["models"][1]
    engine = TransformersBackend(spec["model"], adapter=spec["adapter"], adapter_revision=spec["adapter_revision"],
                                 name="served")
    with serving_asgi(create_app(engine)) as server:
        settings = parse_settings({"arena": False, "votes_db": str(tmp_path / "v.sqlite"), "models": [
            {"name": "remote", "backend": "openai", "model": "served", "base_url": f"{server}/v1"}]})
        with serving(create_demo(settings)) as url:
            job = Client(url, verbose=False).submit("Kaixo!", [], "remote", "", 12, 0.0, api_name="/chat")
            updates = [message_text(out[0][-1]) for out in job]
    expected = engine.complete([engine.chat_prompt([{"role": "user", "content": "Kaixo!"}])], 12)[0].text
    assert updates[-1] == expected != "" and len(set(updates)) >= 3


def test_chat_refuses_too_long_input(app):
    demo, url = app
    client = Client(url, verbose=False)
    too_long = "a" * (demo.hubtool.settings.max_input_chars + 1)
    with pytest.raises(Exception, match="limit is"):
        client.predict(too_long, [], demo.hubtool.settings.models[0].name, "", 4, 0.0, api_name="/chat")


def test_arena_round_records_the_vote_with_the_right_models_and_winners(app):
    demo, url = app
    store = demo.hubtool.store
    before = store.count()
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="Start a battle first"):
        client.predict("A is better", "A is better", "A is better", True, "", "", api_name="/arena_vote")
    chat_a, chat_b, status = client.predict("Zer da euskara?", api_name="/arena_send")
    assert "Vote" in status
    answer_a, answer_b = message_text(chat_a[-1]), message_text(chat_b[-1])
    with pytest.raises(Exception, match="consent"):
        client.predict("A is better", "B is better", "Tie", False, "", "", api_name="/arena_vote")
    reveal = client.predict("A is better", "B is better", "Both are bad", True, "C1", "master", api_name="/arena_vote")
    row = store.rows()[-1]
    assert store.count() == before + 1
    # the revealed names are the stored models, which are two different variants of the settings
    assert f"**Model A:** {row['model_a']}" in reveal and f"**Model B:** {row['model_b']}" in reveal
    assert {row["model_a"], row["model_b"]} == {m.name for m in demo.hubtool.settings.models}
    assert (row["winner_content"], row["winner_language"], row["winner"]) == ("model_a", "model_b", "tie (bothbad)")
    assert (row["user_language"], row["user_education"]) == ("C1", "master")
    system = {"role": "system", "content": demo.hubtool.settings.system_prompt}
    assert row["conv_a"] == [system, {"role": "user", "content": "Zer da euskara?"},
                             {"role": "assistant", "content": answer_a}]
    assert row["conv_b"][-1] == {"role": "assistant", "content": answer_b}
    # a second click on the same battle is stored once
    again = client.predict("A is better", "B is better", "Both are bad", True, "C1", "master", api_name="/arena_vote")
    assert "already recorded" in again and store.count() == before + 1
    # the vote is in the SQLite file, in WAL mode, with the schema version
    db = sqlite3.connect(demo.hubtool.settings.votes_db)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    assert db.execute("SELECT winner FROM votes WHERE id=?", (row["id"],)).fetchone()[0] == "tie (bothbad)"


def test_leaderboard_shows_the_bradley_terry_ranking_of_the_stored_votes(app):
    from recipes.preferences.ratings import Battles, rank

    demo, url = app
    client = Client(url, verbose=False)
    for overall in ("A is better", "B is better", "A is better", "Tie"):
        client.predict("Kaixo", api_name="/arena_send")
        client.predict(overall, "Tie", "A is better", True, "", "", api_name="/arena_vote")
    table, win_rate, battles = client.predict("overall", api_name="/leaderboard")
    votes = demo.hubtool.store.rows()
    expected = rank(Battles.from_records(votes), bootstrap_rounds=demo.hubtool.settings.bootstrap_rounds).table()
    assert [row[1] for row in table["data"]] == [r["model"] for r in expected]
    assert [row[2] for row in table["data"]] == [r["rating"] for r in expected]
    assert [row[5] for row in table["data"]] == [r["battles"] for r in expected] == [len(votes)] * 2
    assert win_rate["type"] == battles["type"] == "matplotlib" and win_rate["plot"]


def test_settings_errors_name_the_file_and_field(tmp_path):
    from settings import SettingsError, load_settings, parse_settings

    with pytest.raises(SettingsError, match=r"models\[0\]: unknown field\(s\) revison"):
        parse_settings({"models": [{"name": "a", "model": "x/y", "revison": "main"}, {"name": "b", "model": "x/z"}]})
    with pytest.raises(SettingsError, match="arena needs at least two models"):
        parse_settings({"models": [{"name": "a", "model": "x/y"}]})
    with pytest.raises(SettingsError, match="backend 'vllm' is not one of"):
        parse_settings({"models": [{"name": "a", "model": "x/y", "backend": "vllm"}], "arena": False})
    path = tmp_path / "space.yaml"
    path.write_text("models:\n  - {name: a, model: m, backend: openai}\n  - {name: b, model: n, backend: openai}\n")
    with pytest.raises(SettingsError, match="HUBTOOL_OPENAI_BASE_URL"):
        load_settings(path)
