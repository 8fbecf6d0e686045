"""Arena votes: durable idempotent store, batched exactly-once export, preference dataset and rankings."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from hub_tools.samples.tiny_models import sample_sentences

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "space"))
from votes import Vote, VoteStore, vote_exporter  # noqa: E402

from recipes.preferences.build import ARENA_FIELDS, build_preferences, load_votes  # noqa: E402

MODELS = ["exp_2_111", "exp_2_101", "exp_1_111"]
WINNERS = ["model_a", "model_a", "model_b", "tie", "tie (bothbad)"]


def make_vote(i: int, username: str | None = "ane") -> Vote:
    s = sample_sentences()
    a, b = MODELS[i % 3], MODELS[(i + 1) % 3]
    prompt = [{"role": "system", "content": "Euskaraz erantzun."},
              {"role": "user", "content": f"{s[i % 100]} Idatzi iruzkin bat, mesedez."}]
    return Vote(model_a=a, model_b=b,
                conv_a=prompt + [{"role": "assistant", "content": f"{s[(i + 3) % 100]} {s[(i + 5) % 100]}"}],
                conv_b=prompt + [{"role": "assistant", "content": f"{s[(i + 7) % 100]} Idatzi ane@adibidea.eus helbidera."}],
                winner=WINNERS[i % 5], winner_content=WINNERS[(i + 1) % 5], winner_language=WINNERS[i % 3],
                username=username, user_language="C1" if i % 2 else None, user_education="university")


def test_votes_are_durable_and_idempotent(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    vote = make_vote(1)
    assert store.add(vote) is True and store.add(vote) is False  # a double submission is stored once
    assert store.count() == 1
    with pytest.raises(ValueError, match="winner must be one of"):
        store.add(Vote(model_a="a", model_b="b", conv_a=[], conv_b=[], winner="both"))
    reopened = VoteStore(tmp_path / "votes.sqlite")
    assert reopened.count() == 1 and reopened.rows()[0]["conv_a"] == vote.conv_a


def test_concurrent_voters_lose_nothing(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    acknowledged = []
    lock = threading.Lock()

    def voter(k: int) -> None:
        for j in range(20):
            ok = store.add(make_vote(k * 20 + j, username=f"user{k}"))
            with lock:
                acknowledged.append(ok)

    threads = [threading.Thread(target=voter, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(acknowledged) == 1000 and all(acknowledged) and store.count() == 1000


def test_export_is_batched_and_exactly_once(api, repo_name, tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    repo = f"hitz/{repo_name}"
    folder = tmp_path / "export"
    scheduler = vote_exporter(store, repo, folder, every_minutes=600, api=api)
    try:
        for i in range(30):
            store.add(make_vote(i))
        scheduler.trigger().result()
        for i in range(30, 45):
            store.add(make_vote(i))
        # a crash right after writing a batch, before the upload: the next export writes the same range again
        crashed = store.export_batch(folder)
        assert crashed is not None and crashed.name == "votes-0000000031-0000000045.jsonl"
        scheduler.trigger().result()
        scheduler.trigger().result()  # nothing new: no new batch
    finally:
        scheduler.stop()
    commits = [c for c in api.list_repo_commits(repo, repo_type="dataset") if c.title != "initial commit"]
    assert len(commits) <= 4  # the README, then batches: never one commit per vote
    remote = datasets.load_dataset(repo, split="train", cache_dir=str(tmp_path / "c"))  # as the community would
    ids = remote["id"]
    assert len(ids) == len(set(ids)) == 45 == store.count()
    assert sorted(v["id"] for v in load_votes(repo)) == sorted(ids)


def test_preference_dataset_views_rankings_and_card(tmp_path):
    from huggingface_hub import DatasetCard

    from hub_tools.artifacts.provenance import read_provenance
    from hub_tools.publish.cards import CardContext, render_card
    from hub_tools.validate import validate_artifact

    store = VoteStore(tmp_path / "votes.sqlite")
    for i in range(60):
        store.add(make_vote(i, username=f"user{i % 7}"))
    votes = load_votes(tmp_path / "votes.sqlite")
    out = build_preferences(votes, tmp_path / "prefs", "eu-arena", "eu", salt=b"secret-salt", include_raw=True,
                            bootstrap_rounds=50, source="votes.sqlite")
    report = validate_artifact(out)
    assert report.ok(), [f.to_dict() for f in report.findings]
    sanitized = pq.read_table(out / "data" / "arena_sanitized" / "train-00000-of-00001.parquet")
    assert sanitized.column_names == list(ARENA_FIELDS)  # the published arena's features
    rows = sanitized.to_pylist()
    assert {r["username"] for r in rows}.isdisjoint({f"user{i}" for i in range(7)})
    assert len({r["username"] for r in rows}) == 7
    assert all("@" not in m["content"] for r in rows for m in r["conv_b"])
    assert rows[0]["conv_a"][0] == {"role": "system", "content": "Euskaraz erantzun."}
    raw = pq.read_table(out / "data" / "arena" / "train-00000-of-00001.parquet").to_pylist()
    assert raw[0]["username"] == "user0" and "ane@adibidea.eus" in raw[0]["conv_b"][-1]["content"]
    pairs = pq.read_table(out / "data" / "trl_pairs" / "train-00000-of-00001.parquet").to_pylist()
    decided = [v for v in votes if v["winner"] in ("model_a", "model_b")]
    assert len(pairs) == len(decided)  # ties and both-bad carry no pairwise preference
    first = decided[0]
    winner_conv = first["conv_a"] if first["winner"] == "model_a" else first["conv_b"]
    assert pairs[0]["chosen"][0]["content"].split(" Idatzi ")[0] == winner_conv[-1]["content"].split(" Idatzi ")[0]
    assert pairs[0]["prompt"][-1]["role"] == "user"
    unpaired = pq.read_table(out / "data" / "trl_unpaired" / "train-00000-of-00001.parquet").to_pylist()
    ties = [v for v in votes if v["winner"] == "tie"]
    assert len(unpaired) == 2 * len(votes)
    assert [u["label"] for u in unpaired if u["id"].startswith(ties[0]["id"])] == [True, True]
    prov = read_provenance(out)
    assert set(prov.statistics["rankings"]) == {"overall", "content", "language"}
    assert prov.statistics["pii_replacements"]["email"] == 60
    assert "secret-salt" not in json.dumps(prov.model_dump())
    card = DatasetCard(render_card(out, CardContext(name="eu-arena", kind="preferences", repo_id="hitz/eu-arena",
                                                    license="cc-by-4.0", languages=["eu"])))
    top = prov.statistics["rankings"]["overall"][0]
    assert "## Rankings" in card.text and f"| 1 | {top['model']} | {top['rating']} |" in card.text
    assert {c["config_name"] for c in card.data.to_dict()["configs"]} == {"arena", "arena_sanitized", "trl_pairs",
                                                                          "trl_unpaired"}


def test_a_salt_is_required(tmp_path):
    with pytest.raises(ValueError, match="secret salt"):
        build_preferences([make_vote(0).__dict__], tmp_path / "p", "x", "eu", salt=b"")


def test_cli_builds_from_sqlite_with_the_salt_from_the_environment(tmp_path):
    from click.testing import CliRunner

    from hub_tools.cli import main

    store = VoteStore(tmp_path / "votes.sqlite")
    for i in range(20):
        store.add(make_vote(i))
    args = ["recipe", "preferences", "--votes", str(tmp_path / "votes.sqlite"), "--out", str(tmp_path / "p"),
            "--name", "eu-arena", "--bootstrap", "20"]
    refused = CliRunner(env={"HUBTOOL_PREFERENCES_SALT": ""}).invoke(main, args)
    assert refused.exit_code == 2 and "no salt" in refused.output
    result = CliRunner(env={"HUBTOOL_PREFERENCES_SALT": "s3cret"}).invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "overall: 1." in result.output and "s3cret" not in (tmp_path / "p" / "hubtool.json").read_text()
