"""`hubtool push`, `release` and `verify` against the local hub, with injected faults."""
from __future__ import annotations

import fcntl
import json
import os
import re

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from cli_helpers import cli
from click.testing import CliRunner
from conftest import ADMIN_TOKEN
from huggingface_hub import HfApi
from sample_release import build_sample_release

from hub_tools.artifacts.manifest import load_manifest
from hub_tools.cli import main
from hub_tools.publish.release import ReleaseError, run_release

pytestmark = pytest.mark.slow
REPOS = [("dataset", "basque-sample-corpus"), ("dataset", "basque-sample-instructions"),
         ("dataset", "basque-sample-preferences"), ("model", "tiny-llama-eu"),
         ("model", "tiny-llama-eu-instruct"), ("space", "basque-sample-demo")]
REVISIONS = [("dataset", "basque-sample-corpus", "main"), ("dataset", "basque-sample-instructions", "main"),
             ("dataset", "basque-sample-preferences", "main"), ("model", "tiny-llama-eu", "main"),
             ("model", "tiny-llama-eu-instruct", "exp_2_101"), ("model", "tiny-llama-eu-instruct", "exp_2_111"),
             ("space", "basque-sample-demo", "main")]


def stats(hub) -> dict:
    return httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()


@pytest.fixture()
def manifest_path(tmp_path, repo_name):
    """A fresh sample release in its own namespace (so tests never share repos)."""
    ns = re.sub(r"[^a-z0-9]", "", repo_name.lower())[-20:] + "x"
    return build_sample_release(tmp_path / "rel", namespace=f"ns-{ns}")


def release_commits(api: HfApi, ns: str) -> dict[tuple, int]:
    """How many hubtool release commits each released revision has."""
    return {(t, n, b): sum(1 for c in api.list_repo_commits(f"{ns}/{n}", repo_type=t, revision=b)
                           if c.title.startswith("hubtool release"))
            for t, n, b in REVISIONS}


def tags_of(api: HfApi, ns: str) -> dict[str, list[str]]:
    out = {}
    for t, n in REPOS:
        try:
            out[n] = sorted(x.name for x in api.list_repo_refs(f"{ns}/{n}", repo_type=t).tags)
        except Exception:
            out[n] = []
    return out


def test_release_verify_and_rerun_changes_nothing(hub, api, manifest_path):
    ns = load_manifest(manifest_path).namespace
    before = stats(hub)
    code, out = cli("release", manifest_path, "--json")
    assert code == 0, out
    assert out["verified"] is True and out["commits"] == 7
    assert all(v["ok"] for v in out["verify"]) and len(out["verify"]) >= 20
    assert sorted(out["tags_created"]) == sorted([
        f"{ns}/basque-sample-corpus@v1.0", f"{ns}/basque-sample-instructions@v1.0",
        f"{ns}/basque-sample-preferences@v1.0", f"{ns}/tiny-llama-eu@v1.0",
        f"{ns}/tiny-llama-eu-instruct@v1.0-exp_2_101", f"{ns}/tiny-llama-eu-instruct@v1.0-exp_2_111",
        f"{ns}/basque-sample-demo@v1.0"])
    assert stats(hub)["commits"] - before["commits"] == 7
    # variants are branches of one model repo; main of that repo holds no weights
    refs = api.list_repo_refs(f"{ns}/tiny-llama-eu-instruct")
    assert {b.name for b in refs.branches} == {"main", "exp_2_101", "exp_2_111"}
    assert "adapter_model.safetensors" not in api.list_repo_files(f"{ns}/tiny-llama-eu-instruct")
    coll = api.get_collection(out["collection"])
    assert {(i.item_type, i.item_id) for i in coll.items} == {(t, f"{ns}/{n}") for t, n in REPOS}
    # 2 shards + hubtool.json + README.md + the card's pictures (languages, sources, words per row)
    assert out["artifacts"][0]["plan"]["summary"]["add"] == 7

    after_first = stats(hub)
    code, again = cli("release", manifest_path, "--json")
    assert code == 0 and again["commits"] == 0 and again["tags_created"] == [] and again["verified"] is True
    delta = {k: stats(hub)[k] - after_first[k] for k in after_first}
    assert delta == {"commits": 0, "lfs_bytes": 0, "regular_bytes": 0, "lfs_uploads": 0}
    assert all(a["plan"]["summary"]["upload_bytes"] == 0 for a in again["artifacts"])
    assert release_commits(api, ns) == {r: 1 for r in REVISIONS}

    code, checks = cli("verify", manifest_path, "--json")
    assert code == 0 and checks["ok"]


def test_changing_one_shard_reuploads_only_that_shard(hub, api, manifest_path):
    corpus = manifest_path.parent / "corpus" / "data"
    rows = pq.read_table(corpus / "train-00000-of-00001.parquet").to_pylist()
    (corpus / "train-00000-of-00001.parquet").unlink()
    pq.write_table(pa.Table.from_pylist(rows[:40]), corpus / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[40:]), corpus / "train-00001-of-00002.parquet")
    assert cli("release", manifest_path, "--json", "--no-verify")[0] == 0

    changed = corpus / "train-00001-of-00002.parquet"
    pq.write_table(pa.Table.from_pylist(rows[40:] + [{**rows[0], "id": "new", "text": "Esaldi berri bat da hau."}]),
                   changed)
    data = yaml.safe_load(manifest_path.read_text())
    data["version"] = "v1.1"  # tags never move: a changed artifact is a new version
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = stats(hub)
    code, out = cli("release", manifest_path, "--json")
    assert code == 0 and out["verified"], out
    delta = {k: stats(hub)[k] - before[k] for k in before}
    corpus_plan = out["artifacts"][0]["plan"]
    # the new row changes its shard, the card, and the pictures of rows per source and words per row
    pictures = {"card_images/sources.png", "card_images/words-per-row.png"}
    assert {c["path"]: c["action"] for c in corpus_plan["changes"]} == {
        "data/train-00001-of-00002.parquet": "change", "README.md": "change", **{p: "change" for p in pictures}}
    picture_bytes = sum(c["size"] for c in corpus_plan["changes"] if c["path"] in pictures)
    assert delta["lfs_uploads"] == 3 and delta["lfs_bytes"] == changed.stat().st_size + picture_bytes
    # the other shard, validation shard, hubtool.json, the languages picture
    assert corpus_plan["summary"]["unchanged"] == 4


def test_released_version_never_moves(hub, manifest_path):
    assert cli("release", manifest_path, "--json", "--no-verify")[0] == 0
    (manifest_path.parent / "space" / "app.py").write_text("# changed\nimport gradio\n")
    before = stats(hub)
    code, out = cli("release", manifest_path)
    assert code == 1 and "already has tag v1.0" in out and "new `version`" in out
    assert stats(hub)["commits"] == before["commits"]


def test_failed_commit_mid_release_then_rerun_completes(hub, api, manifest_path):
    manifest = load_manifest(manifest_path)
    ns = manifest.namespace
    hub.set_faults([{"method": "POST", "path_contains": "/commit/", "after": 2, "times": 50, "status": 500}])
    try:
        with pytest.raises(ReleaseError) as err:
            run_release(manifest, api, verify=False, retries=2, backoff=0.01)
        assert "500" in str(err.value)
    finally:
        hub.set_faults([])
    # two artifacts were pushed, the third failed: no repo carries a tag of this partial release
    assert all(tags == [] for tags in tags_of(api, ns).values())
    result = run_release(manifest, api, verify=True, retries=2, backoff=0.01)
    assert result.commits == 5 and all(v["ok"] for v in result.verify)
    assert release_commits(api, ns) == {r: 1 for r in REVISIONS}
    assert sum(len(t) for t in tags_of(api, ns).values()) == 7


def test_lost_commit_answers_are_not_committed_twice(hub, api, manifest_path):
    """The server commits, then the answer is lost (500): the retry re-plans and finds nothing to do."""
    manifest = load_manifest(manifest_path)
    hub.set_faults([{"method": "POST", "path_contains": "/commit/", "after": 0, "times": 3, "status": 500,
                     "when": "after"}])
    try:
        result = run_release(manifest, api, verify=False, retries=3, backoff=0.01)
    finally:
        hub.set_faults([])
    assert release_commits(api, manifest.namespace) == {r: 1 for r in REVISIONS}
    assert sum(a.attempts for a in result.artifacts) == len(result.artifacts) + 3


def test_validation_error_stops_before_first_upload(hub, api, manifest_path):
    adapter = manifest_path.parent / "models" / "exp_2_111" / "adapter_config.json"
    cfg = json.loads(adapter.read_text())
    cfg["base_model_name_or_path"] = "/home/me/checkpoints/base"
    adapter.write_text(json.dumps(cfg))
    before = stats(hub)
    code, out = cli("release", manifest_path, "--json")
    assert code == 1 and out["stage"] == "validate" and "HT205" in {f["code"] for f in out["findings"]}
    assert stats(hub) == before
    ns = load_manifest(manifest_path).namespace
    assert not any(api.repo_exists(f"{ns}/{n}", repo_type=t) for t, n in REPOS)


def test_dry_run_prints_the_plan_and_changes_nothing(hub, api, manifest_path):
    before = stats(hub)
    code, out = cli("release", manifest_path, "--dry-run")
    assert code == 0
    ns = load_manifest(manifest_path).namespace
    assert "(dry run)" in out
    for name in ("corpus", "instructions", "preferences", "base", "exp_2_101", "exp_2_111", "space"):
        assert re.search(rf"^  {name}: add +README\.md", out, re.M), name
    assert re.search(r"^  corpus: add +data/train-00000-of-00001\.parquet \(\d", out, re.M)
    assert re.search(r"^  exp_2_111: add +adapter_model\.safetensors", out, re.M)
    assert stats(hub) == before
    assert not any(api.repo_exists(f"{ns}/{n}", repo_type=t) for t, n in REPOS)
    code, plan = cli("release", manifest_path, "--dry-run", "--json")
    assert code == 0 and plan["dry_run"] and plan["commits"] == 0 and len(plan["artifacts"]) == 7


def test_concurrent_release_of_the_same_manifest_is_refused(hub, manifest_path):
    lock_dir = manifest_path.parent / ".hubtool"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / "release.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(str(os.getpid()))
        f.flush()
        code, out = cli("release", manifest_path)
    assert code == 1 and "another release" in out and str(os.getpid()) in out


def test_only_releases_one_artifact(hub, api, manifest_path):
    code, out = cli("release", manifest_path, "--only", "corpus", "--json")
    assert code == 0 and [a["name"] for a in out["artifacts"]] == ["corpus"] and out["verified"]
    code, out = cli("release", manifest_path, "--only", "nope")
    assert code == 1 and "--only names no artifact" in out


def test_push_plans_commits_once_and_removes_stale_files(hub, api, manifest_path, repo_name):
    folder = manifest_path.parent / "corpus"
    repo = f"hitz/{repo_name}"
    code, plan = cli("push", folder, "--repo", repo, "--dry-run", "--json")
    # 2 shards, hubtool.json, README.md and its 3 pictures
    assert code == 0 and plan["summary"]["add"] == 7 and not api.repo_exists(repo, repo_type="dataset")
    code, out = cli("push", folder, "--repo", repo, "--version", "v0.1", "--json")
    assert code == 0 and out["commit"]
    commit = api.list_repo_commits(repo, repo_type="dataset")[0]
    assert commit.title == "hubtool push v0.1: sample-corpus" and "recipe sample 1" in commit.message
    code, again = cli("push", folder, "--repo", repo, "--version", "v0.1", "--json")
    assert code == 0 and again["commit"] is None and again["head"] == out["commit"]
    (folder / "data" / "validation-00000-of-00001.parquet").unlink()
    code, third = cli("push", folder, "--repo", repo, "--version", "v0.1", "--json")
    assert code == 0 and {c["path"]: c["action"] for c in third["plan"]["changes"]} == {
        "data/validation-00000-of-00001.parquet": "remove", "README.md": "change",
        "card_images/sources.png": "change", "card_images/words-per-row.png": "change"}  # fewer rows drawn
    assert "data/validation-00000-of-00001.parquet" not in api.list_repo_files(repo, repo_type="dataset")


def test_hub_refusals_are_explained_without_leaking_the_token(hub, manifest_path, repo_name):
    bad = "hf_wrong_token_that_must_not_leak_123"
    result = CliRunner(env={"HF_TOKEN": bad}).invoke(
        main, ["push", str(manifest_path.parent / "corpus"), "--repo", f"hitz/{repo_name}"])
    assert result.exit_code == 1
    assert "refused the token" in result.output and "hf auth login" in result.output
    assert bad not in result.output
    from conftest import BOB_TOKEN

    result = CliRunner(env={"HF_TOKEN": BOB_TOKEN}).invoke(
        main, ["push", str(manifest_path.parent / "corpus"), "--repo", f"hitz/{repo_name}"])
    assert result.exit_code == 1 and "may not write" in result.output and BOB_TOKEN not in result.output
    assert ADMIN_TOKEN not in result.output


def test_release_promotes_the_best_variant_to_main(hub, api, manifest_path):
    data = yaml.safe_load(manifest_path.read_text())
    data["promote"] = [{"repo": "tiny-llama-eu-instruct", "metric": "accuracy", "task": "multiple-choice"}]
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    ns = data["namespace"]
    code, out = cli("release", manifest_path, "--json")
    assert code == 0 and out["verified"], out
    # the evaluate recipe's accuracies, read from the results files; the best wins (ties: the later name)
    acc = {}
    for branch in ("exp_2_101", "exp_2_111"):
        doc = json.loads((manifest_path.parent / "results" / f"{branch}.json").read_text())
        acc[branch] = next(m["value"] for r in doc["results"] if r["task"]["type"] == "multiple-choice"
                           for m in r["metrics"] if m["type"] == "accuracy")
    best = max(sorted(acc), key=lambda b: (acc[b], b))
    assert out["promoted"] == {f"{ns}/tiny-llama-eu-instruct": {
        "variant": best, "metric": "accuracy", "scores": acc}}
    assert f"{ns}/tiny-llama-eu-instruct@v1.0" in out["tags_created"] and out["commits"] == 8
    assert any(c["check"] == "promoted variant on main" and c["ok"] for c in out["verify"])
    main_files = set(api.list_repo_files(f"{ns}/tiny-llama-eu-instruct", revision="v1.0"))
    assert "adapter_model.safetensors" in main_files
    from huggingface_hub import hf_hub_download

    readme = open(hf_hub_download(f"{ns}/tiny-llama-eu-instruct", "README.md", revision="v1.0")).read()
    assert f"`main` holds variant `{best}`, the best by accuracy" in readme
    code, again = cli("release", manifest_path, "--json")
    assert code == 0 and again["commits"] == 0


def test_promote_rule_errors_are_validation_errors(manifest_path):
    data = yaml.safe_load(manifest_path.read_text())
    data["promote"] = [{"repo": "tiny-llama-eu-instruct", "metric": "rouge"}]
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out = cli("validate", manifest_path, "--json")
    hit = next(f for f in out["findings"] if f["code"] == "HT401")
    assert code == 1 and "has no rouge" in hit["message"] and hit["field"] == "promote.0"


def test_a_stale_plan_is_caught_by_the_parent_check_and_replanned(api, manifest_path, repo_name):
    from hub_tools.publish.push import plan_push, push

    folder = manifest_path.parent / "corpus"
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    stale = plan_push(api, folder, repo, "dataset", "main")
    api.upload_file(path_or_fileobj=b"meanwhile", path_in_repo="other.txt", repo_id=repo, repo_type="dataset")
    result = push(api, folder, repo, "dataset", "main", "push with a stale plan", plan=stale, backoff=0.01)
    assert result.attempts == 2 and result.commit  # 412 on the stale parent, then planned again
    files = set(api.list_repo_files(repo, repo_type="dataset"))
    assert "other.txt" not in files and "data/train-00000-of-00001.parquet" in files  # the repo equals the folder


def test_404_and_409_are_explained(api, repo_name):
    from huggingface_hub.errors import HfHubHTTPError

    from hub_tools.publish.push import explain_http_error

    with pytest.raises(HfHubHTTPError) as missing:
        api.dataset_info(f"hitz/{repo_name}-missing")
    assert explain_http_error(missing.value, f"hitz/{repo_name}-missing", api.endpoint).startswith(
        f"hitz/{repo_name}-missing was not found on {api.endpoint}")
    api.create_repo(f"hitz/{repo_name}")
    api.create_tag(f"hitz/{repo_name}", tag="v1.0")
    with pytest.raises(HfHubHTTPError) as taken:
        api.create_tag(f"hitz/{repo_name}", tag="v1.0")
    message = explain_http_error(taken.value, f"hitz/{repo_name}", api.endpoint)
    assert message.startswith(f"conflict on hitz/{repo_name}") and "already exists" in message


def test_push_retries_exactly_the_statuses_the_docs_name(hub, api, repo_name, tmp_path):
    """docs/releasing.md lists the HTTP answers that are retried: each, answered once to the commit, costs
    one more attempt and the push lands; another 5xx (501, 505) fails at once, with the status named."""
    from pathlib import Path

    from hub_tools.publish.push import RETRY_STATUSES, PublishError, push

    doc = (Path(__file__).resolve().parent.parent / "docs" / "releasing.md").read_text()
    listed = re.search(r"HTTP ((?:\d{3}, )+\d{3} and \d{3})", " ".join(doc.split()))
    assert listed, "docs/releasing.md no longer lists the retried statuses as `HTTP a, b and c`"
    documented = {int(code) for code in re.findall(r"\d{3}", listed.group(1))}
    assert documented == RETRY_STATUSES
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    for status in sorted(documented | {501, 505}):
        repo = f"hitz/{repo_name}-{status}"
        hub.set_faults([{"method": "POST", "path_contains": "/commit/", "times": 1, "status": status}])
        try:
            if status in documented:
                result = push(api, folder, repo, "model", "main", "push", retries=1, backoff=0.01)
                assert result.attempts == 2 and result.commit, status
                assert "a.txt" in api.list_repo_files(repo)
            else:
                with pytest.raises(PublishError, match=str(status)):
                    push(api, folder, repo, "model", "main", "push", retries=1, backoff=0.01)
                assert "a.txt" not in api.list_repo_files(repo)  # not retried: nothing landed
        finally:
            hub.set_faults([])
