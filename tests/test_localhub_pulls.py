"""Pull requests and discussions through huggingface_hub, `refs/pr/N` on every read route, and HfFileSystem
round trips on branches, tags and pull requests. Before: `create_pr` was refused with a 400."""
from __future__ import annotations

import hashlib

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

from conftest import ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN

WEIGHTS = b"\0weights of the pull request " * 300  # binary: an LFS upload by a contributor


def _status(err: pytest.ExceptionInfo) -> int:
    return err.value.response.status_code


def _repo_with_data(api: HfApi, repo: str) -> str:
    api.create_repo(repo)
    return api.create_commit(repo, commit_message="base", operations=[
        CommitOperationAdd("README.md", b"# base\n"), CommitOperationAdd("data/a.txt", b"a"),
        CommitOperationAdd("shared.txt", b"base")]).oid


def test_pull_request_lifecycle_by_a_read_only_member(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    base = _repo_with_data(api, repo)
    carol = HfApi(endpoint=api.endpoint, token=CAROL_TOKEN)  # may read hitz, may not push
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)
    with pytest.raises(HfHubHTTPError) as err:
        carol.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert _status(err) == 403

    info = carol.create_commit(repo, commit_message="Add weights", commit_description="for review",
                               create_pr=True, operations=[CommitOperationAdd("w.bin", WEIGHTS),
                                                           CommitOperationAdd("data/b.txt", b"b")])
    assert (info.pr_num, info.pr_revision) == (1, "refs/pr/1") and info.pr_url.endswith(f"{repo}/discussions/1")
    assert api.model_info(repo).sha == base  # main untouched
    assert sorted(api.list_repo_files(repo, revision="refs/pr/1")) == [
        ".gitattributes", "README.md", "data/a.txt", "data/b.txt", "shared.txt", "w.bin"]
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", info.oid)]

    second = carol.upload_file(path_or_fileobj=b"more", path_in_repo="more.txt", repo_id=repo, revision="refs/pr/1")
    with pytest.raises(HfHubHTTPError) as err:  # someone else's pull request
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="refs/pr/1")
    assert _status(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        carol.merge_pull_request(repo, 1)
    assert _status(err) == 403

    [listed] = list(bob.get_repo_discussions(repo))
    assert (listed.num, listed.is_pull_request, listed.status, listed.author) == (1, True, "open", "carol")
    comment = bob.comment_discussion(repo, 1, "Looks good")
    assert comment.content == "Looks good" and comment.author == "bob"
    details = api.get_discussion_details(repo, 1)
    assert details.target_branch == "refs/heads/main" and details.conflicting_files == []
    assert [e.type for e in details.events] == ["comment", "commit", "commit", "comment"]
    assert [e.oid for e in details.events if e.type == "commit"] == [info.oid, second.oid]
    assert "b/w.bin" in details.diff and "b/more.txt" in details.diff

    alice.merge_pull_request(repo, 1, comment="thanks")
    merged = api.get_discussion_details(repo, 1)
    assert merged.status == "merged" and merged.merge_commit_oid == api.model_info(repo).sha
    path = hf_hub_download(repo, "w.bin", cache_dir=tmp_path)
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == hashlib.sha256(WEIGHTS).hexdigest()
    assert {"more.txt", "data/b.txt", "w.bin"} <= set(api.list_repo_files(repo))
    with pytest.raises(BadRequestError):
        api.change_discussion_status(repo, 1, "open")  # merged stays merged
    with pytest.raises(HfHubHTTPError) as err:
        carol.upload_file(path_or_fileobj=b"late", path_in_repo="late.txt", repo_id=repo, revision="refs/pr/1")
    assert _status(err) == 403


def test_discussions_status_and_conflicts(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    _repo_with_data(api, repo)
    carol = HfApi(endpoint=api.endpoint, token=CAROL_TOKEN)
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    with pytest.raises(HfHubHTTPError) as err:  # anyone may read the repo; a discussion needs a token
        HfApi(endpoint=api.endpoint, token=False).create_discussion(repo, title="Anonymous")
    assert _status(err) == 401
    talk = bob.create_discussion(repo, title="A question", description="Why base?")
    assert talk.is_pull_request is False and talk.status == "open" and talk.events[0].content == "Why base?"
    draft = carol.create_pull_request(repo, title="Draft work")
    assert draft.is_pull_request and draft.status == "draft" and draft.git_reference == "refs/pr/2"
    with pytest.raises(HfHubHTTPError) as err:  # not bob's
        bob.change_discussion_status(repo, draft.num, "closed")
    assert _status(err) == 403
    closed = carol.change_discussion_status(repo, draft.num, "closed", comment="not needed")
    assert closed.new_status == "closed"
    assert [d.num for d in api.get_repo_discussions(repo, discussion_status="closed")] == [2]
    assert [d.num for d in api.get_repo_discussions(repo, discussion_type="discussion")] == [1]
    with pytest.raises(HfHubHTTPError) as err:  # nor carol bob's: reading hitz is not moderating it
        carol.change_discussion_status(repo, talk.num, "closed")
    assert _status(err) == 403
    bob.change_discussion_status(repo, talk.num, "closed")  # an author closes his own

    first = carol.create_commit(repo, commit_message="one", create_pr=True,
                                operations=[CommitOperationAdd("shared.txt", b"one")])
    other = carol.create_commit(repo, commit_message="two", create_pr=True,
                                operations=[CommitOperationAdd("shared.txt", b"two"),
                                            CommitOperationAdd("new.txt", b"n")])
    api.merge_pull_request(repo, first.pr_num)
    assert api.get_discussion_details(repo, other.pr_num).conflicting_files == ["shared.txt"]
    with pytest.raises(HfHubHTTPError) as err:
        api.merge_pull_request(repo, other.pr_num)
    assert _status(err) == 409 and "shared.txt" in str(err.value)
    assert "new.txt" not in api.list_repo_files(repo)  # nothing of the conflicting pull request landed
    assert open(hf_hub_download(repo, "shared.txt", revision="main", force_download=True), "rb").read() == b"one"
    bobs = bob.create_commit(repo, commit_message="bob's", create_pr=True,
                             operations=[CommitOperationAdd("bob.txt", b"b")])
    with pytest.raises(HfHubHTTPError) as err:  # carol may open pull requests on hitz, not push to bob's
        carol.upload_file(path_or_fileobj=b"c", path_in_repo="c.txt", repo_id=repo, revision=bobs.pr_revision)
    assert _status(err) == 403


def test_pr_revision_on_every_read_route(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    _repo_with_data(api, repo)
    pr = api.create_commit(repo, commit_message="pr", create_pr=True, operations=[
        CommitOperationAdd("data/pr.txt", b"in the pull request")])
    rev = pr.pr_revision
    assert api.model_info(repo, revision=rev).sha == pr.oid
    assert api.revision_exists(repo, rev) and not api.revision_exists(repo, "refs/pr/99")
    assert "data/pr.txt" in api.list_repo_files(repo, revision=rev)
    assert [e.path for e in api.list_repo_tree(repo, path_in_repo="data", revision=rev)] == ["data/a.txt",
                                                                                              "data/pr.txt"]
    assert [p.path for p in api.get_paths_info(repo, ["data/pr.txt"], revision=rev)] == ["data/pr.txt"]
    assert [c.title for c in api.list_repo_commits(repo, revision=rev)] == ["pr", "base", "initial commit"]
    assert api.file_exists(repo, "data/pr.txt", revision=rev) and not api.file_exists(repo, "data/pr.txt")
    assert open(hf_hub_download(repo, "data/pr.txt", revision=rev, cache_dir=tmp_path), "rb").read() == \
        b"in the pull request"
    snap = snapshot_download(repo, revision=rev, cache_dir=tmp_path / "s")
    assert open(f"{snap}/data/pr.txt", "rb").read() == b"in the pull request"
    with httpx.Client(trust_env=False) as client:
        for quoted in ("refs%2Fpr%2F1", "refs/pr/1"):
            head = client.head(f"{api.endpoint}/{repo}/resolve/{quoted}/data/pr.txt")
            assert head.status_code == 200 and head.headers["X-Repo-Commit"] == pr.oid, quoted
    for missing in ("refs/pr/99", "refs/pr/abc", "refs/pr/" + "9" * 25):  # no such pull request: 404, not a crash
        with pytest.raises(HfHubHTTPError) as err:
            api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision=missing)
        assert _status(err) == 404, missing


@pytest.mark.parametrize("kind", ["branch", "tag", "pull request"])
def test_hffilesystem_round_trips(api: HfApi, repo_name, tmp_path, kind):
    """ls, glob, info, open and ranged reads, and put_file, on a branch, a tag or a pull request."""
    repo = f"hitz/{repo_name}"
    _repo_with_data(api, repo)
    blob = bytes(range(256)) * 64  # binary: LFS
    api.upload_file(path_or_fileobj=blob, path_in_repo="data/blob.bin", repo_id=repo)
    if kind == "branch":
        api.create_branch(repo, branch="dev")
        rev = "dev"
    elif kind == "tag":
        api.create_tag(repo, tag="v1.0")
        rev = "v1.0"
    else:
        rev = api.create_commit(repo, commit_message="pr", create_pr=True,
                                operations=[CommitOperationAdd("data/pr.txt", b"pr")]).pr_revision
    fs = HfFileSystem(endpoint=api.endpoint, token=api.token, skip_instance_cache=True)
    root = f"{repo}@{rev}"
    assert sorted(fs.ls(f"{root}/data", detail=False)) == sorted(
        f"{root}/data/{n}" for n in ["a.txt", "blob.bin"] + (["pr.txt"] if kind == "pull request" else []))
    assert fs.glob(f"{root}/**/*.bin") == [f"{root}/data/blob.bin"]
    assert fs.info(f"{root}/data/blob.bin")["size"] == len(blob)
    with fs.open(f"{root}/data/blob.bin", "rb", block_size=1000) as f:
        f.seek(300)
        assert f.read(10) == blob[300:310]
        f.seek(len(blob) - 5)
        assert f.read() == blob[-5:]
    assert fs.cat_file(f"{root}/data/blob.bin", start=1000, end=1004) == blob[1000:1004]
    assert fs.read_text(f"{root}/README.md") == "# base\n"

    local = tmp_path / "put.txt"
    local.write_bytes(b"written through HfFileSystem")
    if kind == "tag":  # a tag is not a branch: the hub refuses the commit, nothing moves
        with pytest.raises(BadRequestError, match="Commits must target a branch"):
            fs.put_file(str(local), f"{root}/put.txt")
        return
    fs.put_file(str(local), f"{root}/put.txt")
    fresh = HfFileSystem(endpoint=api.endpoint, token=api.token, skip_instance_cache=True)
    assert fresh.cat_file(f"{root}/put.txt") == b"written through HfFileSystem"
    assert not fresh.exists(f"{repo}/put.txt")  # main untouched
    with fresh.open(f"{root}/data/copy.bin", "wb") as f:
        f.write(blob[:5000])
    assert HfFileSystem(endpoint=api.endpoint, token=api.token, skip_instance_cache=True).cat_file(
        f"{root}/data/copy.bin") == blob[:5000]
