"""A crowd in the arena: 50 concurrent voters cast 1,000 votes through the Gradio API; none is lost, and the
batched export to a Hub dataset repo holds each exactly once.

The work is bounded (1,000 battles of 2 tokens per answer); there is no assertion on time, and the only
timeouts are far safety nets, so a busy 2-core machine makes the test slower, never red."""
from __future__ import annotations

import json

import datasets
import pytest
from space_helpers import publish_arena_models, serving


@pytest.mark.slow
def test_fifty_voters_cast_a_thousand_votes_and_each_is_exported_once(hub, api, tiny_model_dir, tmp_path, repo_name):
    from app import create_demo
    from settings import parse_settings

    from hub_tools.serving.space_loadtest import run_load

    settings = publish_arena_models(api, tiny_model_dir, tmp_path)
    votes_repo = f"hitz/{repo_name}-votes"
    # every simulated voter comes from 127.0.0.1: the per-address vote limit is off for this crowd
    settings.update(max_new_tokens=2, votes_repo=votes_repo, export_every_minutes=600, vote_limit=0)
    demo = create_demo(parse_settings(settings), seed=1)
    state = demo.hubtool
    try:
        with serving(demo) as url:
            result = run_load(url, voters=50, votes=1000, seed=3, timeout_s=1800)
        assert result.errors == [] and result.failed == 0
        assert result.acknowledged == 1000 == state.store.count()  # nothing lost, nothing doubled
        assert set(result.vote_latency_ms) >= {"p50", "p99"} and result.vote_latency_ms["p50"] > 0
        state.exporter.trigger().result()
        state.exporter.trigger().result()  # nothing new: no second copy
    finally:
        if state.exporter:
            state.exporter.stop()
    commits = [c for c in api.list_repo_commits(votes_repo, repo_type="dataset") if c.title != "initial commit"]
    assert len(commits) <= 3  # the README and the batch: not one commit per vote
    exported = datasets.load_dataset(votes_repo, split="train", cache_dir=str(tmp_path / "cache"))
    ids = exported["id"]
    assert len(ids) == len(set(ids)) == 1000
    assert set(ids) == {row["id"] for row in state.store.rows()}
    assert set(exported["model_a"]) | set(exported["model_b"]) == {m["name"] for m in settings["models"]}
    assert all(json.loads(h)["model_a"]["max_new_tokens"] == 2 for h in exported["hyperparameters"])

