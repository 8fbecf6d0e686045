"""Arena votes: durable idempotent store, batched exactly-once export, and a preference dataset whose
schema is the reference dataset's (HiTZ/ebaluatoia, written down in arena_reference.py)."""
from __future__ import annotations

import json
import re
import sqlite3
import sys
import threading
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from arena_reference import (CARD_FEATURES_YAML, PERIOD_CONFIG_PATTERN, SHOWN_EDUCATION_LEVELS,
                             SHOWN_LANGUAGE_LEVELS, TIMESTAMP_PATTERN, USERNAME_PATTERN, UUID_PATTERN, VIEWER_ROWS)

from hub_tools.samples.tiny_models import sample_sentences

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "space"))
from votes import Vote, VoteStore, vote_exporter  # noqa: E402

from recipes.preferences.build import build_preferences, load_votes  # noqa: E402
from recipes.preferences.schema import EDUCATION_LEVELS, LANGUAGE_LEVELS  # noqa: E402

MODELS = ["exp_2_111", "exp_2_101", "exp_1_111"]
WINNERS = ["model_a", "model_a", "model_b", "tie", "tie (bothbad)"]
REFERENCE = datasets.Features._from_yaml_list(yaml.safe_load(CARD_FEATURES_YAML))


def make_vote(i: int, username: str | None = "ane", profile: bool = True, month: int = 3) -> Vote:
    s = sample_sentences()
    a, b = MODELS[i % 3], MODELS[(i + 1) % 3]
    prompt = [{"role": "system", "content": "Euskaraz erantzun."},
              {"role": "user", "content": f"{s[i % 100]} Idatzi iruzkin bat, mesedez."}]
    follow = [{"role": "user", "content": "Eta gehiago?"}] if i % 4 == 0 else []
    conv_a = prompt + [{"role": "assistant", "content": f"{s[(i + 3) % 100]} {s[(i + 5) % 100]}"}]
    conv_b = prompt + [{"role": "assistant", "content": f"{s[(i + 7) % 100]} Idatzi ane@adibidea.eus helbidera."}]
    if follow:
        conv_a, conv_b = conv_a + follow + [conv_a[-1]], conv_b + follow + [conv_b[-1]]
    return Vote(model_a=a, model_b=b, conv_a=conv_a, conv_b=conv_b,
                winner=WINNERS[i % 5], winner_content=WINNERS[(i + 1) % 5], winner_language=WINNERS[i % 3],
                username=username, user_language=("C1-C2" if i % 2 else "B1-B2") if profile else None,
                user_education="Bachelor" if profile else None,
                hyperparameters={"model_a": {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 64, "seed": i},
                                 "model_b": {"temperature": 0.3, "top_p": 0.9, "max_new_tokens": 32, "seed": i + 1}},
                timestamp=f"2025-{month:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00.{i:06d}")


def store_with(tmp_path: Path, votes: list[Vote], name: str = "votes.sqlite") -> Path:
    store = VoteStore(tmp_path / name)
    for v in votes:
        store.add(v)
    return tmp_path / name


def test_votes_are_durable_and_idempotent(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    vote = make_vote(1)
    assert re.match(UUID_PATTERN, vote.id) and re.match(TIMESTAMP_PATTERN, Vote("a", "b", [], [], "tie").timestamp)
    assert store.add(vote) is True and store.add(vote) is False  # a double submission is stored once
    assert store.count() == 1
    with pytest.raises(ValueError, match="winner must be one of"):
        store.add(Vote(model_a="a", model_b="b", conv_a=[], conv_b=[], winner="both"))
    reopened = VoteStore(tmp_path / "votes.sqlite")
    row = reopened.rows()[0]
    assert reopened.count() == 1 and row["conv_a"] == vote.conv_a and row["hyperparameters"] == vote.hyperparameters
    reopened.save_profile("u1", "C1-C2", None)
    reopened.save_profile("u1", None, "Bachelor")  # an empty answer keeps the stored one
    assert reopened.profile("u1") == {"user_language": "C1-C2", "user_education": "Bachelor"}
    assert reopened.profile("nobody") is None


def test_a_schema_1_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES('schema_version', '1');
        CREATE TABLE votes(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, username TEXT,
            user_language TEXT, user_education TEXT, timestamp TEXT NOT NULL, model_a TEXT NOT NULL,
            model_b TEXT NOT NULL, conv_a TEXT NOT NULL, conv_b TEXT NOT NULL, winner TEXT NOT NULL,
            winner_content TEXT, winner_language TEXT);
        INSERT INTO votes(id, username, timestamp, model_a, model_b, conv_a, conv_b, winner)
            VALUES('0123456789abcdef0123456789abcdef', 'ane', '2025-03-19T07:07:35+00:00', 'a', 'b',
                   '[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]',
                   '[{"role": "user", "content": "x"}, {"role": "assistant", "content": "z"}]', 'model_a');
    """)
    db.close()
    store = VoteStore(path)
    assert store.rows()[0]["hyperparameters"] is None and store.add(make_vote(0))
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == "2"


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
    assert store.contributors()[0][1] == 20 and len(store.contributors()) == 50


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
            store.add(make_vote(i, username=None, profile=False))
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
    loaded = load_votes(repo)
    assert sorted(v["id"] for v in loaded) == sorted(ids)
    assert all(v["hyperparameters"]["model_b"]["top_p"] == 0.9 for v in loaded)


def _features(out: Path, config: str) -> datasets.Features:
    return datasets.Features.from_arrow_schema(pq.read_schema(out / "data" / config / "train-00000-of-00001.parquet"))


def test_the_dataset_has_the_reference_features_names_dtypes_and_vocabulary(tmp_path):
    votes = load_votes(store_with(tmp_path, [make_vote(i, username=f"user{i % 7}") for i in range(60)]))
    out = build_preferences(votes, tmp_path / "prefs", "eu-arena", "eu", salt=b"secret-salt", include_raw=True,
                            bootstrap_rounds=50, source="votes.sqlite")
    for config in ("25-03", "25-03-sanitized"):  # collection period of the votes, as the reference names it
        assert re.match(PERIOD_CONFIG_PATTERN, config)
        features = _features(out, config)
        assert list(features) == list(REFERENCE)  # name by name, in the reference's order
        for name in REFERENCE:
            assert features[name] == REFERENCE[name], name  # dtype by dtype
        loaded = datasets.load_dataset(str(out), config, split="train", cache_dir=str(tmp_path / "c"))
        assert loaded.features == REFERENCE
    default = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c"))
    rows = default.to_list()
    assert {r["username"] for r in rows}.isdisjoint({f"user{i}" for i in range(7)})  # sanitized is the default
    for row in rows:
        assert re.match(UUID_PATTERN, row["id"]) and re.match(USERNAME_PATTERN, row["username"])
        assert re.match(TIMESTAMP_PATTERN, row["timestamp"]) and row["timestamp"].startswith("2025-03-")
        assert row["user_language"] in LANGUAGE_LEVELS and row["user_education"] in EDUCATION_LEVELS
    assert set(SHOWN_LANGUAGE_LEVELS) <= set(LANGUAGE_LEVELS) and set(SHOWN_EDUCATION_LEVELS) <= set(EDUCATION_LEVELS)
    for row in VIEWER_ROWS:  # the reference's own values have the forms the patterns describe
        assert re.match(UUID_PATTERN, row[0]) and re.match(USERNAME_PATTERN, row[1])
        assert re.match(TIMESTAMP_PATTERN, row[4])
    assert len({r["username"] for r in rows}) == 7
    assert all("@" not in m["content"] for r in rows for m in r["conv_b"])
    assert rows[0]["conv_a"][0] == {"role": "system", "content": "Euskaraz erantzun."}
    assert max(len(r["conv_a"]) for r in rows) == 5  # follow-up turns kept
    raw = pq.read_table(out / "data" / "25-03" / "train-00000-of-00001.parquet").to_pylist()
    assert raw[0]["username"] == "user0" and "ane@adibidea.eus" in raw[0]["conv_b"][-1]["content"]


def test_features_stay_strings_when_no_voter_filled_a_profile(tmp_path):
    votes = [make_vote(i, username=None, profile=False) for i in range(10)]
    out = build_preferences(load_votes(store_with(tmp_path, votes)), tmp_path / "p", "eu-arena", "eu", salt=b"s",
                            include_raw=True, bootstrap_rounds=0)
    for config in ("25-03", "25-03-sanitized"):
        assert _features(out, config) == REFERENCE
        table = pq.read_table(out / "data" / config / "train-00000-of-00001.parquet")
        assert set(table.column("username").to_pylist()) == {""} == set(table.column("user_language").to_pylist())


def test_older_values_are_written_in_the_reference_form(tmp_path):
    old = {"id": "0123456789abcdef0123456789abcdef", "username": "ane", "user_language": "C1",
           "user_education": "master", "timestamp": "2025-03-19T08:07:35+01:00", "model_a": "a", "model_b": "b",
           "conv_a": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
           "conv_b": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "z"}],
           "winner": "model_a", "winner_content": "model_a", "winner_language": None}
    out = build_preferences([old], tmp_path / "p", "x", "eu", salt=b"s", include_raw=True)
    row = pq.read_table(out / "data" / "25-03" / "train-00000-of-00001.parquet").to_pylist()[0]
    assert row["id"] == "01234567-89ab-cdef-0123-456789abcdef"
    assert (row["user_language"], row["user_education"]) == ("C1-C2", "Bachelor")
    assert row["timestamp"] == "2025-03-19T07:07:35.000000" and row["winner_language"] == ""
    with pytest.raises(ValueError, match="user_language 'fluent' is not one of C1-C2, B1-B2, A1-A2"):
        build_preferences([{**old, "user_language": "fluent"}], tmp_path / "q", "x", "eu", salt=b"s")


def test_two_releases_concatenate(tmp_path):
    march = [make_vote(i, username=f"user{i % 3}") for i in range(12)]
    april = [make_vote(100 + i, username=None, profile=False, month=4) for i in range(8)]  # nobody filled a profile
    loaded = {}
    for name, votes in (("r1", march), ("r2", april)):
        out = build_preferences(load_votes(store_with(tmp_path, votes, f"{name}.sqlite")), tmp_path / name, name,
                                "eu", salt=b"s", bootstrap_rounds=0)
        period = "25-03" if name == "r1" else "25-04"
        for view in ("sanitized", "dpo", "kto", "hyperparameters"):
            loaded[name, view] = datasets.load_dataset(str(out), f"{period}-{view}", split="train",
                                                       cache_dir=str(tmp_path / "c"))
    for view in ("sanitized", "dpo", "kto", "hyperparameters"):
        both = datasets.concatenate_datasets([loaded["r1", view], loaded["r2", view]])
        assert len(both) == len(loaded["r1", view]) + len(loaded["r2", view]) > 0
    assert datasets.concatenate_datasets([loaded["r1", "sanitized"], loaded["r2", "sanitized"]]).features == REFERENCE


def test_dpo_kto_and_hyperparameter_views_rankings_and_card(tmp_path):
    from huggingface_hub import DatasetCard

    from hub_tools.publish.cards import CardContext, render_card
    from hub_tools.artifacts.provenance import read_provenance
    from hub_tools.validate import validate_artifact

    votes = load_votes(store_with(tmp_path, [make_vote(i, username=f"user{i % 7}") for i in range(60)]))
    out = build_preferences(votes, tmp_path / "prefs", "eu-arena", "eu", salt=b"secret-salt", bootstrap_rounds=50,
                            source="votes.sqlite")
    report = validate_artifact(out)
    assert report.ok(), [f.to_dict() for f in report.findings]
    pairs = pq.read_table(out / "data" / "25-03-dpo" / "train-00000-of-00001.parquet").to_pylist()
    decided = [v for v in votes if v["winner"] in ("model_a", "model_b")]
    assert len(pairs) == len(decided)  # ties and both-bad carry no pairwise preference
    first = decided[0]
    winner_conv = first["conv_a"] if first["winner"] == "model_a" else first["conv_b"]
    assert pairs[0]["chosen"][0]["content"].split(" Idatzi ")[0] == winner_conv[-1]["content"].split(" Idatzi ")[0]
    assert pairs[0]["prompt"][-1]["role"] == "user"
    unpaired = pq.read_table(out / "data" / "25-03-kto" / "train-00000-of-00001.parquet").to_pylist()
    ties = [v for v in votes if v["winner"] == "tie"]
    assert len(unpaired) == 2 * len(votes)
    assert [u["label"] for u in unpaired if u["id"].startswith(ties[0]["id"])] == [True, True]
    sampling = pq.read_table(out / "data" / "25-03-hyperparameters" / "train-00000-of-00001.parquet").to_pylist()
    sanitized = pq.read_table(out / "data" / "25-03-sanitized" / "train-00000-of-00001.parquet").to_pylist()
    assert [{k: v for k, v in r.items() if k != "hyperparameters"} for r in sampling] == sanitized
    assert sampling[5]["hyperparameters"] == {"model_a": {"max_new_tokens": 64, "seed": 5, "temperature": 0.7,
                                                          "top_p": 0.95},
                                              "model_b": {"max_new_tokens": 32, "seed": 6, "temperature": 0.3,
                                                          "top_p": 0.9}}
    prov = read_provenance(out)
    assert set(prov.statistics["rankings"]) == {"overall", "content", "language"}
    assert prov.statistics["pii_replacements"]["email"] == 60 + 15  # 15 follow-ups repeat the answer
    assert "secret-salt" not in json.dumps(prov.model_dump())
    card = DatasetCard(render_card(out, CardContext(name="eu-arena", kind="preferences", repo_id="hitz/eu-arena",
                                                    license="cc-by-4.0", languages=["eu"])))
    top = prov.statistics["rankings"]["overall"][0]
    assert "## Rankings" in card.text and f"| 1 | {top['model']} | {top['rating']} |" in card.text
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert set(configs) == {"25-03-sanitized", "25-03-dpo", "25-03-kto", "25-03-hyperparameters"}
    assert configs["25-03-sanitized"].get("default") is True
    assert [c for c in configs.values() if c.get("default")] == [configs["25-03-sanitized"]]


def test_a_salt_is_required(tmp_path):
    with pytest.raises(ValueError, match="secret salt"):
        build_preferences([make_vote(0).__dict__], tmp_path / "p", "x", "eu", salt=b"")


def test_cli_builds_from_sqlite_with_the_salt_from_the_environment(tmp_path):
    from click.testing import CliRunner

    from hub_tools.cli import main

    store_with(tmp_path, [make_vote(i) for i in range(20)])
    args = ["recipe", "preferences", "--votes", str(tmp_path / "votes.sqlite"), "--out", str(tmp_path / "p"),
            "--name", "eu-arena", "--bootstrap", "20"]
    refused = CliRunner(env={"HUBTOOL_PREFERENCES_SALT": ""}).invoke(main, args)
    assert refused.exit_code == 2 and "no salt" in refused.output
    result = CliRunner(env={"HUBTOOL_PREFERENCES_SALT": "s3cret"}).invoke(main, args + ["--period", "25-05"])
    assert result.exit_code == 0, result.output
    assert "overall: 1." in result.output and "s3cret" not in (tmp_path / "p" / "hubtool.json").read_text()
    assert (tmp_path / "p" / "data" / "25-05-sanitized").is_dir()
