"""The local hub against the real huggingface_hub client: one test per family of calls."""
from __future__ import annotations

import hashlib

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    file_exists,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from conftest import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, USERS_FILE
from hub_tools.localhub import server as hubserver


def test_whoami(api: HfApi):
    me = api.whoami()
    assert me["name"] == "hubtool"
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN).whoami()
    assert alice["name"] == "alice" and [o["name"] for o in alice["orgs"]] == ["hitz"]
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=api.endpoint, token="hf_not_a_token").whoami()
    assert err.value.response.status_code == 401


def test_create_repo_types_and_info(api: HfApi, repo_name, tmp_path):
    url = api.create_repo(f"hitz/{repo_name}")
    assert url.repo_id == f"hitz/{repo_name}" and url.endpoint == api.endpoint
    assert api.create_repo(f"hitz/{repo_name}", exist_ok=True).repo_id == f"hitz/{repo_name}"
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(f"hitz/{repo_name}")
    assert err.value.response.status_code == 409

    api.create_repo(f"hitz/{repo_name}", repo_type="dataset", private=True)
    api.create_repo(f"hitz/{repo_name}", repo_type="space", space_sdk="gradio")

    model = api.model_info(f"hitz/{repo_name}")
    assert model.id == f"hitz/{repo_name}" and len(model.sha) == 40 and not model.private
    assert [s.rfilename for s in model.siblings] == [".gitattributes"]
    dataset = api.dataset_info(f"hitz/{repo_name}")
    assert dataset.private is True
    space = api.space_info(f"hitz/{repo_name}")
    assert space.sdk == "gradio" and {s.rfilename for s in space.siblings} == {".gitattributes", "README.md"}
    assert api.repo_info(f"hitz/{repo_name}", repo_type="space").sha == space.sha
    api.upload_file(path_or_fileobj=b"import gradio\n", path_in_repo="app.py", repo_id=f"hitz/{repo_name}",
                    repo_type="space")
    app = hf_hub_download(f"hitz/{repo_name}", "app.py", repo_type="space", cache_dir=str(tmp_path))
    assert open(app, "rb").read() == b"import gradio\n"

    api.delete_repo(f"hitz/{repo_name}", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(f"hitz/{repo_name}")
    assert api.model_info(f"hitz/{repo_name}").id  # other types untouched


def test_private_repos_invisible_without_access(api: HfApi, repo_name):
    api.create_repo(f"hitz/{repo_name}", repo_type="dataset", private=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="a.txt", repo_id=f"hitz/{repo_name}",
                    repo_type="dataset")
    anonymous = HfApi(endpoint=api.endpoint, token=False)
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)
    for client in (anonymous, bob):
        with pytest.raises(RepositoryNotFoundError):
            client.dataset_info(f"hitz/{repo_name}")
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(f"hitz/{repo_name}", "a.txt", repo_type="dataset", token=client.token or False,
                            endpoint=api.endpoint)
    assert alice.dataset_info(f"hitz/{repo_name}").private  # org member sees it
    listed = {d.id for d in anonymous.list_datasets(author="hitz")}
    assert f"hitz/{repo_name}" not in listed
    assert f"hitz/{repo_name}" in {d.id for d in alice.list_datasets(author="hitz")}


def test_writes_need_a_token_with_rights(api: HfApi, repo_name):
    api.create_repo(f"hitz/{repo_name}")
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    with pytest.raises(HfHubHTTPError) as err:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"hitz/{repo_name}")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        bob.create_repo(f"hitz/{repo_name}-bob")
    assert err.value.response.status_code == 403
    assert bob.create_repo(f"bob/{repo_name}").repo_id == f"bob/{repo_name}"  # own namespace is fine
    anonymous = HfApi(endpoint=api.endpoint, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.create_repo(f"bob/{repo_name}-anon")
    assert err.value.response.status_code == 401
    # a public repo: anonymous callers see it, and are asked for a token (401, not 403) to write to it
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"hitz/{repo_name}")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.delete_repo(f"hitz/{repo_name}")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:  # reading a repo is not enough to delete it
        bob.delete_repo(f"hitz/{repo_name}")
    assert err.value.response.status_code == 403
    nameless = httpx.request("DELETE", f"{api.endpoint}/api/repos/delete", json={"organization": "hitz"},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, trust_env=False)
    assert nameless.status_code == 400 and "'name' is required" in nameless.json()["error"]
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)
    alice.upload_file(path_or_fileobj=b"ok", path_in_repo="ok.txt", repo_id=f"hitz/{repo_name}")
    assert "ok.txt" in api.list_repo_files(f"hitz/{repo_name}")
    bob.delete_repo(repo_name)  # no namespace: the caller's own
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info(f"bob/{repo_name}")


def test_commit_files_tree_and_paths_info(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    weights = bytes(range(256)) * 64  # binary -> LFS
    info = api.create_commit(repo, repo_type="dataset", commit_message="Add files", operations=[
        CommitOperationAdd("README.md", b"# hello\n"),
        CommitOperationAdd("data/train.jsonl", b'{"text": "kaixo"}\n'),
        CommitOperationAdd("data/sub/deep.txt", b"deep"),
        CommitOperationAdd("weights.bin", weights),
        CommitOperationAdd("empty.txt", b""),
    ])
    assert len(info.oid) == 40 and info.commit_url.endswith(f"/datasets/{repo}/commit/{info.oid}")
    files = api.list_repo_files(repo, repo_type="dataset")
    assert sorted(files) == [".gitattributes", "README.md", "data/sub/deep.txt", "data/train.jsonl", "empty.txt",
                             "weights.bin"]

    top = {e.path: e for e in api.list_repo_tree(repo, repo_type="dataset")}
    assert set(top) == {".gitattributes", "README.md", "data", "empty.txt", "weights.bin"}
    assert top["weights.bin"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert top["weights.bin"].size == len(weights) and top["README.md"].lfs is None
    git_sha1 = hashlib.sha1(b"blob 8\0# hello\n").hexdigest()
    assert top["README.md"].blob_id == git_sha1
    deep = [e.path for e in api.list_repo_tree(repo, path_in_repo="data", repo_type="dataset", recursive=True)]
    assert deep == ["data/sub", "data/sub/deep.txt", "data/train.jsonl"]
    expanded = list(api.list_repo_tree(repo, repo_type="dataset", path_in_repo="data", expand=True))
    assert all(e.last_commit.oid == info.oid for e in expanded)
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo, path_in_repo="nope", repo_type="dataset"))

    paths = api.get_paths_info(repo, ["README.md", "data", "missing.txt"], repo_type="dataset")
    assert [(type(p).__name__, p.path) for p in paths] == [("RepoFile", "README.md"), ("RepoFolder", "data")]

    info_blobs = api.dataset_info(repo, files_metadata=True)
    sizes = {s.rfilename: s.size for s in info_blobs.siblings}
    assert sizes["weights.bin"] == len(weights) and sizes["empty.txt"] == 0

    api.create_commit(repo, repo_type="dataset", commit_message="Remove", operations=[
        CommitOperationDelete("empty.txt"), CommitOperationDelete("data/", is_folder=True)])
    assert sorted(api.list_repo_files(repo, repo_type="dataset")) == [".gitattributes", "README.md", "weights.bin"]
    commits = api.list_repo_commits(repo, repo_type="dataset")
    assert [c.title for c in commits] == ["Remove", "Add files", "initial commit"]
    assert commits[0].authors == ["hubtool"]


def test_parent_commit_conflict(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo)
    second = api.create_commit(repo, operations=[CommitOperationAdd("b.txt", b"2")], commit_message="b",
                               parent_commit=first.oid)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(repo, operations=[CommitOperationAdd("c.txt", b"3")], commit_message="c",
                          parent_commit=first.oid)
    assert err.value.response.status_code == 412
    assert api.model_info(repo).sha == second.oid
    assert "c.txt" not in api.list_repo_files(repo)


def test_upload_folder_with_delete_patterns_and_unchanged_files(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    folder = tmp_path / "art"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    (folder / "data" / "b.parquet").write_bytes(b"PAR1" + b"\1" * 100)
    (folder / "README.md").write_text("v1")
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)
    (folder / "data" / "b.parquet").unlink()
    (folder / "data" / "c.parquet").write_bytes(b"PAR1" + b"\2" * 100)
    second = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder, delete_patterns=["data/*"])
    assert sorted(api.list_repo_files(repo, repo_type="dataset")) == [
        ".gitattributes", "README.md", "data/a.parquet", "data/c.parquet"]
    # Nothing changed: the client sees the remote oids from preupload and makes no commit.
    third = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)
    assert third.oid == second.oid
    assert len(api.list_repo_commits(repo, repo_type="dataset")) == 3


def test_branches_tags_refs_and_revisions(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    v1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo)
    api.create_tag(repo, tag="v1.0", tag_message="first release")
    with pytest.raises(HfHubHTTPError) as err:
        api.create_tag(repo, tag="v1.0")
    assert err.value.response.status_code == 409
    api.create_branch(repo, branch="exp_2_111")
    api.create_branch(repo, branch="exp_2_111", exist_ok=True)
    api.upload_file(path_or_fileobj=b"branch", path_in_repo="f.txt", repo_id=repo, revision="exp_2_111")
    v2 = api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo)

    refs = api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "exp_2_111"}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", v1.oid)]

    def read(rev):
        return open(hf_hub_download(repo, "f.txt", revision=rev, cache_dir=tmp_path / "c"), "rb").read()

    assert read("main") == b"v2" and read("v1.0") == b"v1" and read("exp_2_111") == b"branch"
    assert read(v1.oid) == b"v1"  # by commit sha
    snap = snapshot_download(repo, revision="v1.0", cache_dir=tmp_path / "s")
    assert open(f"{snap}/f.txt", "rb").read() == b"v1"
    snap_sha = snapshot_download(repo, revision=v2.oid, cache_dir=tmp_path / "s2")
    assert open(f"{snap_sha}/f.txt", "rb").read() == b"v2"
    assert api.model_info(repo, revision="exp_2_111").sha != v2.oid
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo, revision="nope")

    api.delete_tag(repo, tag="v1.0")
    assert api.list_repo_refs(repo).tags == []
    api.delete_branch(repo, branch="exp_2_111")
    assert [b.name for b in api.list_repo_refs(repo).branches] == ["main"]


def test_file_exists_and_entry_not_found(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="dir/x.txt", repo_id=repo)
    assert file_exists(repo, "dir/x.txt")
    assert not file_exists(repo, "dir/y.txt")
    assert not file_exists(repo, "dir")  # a folder is not a file
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "missing.txt", cache_dir=tmp_path)
    assert api.file_exists(repo, "x.txt") is False


def test_resolve_headers_and_ranges(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    payload = bytes(range(256)) * 40
    commit = api.upload_file(path_or_fileobj=payload, path_in_repo="model.safetensors", repo_id=repo)
    api.upload_file(path_or_fileobj=b"hello world", path_in_repo="small.txt", repo_id=repo)
    with httpx.Client(trust_env=False) as client:
        head = client.head(f"{api.endpoint}/{repo}/resolve/{commit.oid}/model.safetensors")
        assert head.status_code == 200
        assert head.headers["X-Repo-Commit"] == commit.oid
        assert head.headers["X-Linked-Etag"].strip('"') == hashlib.sha256(payload).hexdigest()
        assert int(head.headers["X-Linked-Size"]) == len(payload) == int(head.headers["Content-Length"])
        part = client.get(f"{api.endpoint}/{repo}/resolve/main/model.safetensors", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == payload[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(payload)}"
        tail = client.get(f"{api.endpoint}/{repo}/resolve/main/model.safetensors", headers={"Range": "bytes=-5"})
        assert tail.content == payload[-5:]
        bad = client.get(f"{api.endpoint}/{repo}/resolve/main/model.safetensors",
                         headers={"Range": f"bytes={len(payload)}-"})
        assert bad.status_code == 416
        small = client.get(f"{api.endpoint}/{repo}/resolve/main/small.txt")
        assert small.content == b"hello world"
        assert small.headers["ETag"].strip('"') == hashlib.sha1(b"blob 11\0hello world").hexdigest()
        assert "X-Linked-Etag" not in small.headers
        missing = client.head(f"{api.endpoint}/{repo}/resolve/main/nope.txt")
        assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
        assert missing.headers["X-Repo-Commit"] == api.model_info(repo).sha


def test_collections(api: HfApi, repo_name):
    api.create_repo(f"hitz/{repo_name}", repo_type="dataset")
    api.create_repo(f"hitz/{repo_name}")
    coll = api.create_collection("Latxa Instruct", namespace="hitz", description="models and data")
    assert coll.slug.startswith("hitz/latxa-instruct-") and coll.items == []
    again = api.create_collection("Latxa Instruct", namespace="hitz", exists_ok=True)
    assert again.slug == coll.slug
    api.add_collection_item(coll.slug, f"hitz/{repo_name}", "dataset", note="the corpus")
    api.add_collection_item(coll.slug, f"hitz/{repo_name}", "model")
    api.add_collection_item(coll.slug, f"hitz/{repo_name}", "model", exists_ok=True)
    got = api.get_collection(coll.slug)
    assert [(i.item_id, i.item_type, i.note) for i in got.items] == [
        (f"hitz/{repo_name}", "dataset", "the corpus"), (f"hitz/{repo_name}", "model", None)]
    assert coll.slug in {c.slug for c in api.list_collections(owner="hitz")}
    api.delete_collection_item(coll.slug, got.items[0].item_object_id)
    assert len(api.get_collection(coll.slug).items) == 1
    api.delete_collection(coll.slug)
    with pytest.raises(HfHubHTTPError):
        api.get_collection(coll.slug)


def test_create_repo_refusals_are_not_taken_for_an_existing_repo(api: HfApi):
    """Only a 409 (the repo exists) is answered with the repo's url, which `exist_ok=True` accepts; a refused
    name stays a 400 even with `exist_ok=True`."""
    for namespace in ("api", "datasets"):
        with pytest.raises(HfHubHTTPError) as err:
            api.create_repo(f"{namespace}/not-a-repo", exist_ok=True)
        assert err.value.response.status_code == 400 and "reserved" in str(err.value)


def test_repo_urls_name_the_type(api: HfApi, repo_name):
    """The url of a new repo has the type's prefix (none for models), from which the client reads its type."""
    for rtype, prefix in (("model", ""), ("dataset", "datasets/"), ("space", "spaces/")):
        url = api.create_repo(f"hitz/{repo_name}", repo_type=rtype, space_sdk="gradio" if rtype == "space" else None)
        assert (str(url), url.repo_type) == (f"{api.endpoint}/{prefix}hitz/{repo_name}", rtype)


def test_create_repo_needs_string_names(api: HfApi):
    for body in ({"name": 5}, {"name": "x", "organization": 5}):
        resp = httpx.post(f"{api.endpoint}/api/repos/create", json=body, trust_env=False,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert resp.status_code == 400 and "must be strings" in resp.json()["error"], body


def test_listing_searches_the_repo_id(api: HfApi, repo_name):
    wanted, other = f"hitz/{repo_name}-wanted", f"hitz/{repo_name}-other"
    api.create_repo(f"hitz/{repo_name}-hidden", private=True)  # listed before the others, unreadable for bob
    api.create_repo(wanted)
    api.create_repo(other)
    api.upload_file(path_or_fileobj=b"later", path_in_repo="later.txt", repo_id=wanted)
    assert {m.id for m in api.list_models(search=f"{repo_name}-WANTED")} == {wanted}
    listed = {m.id: m for m in api.list_models(author="hitz")}
    assert {wanted, other} <= set(listed)
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    assert {m.id for m in bob.list_models(search=repo_name)} == {wanted, other}  # the private one skipped
    # the head commit's time, as in the repo's info; the local hub counts no downloads or likes: 0
    info = api.model_info(wanted)
    assert listed[wanted].last_modified == info.last_modified > listed[wanted].created_at
    assert (listed[wanted].downloads, listed[wanted].likes) == (0, 0) == (info.downloads, info.likes)


def test_spaces_are_listed_with_their_sdk(api: HfApi, repo_name):
    api.create_repo(f"hitz/{repo_name}", repo_type="space", space_sdk="static")
    [space] = api.list_spaces(search=repo_name)
    assert (space.id, space.sdk) == (f"hitz/{repo_name}", "static")


def test_write_counters_of_a_fresh_hub_start_at_zero(tmp_path):
    """The test hook GET /api/_localhub/stats counts what was written since the hub started: nothing on a fresh
    hub, then one commit per upload with its inline bytes, and the LFS bytes and uploads."""
    data_dir = tmp_path / "hub"
    proc = hubserver.start_background(data_dir, extra_args=["--users-file", str(USERS_FILE),
                                                            "--enable-fault-injection"])
    try:
        def stats() -> dict:
            return httpx.get(f"{proc.url}/api/_localhub/stats", trust_env=False).json()

        assert stats() == {"commits": 0, "lfs_bytes": 0, "regular_bytes": 0, "lfs_uploads": 0}
        fresh = HfApi(endpoint=proc.url, token=ADMIN_TOKEN)
        fresh.create_repo("hubtool/counted")
        assert stats()["commits"] == 0  # the initial commit of a new repo is no upload
        weights = b"\0counted weights" * 300  # binary: LFS
        fresh.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id="hubtool/counted")
        fresh.upload_file(path_or_fileobj=weights, path_in_repo="w.bin", repo_id="hubtool/counted")
        assert stats() == {"commits": 2, "lfs_bytes": len(weights), "regular_bytes": 5, "lfs_uploads": 1}
    finally:
        hubserver.stop_hub(data_dir)


def test_commits_target_a_branch_not_a_commit_id(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    sha = api.model_info(repo).sha
    with pytest.raises(HfHubHTTPError) as err:  # a commit id is a revision, but no branch to move
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision=sha)
    assert err.value.response.status_code == 400 and "must target a branch" in str(err.value)
    with pytest.raises(RevisionNotFoundError):  # a branch that does not exist: 404, as on the Hub
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="no-such-branch")
    assert api.model_info(repo).sha == sha
