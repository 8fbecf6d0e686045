"""What `hubtool release` decides, on two small datasets of the sample release (``only``) against the local
hub: everything is planned before the first upload, a changed artifact under an existing tag is refused
before anything is pushed, tags are created only once every push succeeded (and never moved), a re-run
finishes an interrupted release and changes nothing after a complete one. The full release, models and
Space included, is in test_release.py."""
from __future__ import annotations

import re

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import HfApi

from hub_tools.artifacts.manifest import load_manifest
from hub_tools.publish.release import ReleaseError, run_release
from sample_release import build_sample_release

pytestmark = pytest.mark.slow
BOTH = {"corpus", "instructions"}
REPOS = {"corpus": "basque-sample-corpus", "instructions": "basque-sample-instructions"}


def commits(hub) -> int:
    return httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()["commits"]


@pytest.fixture()
def manifest_path(tmp_path, repo_name):
    ns = re.sub(r"[^a-z0-9]", "", repo_name.lower())[-20:] + "d"
    return build_sample_release(tmp_path / "rel", namespace=f"ns-{ns}")


def _release(manifest_path, api: HfApi, only=BOTH, **kwargs):
    steps: list[str] = []
    kwargs.setdefault("verify", False)
    result = run_release(load_manifest(manifest_path), api, only=set(only), on_step=steps.append, retries=1,
                         backoff=0.01, **kwargs)
    return result, steps


def _tags(api: HfApi, ns: str) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for name, repo in REPOS.items():
        refs = api.list_repo_refs(f"{ns}/{repo}", repo_type="dataset") if api.repo_exists(
            f"{ns}/{repo}", repo_type="dataset") else None
        out[name] = sorted((t.name, t.target_commit) for t in refs.tags) if refs else []
    return out


def _change_instructions(manifest_path) -> None:
    shard = manifest_path.parent / "instructions" / "data" / "train-00000-of-00001.parquet"
    rows = pq.read_table(shard).to_pylist()
    pq.write_table(pa.Table.from_pylist(rows[:-1]), shard)


def test_plans_everything_then_pushes_then_tags_and_a_rerun_changes_nothing(hub, api, manifest_path):
    ns = load_manifest(manifest_path).namespace
    before = commits(hub)
    result, steps = _release(manifest_path, api)
    # every plan before the first push, every push before the first tag, in manifest order
    assert steps == [f"planning corpus -> {ns}/{REPOS['corpus']}@main",
                     f"planning instructions -> {ns}/{REPOS['instructions']}@main",
                     f"pushing corpus -> {ns}/{REPOS['corpus']}@main",
                     f"pushing instructions -> {ns}/{REPOS['instructions']}@main",
                     f"tagging {ns}/{REPOS['corpus']} v1.0", f"tagging {ns}/{REPOS['instructions']} v1.0"]
    assert commits(hub) - before == 2 and result.commits == 2 and not result.dry_run
    heads = {a.name: a.head for a in result.artifacts}
    assert _tags(api, ns) == {name: [("v1.0", heads[name])] for name in REPOS}  # each tag on the pushed head
    assert result.tags_created == [f"{ns}/{REPOS['corpus']}@v1.0", f"{ns}/{REPOS['instructions']}@v1.0"]
    assert [(a.name, a.repo_type, a.branch, a.tag, a.url) for a in result.artifacts] == [
        (name, "dataset", "main", "v1.0", f"{api.endpoint}/datasets/{ns}/{repo}/tree/main")
        for name, repo in REPOS.items()]
    assert result.verify is None  # verify=False
    # each commit says what was released: the artifact, its recipe and the code's commit (12 hex digits, as git
    # abbreviates), and hubtool's version
    from hub_tools import __version__
    from hub_tools.artifacts.provenance import read_provenance

    kinds = {a.name: a.kind for a in load_manifest(manifest_path).artifacts}
    for name, repo in REPOS.items():
        prov = read_provenance(manifest_path.parent / name)
        assert prov.git_commit and len(prov.git_commit) == 40  # the tests run in a git checkout
        head = api.list_repo_commits(f"{ns}/{repo}", repo_type="dataset")[0]
        assert head.title == f"hubtool release v1.0: {name}"
        assert head.message == (f"{name}: {kinds[name]} from recipe "
                                f"{prov.recipe.name} {prov.recipe.version}, git {prov.git_commit[:12]}; "
                                f"hubtool {__version__}"), head.message
    # the collection holds both repos, noted with the version
    collection = api.get_collection(result.collection)
    assert sorted((i.item_type, i.item_id, i.note) for i in collection.items) == [
        ("dataset", f"{ns}/{repo}", f"v1.0: {name}") for name, repo in sorted(REPOS.items())]

    again, steps = _release(manifest_path, api, verify=True)
    assert commits(hub) - before == 2 and again.commits == 0 and again.tags_created == []
    assert [s.split(" ")[0] for s in steps] == ["planning", "planning", "pushing", "pushing", "verifying"]
    assert again.verify and all(check["ok"] for check in again.verify)
    assert _tags(api, ns) == {name: [("v1.0", heads[name])] for name in REPOS}


def test_a_changed_artifact_under_an_existing_tag_is_refused_before_any_upload(hub, api, manifest_path):
    """instructions v1.0 is out; then it changes and corpus (new) joins: planning refuses the release before
    corpus, first in order, is pushed, so nothing at all is committed."""
    ns = load_manifest(manifest_path).namespace
    _release(manifest_path, api, only={"instructions"})
    _change_instructions(manifest_path)
    before = commits(hub)
    with pytest.raises(ReleaseError) as err:
        _release(manifest_path, api)
    assert str(err.value) == (f"{ns}/{REPOS['instructions']} already has tag v1.0 and instructions changed since: "
                              "tags never move, so release the change under a new `version` (now v1.0)")
    assert commits(hub) == before and not api.repo_exists(f"{ns}/{REPOS['corpus']}", repo_type="dataset")

    data = yaml.safe_load(manifest_path.read_text())
    data["version"] = "v1.1"
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    result, _ = _release(manifest_path, api)
    assert result.commits == 2 and sorted(result.tags_created) == [
        f"{ns}/{REPOS['corpus']}@v1.1", f"{ns}/{REPOS['instructions']}@v1.1"]
    assert [t for t, _ in _tags(api, ns)["instructions"]] == ["v1.0", "v1.1"]


def test_no_tag_until_every_push_succeeded_then_the_rerun_finishes(hub, api, manifest_path):
    ns = load_manifest(manifest_path).namespace
    hub.set_faults([{"method": "POST", "path_contains": "/commit/", "after": 1, "times": 10, "status": 500}])
    try:
        with pytest.raises(ReleaseError) as err:
            _release(manifest_path, api)
    finally:
        hub.set_faults([])
    assert str(err.value).startswith("pushing instructions failed: ")
    assert str(err.value).endswith("Pushed so far: corpus; no version tag was created.")
    assert _tags(api, ns) == {"corpus": [], "instructions": []}  # corpus was pushed, and is not tagged
    result, steps = _release(manifest_path, api)
    assert result.commits == 1 and [a.commit is None for a in result.artifacts] == [True, False]
    assert [s.split(" ")[0] for s in steps] == ["planning", "planning", "pushing", "pushing", "tagging", "tagging"]
    assert [t for t, _ in _tags(api, ns)["corpus"]] == ["v1.0"] and len(result.tags_created) == 2


def test_a_tag_that_points_elsewhere_is_never_moved(hub, api, manifest_path):
    """v1.0 of corpus points at its first commit; the files on main are those of the release (nothing to push),
    but main's head is another commit: the release stops instead of moving the tag."""
    ns = load_manifest(manifest_path).namespace
    repo = f"{ns}/{REPOS['corpus']}"
    result, _ = _release(manifest_path, api, only={"corpus"})
    first = api.list_repo_commits(repo, repo_type="dataset")[-1].commit_id  # the repo's creation
    api.delete_tag(repo, tag="v1.0", repo_type="dataset")
    api.create_tag(repo, tag="v1.0", revision=first, repo_type="dataset")
    before = commits(hub)
    with pytest.raises(ReleaseError) as err:
        _release(manifest_path, api, only={"corpus"})
    head = result.artifacts[0].head
    assert str(err.value) == (f"tag v1.0 of {repo} points at {first[:10]}, not at the released {head[:10]}; "
                              "release under a new version")
    assert commits(hub) == before and _tags(api, ns)["corpus"] == [("v1.0", first)]


def test_a_dry_run_plans_and_changes_nothing(hub, api, manifest_path):
    ns = load_manifest(manifest_path).namespace
    before = commits(hub)
    result, steps = _release(manifest_path, api, dry_run=True, verify=True)
    assert [s.split(" ")[0] for s in steps] == ["planning", "planning"]
    assert result.dry_run and result.commits == 0 and result.tags_created == [] and result.verify is None
    assert [(a.name, a.plan["summary"]["add"] > 0, a.head) for a in result.artifacts] == [
        ("corpus", True, None), ("instructions", True, None)]
    assert commits(hub) == before and not any(
        api.repo_exists(f"{ns}/{repo}", repo_type="dataset") for repo in REPOS.values())
    assert not (manifest_path.parent / ".hubtool").exists()  # no lock, no state file


def test_the_default_retry_policy_is_four_retries_with_exponential_backoff(hub, api, manifest_path, monkeypatch):
    """What `hubtool release` does without options (docs/releasing.md): a transient error is retried up to 4
    times, waiting 1, 2, 4, 8 s. The waits are recorded instead of slept (the delays, not the clock, are checked);
    the hub really fails the first four commits."""
    from types import SimpleNamespace

    import hub_tools.publish.push as push_module

    waits: list[float] = []
    monkeypatch.setattr(push_module, "time", SimpleNamespace(sleep=waits.append))  # push's waits only
    hub.set_faults([{"method": "POST", "path_contains": "/commit/", "after": 0, "times": 4, "status": 503}])
    try:
        result = run_release(load_manifest(manifest_path), api, only={"corpus"}, verify=False)
    finally:
        hub.set_faults([])
    assert [a.attempts for a in result.artifacts] == [5] and waits == [1.0, 2.0, 4.0, 8.0]
    hub.set_faults([{"method": "POST", "path_contains": "/commit/", "after": 0, "times": 5, "status": 503}])
    try:  # a fifth failure is one too many
        with pytest.raises(ReleaseError, match="pushing instructions failed"):
            run_release(load_manifest(manifest_path), api, only={"instructions"}, verify=False)
    finally:
        hub.set_faults([])


def test_a_refused_tag_is_explained_and_a_rerun_creates_it(hub, api, manifest_path):
    """Every push succeeded, then the hub refuses the version tag: the release stops with an explanation (not
    a traceback of the Hub client), and the re-run, with nothing left to push, creates the tag."""
    ns = load_manifest(manifest_path).namespace
    hub.set_faults([{"method": "POST", "path_contains": "/tag/", "after": 0, "times": 1, "status": 403}])
    try:
        with pytest.raises(ReleaseError, match=re.escape(f"{ns}/{REPOS['corpus']}")):
            _release(manifest_path, api, only={"corpus"})
    finally:
        hub.set_faults([])
    assert _tags(api, ns)["corpus"] == []
    again, _ = _release(manifest_path, api, only={"corpus"})
    assert again.commits == 0 and again.tags_created == [f"{ns}/{REPOS['corpus']}@v1.0"]


def test_tags_already_in_place_do_not_stop_the_others(hub, api, manifest_path):
    """corpus was released (and tagged) alone first; releasing both then tags instructions too."""
    ns = load_manifest(manifest_path).namespace
    first, _ = _release(manifest_path, api, only={"corpus"})
    both, _ = _release(manifest_path, api)
    assert first.tags_created == [f"{ns}/{REPOS['corpus']}@v1.0"]
    assert both.tags_created == [f"{ns}/{REPOS['instructions']}@v1.0"]
    assert all(tags for tags in _tags(api, ns).values())


@pytest.mark.parametrize("where", ["manifest", "provenance", "neither"])
def test_a_space_gets_the_sdk_its_card_or_provenance_names_else_gradio(hub, api, manifest_path, where):
    from hub_tools.artifacts.provenance import read_provenance, write_provenance

    ns = load_manifest(manifest_path).namespace
    data = yaml.safe_load(manifest_path.read_text())
    space = next(a for a in data["artifacts"] if a["name"] == "space")
    folder = manifest_path.parent / space["path"]
    prov = read_provenance(folder)
    prov.card.pop("sdk", None)
    if where == "manifest":
        space["card"] = {**space.get("card", {}), "sdk": "docker"}
    elif where == "provenance":
        prov.card["sdk"] = "docker"
    write_provenance(folder, prov)
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    _release(manifest_path, api, only={"space"})
    assert api.space_info(f"{ns}/basque-sample-demo").sdk == ("gradio" if where == "neither" else "docker")


def test_a_hub_refusal_while_planning_is_explained_before_any_upload(hub, api, manifest_path):
    ns = load_manifest(manifest_path).namespace
    _release(manifest_path, api, only={"corpus"})  # the repo exists: planning reads it
    before = commits(hub)
    hub.set_faults([{"method": "GET", "path_contains": f"{ns}/{REPOS['corpus']}", "after": 0, "times": 100,
                     "status": 403}])
    try:
        with pytest.raises(ReleaseError, match=re.escape(f"{ns}/{REPOS['corpus']}")):
            _release(manifest_path, api)
    finally:
        hub.set_faults([])
    assert commits(hub) == before  # instructions was not pushed either



def test_a_refused_tag_listing_stops_the_release_before_any_upload(hub, api, manifest_path):
    """Whether v1.0 exists decides between pushing and refusing a changed artifact: when the hub refuses the tag
    listing, the release stops, explained, before pushing anything (a changed artifact would otherwise be
    pushed under a version that is already tagged)."""
    ns = load_manifest(manifest_path).namespace
    _release(manifest_path, api, only={"instructions"})
    _change_instructions(manifest_path)
    before = commits(hub)
    # the first listing of the repo's refs looks for the previous tag ("Changes since"); the second is the check
    hub.set_faults([{"method": "GET", "path_contains": f"{ns}/{REPOS['instructions']}/refs", "after": 1,
                     "times": 1, "status": 403}])
    try:
        with pytest.raises(ReleaseError, match="could not list the tags of " + re.escape(
                f"{ns}/{REPOS['instructions']} to check whether v1.0 exists; nothing was pushed")):
            _release(manifest_path, api, only={"instructions"})
    finally:
        hub.set_faults([])
    assert commits(hub) == before
    with pytest.raises(ReleaseError, match="already has tag v1.0"):  # with the listing, the change is refused
        _release(manifest_path, api, only={"instructions"})


def _second_variant_repo(manifest_path) -> dict:
    """The two adapter variants published a second time, to a repo of their own, each repo with a promote rule."""
    data = yaml.safe_load(manifest_path.read_text())
    variants = [a for a in data["artifacts"] if a["kind"] == "adapter"]
    data["artifacts"] += [{**a, "name": a["name"] + "_b", "repo": a["repo"] + "-b", "branch": a["branch"] + "_b"}
                          for a in variants]
    data["promote"] = [{"repo": variants[0]["repo"], "metric": "accuracy", "task": "multiple-choice"},
                       {"repo": variants[0]["repo"] + "-b", "metric": "accuracy", "task": "multiple-choice"}]
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def test_every_promote_rule_whose_winner_is_released_is_applied(hub, api, manifest_path):
    """With --only, a rule whose winner is not released is skipped and the rules after it still apply."""
    from hub_tools.artifacts.promote import choose

    data = _second_variant_repo(manifest_path)
    manifest = load_manifest(manifest_path)
    first, second = (choose(manifest, rule) for rule in manifest.promote)
    result, steps = _release(manifest_path, api, only={second.winner.name}, dry_run=True)
    assert first.winner.name != second.winner.name
    assert result.promoted == {second.repo_id: {"variant": second.winner.name, "metric": "accuracy",
                                                "scores": second.scores}}
    assert f"planning main <- {second.winner.name} -> {data['namespace']}/{second.repo_id.split('/')[1]}@main" in steps


def test_two_promote_rules_for_one_repo_are_a_validation_error(manifest_path):
    from hub_tools.validate import validate_manifest

    data = _second_variant_repo(manifest_path)
    data["promote"].append({"repo": data["promote"][0]["repo"], "metric": "accuracy"})
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = validate_manifest(load_manifest(manifest_path))
    hits = [f for f in report.findings if f.code == "HT401"]
    assert len(hits) == 1 and hits[0].field == "promote.2"
    assert "rules 0 and 2 both choose the main of" in hits[0].message
