"""`hubtool release --create-pr`: publishing to an organisation through pull requests, against the local hub.

carol has role "read" in the org: her release opens pull requests and stops before tagging. alice may
write: her release opens pull requests, merges them, tags, fills the collection and verifies."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi

from conftest import ALICE_TOKEN, CAROL_TOKEN
from hub_tools.artifacts.manifest import load_manifest
from hub_tools.cli import main
from hub_tools.publish.release import run_release
from sample_release import build_sample_release

pytestmark = pytest.mark.slow
BRANCHES = {("dataset", "basque-sample-corpus"): ["main"], ("dataset", "basque-sample-instructions"): ["main"],
            ("dataset", "basque-sample-preferences"): ["main"], ("model", "tiny-llama-eu"): ["main"],
            ("model", "tiny-llama-eu-instruct"): ["main", "exp_2_101", "exp_2_111"],
            ("space", "basque-sample-demo"): ["main"]}


def test_release_through_pull_requests(api: HfApi, tmp_path):
    ns = "hitz"  # the org where carol may only open pull requests
    manifest_path = build_sample_release(tmp_path / "rel", namespace=ns)
    for (rtype, name), branches in BRANCHES.items():  # maintainers created the repos and branches
        api.create_repo(f"{ns}/{name}", repo_type=rtype, space_sdk="gradio" if rtype == "space" else None)
        for branch in branches[1:]:
            api.create_branch(f"{ns}/{name}", repo_type=rtype, branch=branch)
    heads = {(t, n, b): api.repo_info(f"{ns}/{n}", repo_type=t, revision=b).sha
             for (t, n), bs in BRANCHES.items() for b in bs}

    result = CliRunner(env={"HF_TOKEN": CAROL_TOKEN}).invoke(
        main, ["release", str(manifest_path), "--create-pr", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tags_created"] == [] and data["collection"] is None and data["verified"] is None
    assert len(data["artifacts"]) == 7  # every artifact changes: one pull request each, none merged
    assert sorted(data["open_pull_requests"]) == sorted(a["pull_request"]["url"] for a in data["artifacts"])
    assert {(t, n, b): api.repo_info(f"{ns}/{n}", repo_type=t, revision=b).sha for t, n, b in heads} == heads
    corpus_prs = list(api.get_repo_discussions(f"{ns}/basque-sample-corpus", repo_type="dataset"))
    assert [(d.author, d.status, d.is_pull_request) for d in corpus_prs] == [("carol", "open", True)]

    # re-running proposes again and closes the superseded pull request: one open per artifact and version
    again = CliRunner(env={"HF_TOKEN": CAROL_TOKEN}).invoke(
        main, ["release", str(manifest_path), "--create-pr", "--only", "corpus", "--json"])
    assert again.exit_code == 0, again.output
    statuses = sorted((d.num, d.status) for d in api.get_repo_discussions(f"{ns}/basque-sample-corpus",
                                                                          repo_type="dataset"))
    assert [s for _, s in statuses] == ["closed", "open"]

    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)
    done = run_release(load_manifest(manifest_path), alice, create_pr=True, retries=1, backoff=0.01)
    assert done.open_pull_requests == []
    assert all(a.pull_request["merged"] for a in done.artifacts)
    assert len(done.tags_created) == 7 and done.collection is not None
    assert done.verify and all(v["ok"] for v in done.verify), [v for v in done.verify if not v["ok"]]
    for outcome in done.artifacts:
        info = alice.get_discussion_details(outcome.repo_id, outcome.pull_request["num"],
                                            repo_type=outcome.repo_type)
        assert info.status == "merged" and info.merge_commit_oid == outcome.head
        assert info.author == "alice" and info.target_branch == f"refs/heads/{outcome.branch}"
    # released: a re-run changes nothing and opens nothing
    rerun = run_release(load_manifest(manifest_path), alice, create_pr=True, verify=False)
    assert rerun.commits == 0 and rerun.open_pull_requests == [] and rerun.tags_created == []
    assert all(a.pull_request is None for a in rerun.artifacts)
