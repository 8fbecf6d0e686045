"""Durability and refusal: commits survive restarts, old commits stay readable, bad input changes nothing."""
from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _state(api: HfApi, repo: str, repo_type: str = "model") -> tuple:
    """Everything a bad request must leave untouched."""
    refs = api.list_repo_refs(repo, repo_type=repo_type)
    return (
        sorted((b.name, b.target_commit) for b in refs.branches),
        sorted((t.name, t.target_commit) for t in refs.tags),
        [c.commit_id for c in api.list_repo_commits(repo, repo_type=repo_type)],
        sorted((f.path, getattr(f, "blob_id", None)) for f in api.list_repo_tree(repo, repo_type=repo_type,
                                                                                 recursive=True)),
    )


def test_old_commit_readable_by_sha_after_replacement(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    first = api.upload_file(path_or_fileobj=b"first version", path_in_repo="notes.txt", repo_id=repo)
    second = api.create_commit(repo, commit_message="replace", operations=[
        CommitOperationAdd("notes.txt", b"second version"), CommitOperationAdd("extra.txt", b"x")])
    assert open(hf_hub_download(repo, "notes.txt", cache_dir=tmp_path), "rb").read() == b"second version"
    old = hf_hub_download(repo, "notes.txt", revision=first.oid, cache_dir=tmp_path / "old")
    assert open(old, "rb").read() == b"first version"
    assert api.list_repo_files(repo, revision=first.oid) == [".gitattributes", "notes.txt"]
    assert api.model_info(repo).sha == second.oid


def test_everything_survives_a_restart(hub, api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset", private=True)
    big = bytes(range(256)) * 4096  # 1 MiB binary: stored through LFS
    commit = api.create_commit(repo, repo_type="dataset", commit_message="data", operations=[
        CommitOperationAdd("data/blob.bin", big), CommitOperationAdd("README.md", b"# card\n")])
    api.create_tag(repo, tag="v1.0", repo_type="dataset")
    api.create_branch(repo, branch="dev", repo_type="dataset")
    coll = api.create_collection("Survives restarts", namespace="hitz")
    api.add_collection_item(coll.slug, repo, "dataset")
    before = _state(api, repo, "dataset")
    old_pid = hub.pid

    hub.restart()

    assert hub.pid != old_pid
    assert _state(api, repo, "dataset") == before
    assert api.dataset_info(repo).private is True
    path = hf_hub_download(repo, "data/blob.bin", repo_type="dataset", revision="v1.0", cache_dir=tmp_path)
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == hashlib.sha256(big).hexdigest()
    assert api.dataset_info(repo, revision="dev").sha == commit.oid
    assert [i.item_id for i in api.get_collection(coll.slug).items] == [repo]


def _commit_raw(api: HfApi, repo: str, lines: list, raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    return httpx.post(f"{api.endpoint}/api/models/{repo}/commit/main", content=body, trust_env=False,
                      headers={**AUTH, "Content-Type": "application/x-ndjson"})


HEADER = {"key": "header", "value": {"summary": "bad"}}


def _file(path: str, content: bytes = b"x") -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


@pytest.mark.parametrize("case, lines, raw, message", [
    ("not json", None, b'{"key": "header", "value": {"summary": "x"}}\nnot json at all\n', "not valid JSON"),
    ("no header", [_file("a.txt")], None, "must start with a 'header'"),
    ("empty body", None, b"", "Empty commit payload"),
    ("unknown key", [HEADER, {"key": "symlink", "value": {"path": "a"}}], None, "unknown key"),
    ("bad base64", [HEADER, {"key": "file", "value": {"path": "a.txt", "content": "%%%", "encoding": "base64"}}],
     None, "not valid base64"),
    ("dotdot", [HEADER, _file("../escape.txt")], None, "Invalid path"),
    ("nested dotdot", [HEADER, _file("data/../../escape.txt")], None, "Invalid path"),
    ("absolute", [HEADER, _file("/etc/passwd")], None, "Invalid path"),
    ("backslash", [HEADER, _file("data\\win.txt")], None, "Invalid path"),
    ("dot git", [HEADER, _file(".git/config")], None, "Invalid path"),
    ("lfs never uploaded", [HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                                 "oid": "ab" * 32, "size": 10}}],
     None, "never uploaded"),
    ("lfs bad oid", [HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "xyz"}}],
     None, "64-hex"),
    ("file/dir clash", [HEADER, _file("a.txt/b.txt")], None, "Path clash"),
    ("duplicate path", [HEADER, _file("n.txt"), _file("n.txt")], None, "appears twice"),
    ("bad parent", [{"key": "header", "value": {"summary": "x", "parentCommit": "nothex"}}], None, "40-hex"),
    ("delete missing", [HEADER, _file("ok.txt"), {"key": "deletedFile", "value": {"path": "ghost.txt"}}], None,
     "doesn't exist"),
])
def test_bad_commits_are_refused_and_change_nothing(api: HfApi, repo_name, case, lines, raw, message):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"keep", path_in_repo="a.txt", repo_id=repo)
    before = _state(api, repo)
    resp = _commit_raw(api, repo, lines or [], raw)
    assert 400 <= resp.status_code < 500, resp.text
    assert message in resp.json()["error"], resp.json()
    assert resp.headers["X-Error-Message"]
    assert _state(api, repo) == before


def _lfs_batch(api: HfApi, repo: str, oid: str, size: int) -> dict:
    resp = httpx.post(f"{api.endpoint}/{repo}.git/info/lfs/objects/batch", trust_env=False, headers=AUTH,
                      json={"operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
                            "objects": [{"oid": oid, "size": size}]})
    resp.raise_for_status()
    return resp.json()["objects"][0]


def test_lfs_upload_with_wrong_sha_or_size_is_refused(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    content = b"\0real content" * 100
    oid = hashlib.sha256(content).hexdigest()
    before = _state(api, repo)
    with httpx.Client(trust_env=False) as client:
        # announced sha256 does not match the bytes
        action = _lfs_batch(api, repo, oid, len(content))["actions"]
        wrong = b"\0fake content" * 100
        resp = client.put(action["upload"]["href"], content=wrong)
        assert resp.status_code == 400 and "sha256" in resp.json()["error"]
        # more bytes than announced
        action = _lfs_batch(api, repo, oid, len(content))["actions"]
        resp = client.put(action["upload"]["href"], content=content + b"extra")
        assert resp.status_code == 400 and "larger" in resp.json()["error"]
        # fewer bytes than announced
        action = _lfs_batch(api, repo, oid, len(content))["actions"]
        resp = client.put(action["upload"]["href"], content=content[:-1])
        assert resp.status_code == 400 and "announced" in resp.json()["error"]
        # verify refuses what was never stored; a commit pointing at it too
        resp = client.post(action["verify"]["href"], json={"oid": oid, "size": len(content)}, headers=AUTH)
        assert resp.status_code == 404
        commit = _commit_raw(api, repo, [HEADER, {"key": "lfsFile", "value": {
            "path": "w.bin", "algo": "sha256", "oid": oid, "size": len(content)}}])
        assert commit.status_code == 400
        # an unknown upload link
        assert client.put(f"{api.endpoint}/_lfs/upload/forged", content=content).status_code == 403
    assert _state(api, repo) == before
    # the right bytes then go through, and the declared size must match in the commit
    action = _lfs_batch(api, repo, oid, len(content))["actions"]
    assert httpx.put(action["upload"]["href"], content=content, trust_env=False).status_code == 200
    bad_size = _commit_raw(api, repo, [HEADER, {"key": "lfsFile", "value": {
        "path": "w.bin", "algo": "sha256", "oid": oid, "size": 5}}])
    assert bad_size.status_code == 400 and "does not match" in bad_size.json()["error"]
    assert _state(api, repo) == before
    ok = _commit_raw(api, repo, [HEADER, {"key": "lfsFile", "value": {
        "path": "w.bin", "algo": "sha256", "oid": oid, "size": len(content)}}])
    assert ok.status_code == 200 and "w.bin" in api.list_repo_files(repo)


@pytest.mark.parametrize("repo_id", ["hitz/bad--name", "hitz/.hidden", "hitz/a..b", "hitz/name.git",
                                     "hitz/" + "x" * 97, "hitz/spa ce", "datasets/reserved-ns"])
def test_invalid_repo_ids_are_refused(repo_id):
    resp = httpx.post(f"{HfApi().endpoint}/api/repos/create", trust_env=False, headers=AUTH,
                      json={"name": repo_id.split("/")[1], "organization": repo_id.split("/")[0]})
    assert resp.status_code == 400, resp.text
    assert "Invalid" in resp.json()["error"]


def test_existing_tag_branch_and_unknown_revisions(api: HfApi, repo_name):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    api.create_tag(repo, tag="v1.0")
    before = _state(api, repo)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_tag(repo, tag="v1.0")
    assert err.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError) as err:
        api.create_branch(repo, branch="bad..name")
    assert err.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as err:  # commits go to branches, not tags
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="v1.0")
    assert err.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as err:
        api.delete_branch(repo, branch="main")
    assert err.value.response.status_code == 403
    assert _state(api, repo) == before


def test_keep_alive_survives_refused_requests(api: HfApi, repo_name):
    """An error answered before the body is read must not poison the next request on the connection."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    with httpx.Client(trust_env=False, headers=AUTH) as client:
        for _ in range(3):
            resp = client.post(f"{api.endpoint}/api/models/hitz/does-not-exist/commit/main",
                               content=b"x" * 200_000, headers={"Content-Type": "application/x-ndjson"})
            assert resp.status_code == 404
            assert client.get(f"{api.endpoint}/api/models/{repo}").status_code == 200


def test_schema_1_data_dir_is_migrated_and_made_private(tmp_path):
    """A data dir written by the previous hubtool (schema 1: collections without theme and position,
    created 0755/0644) opens with its data, gains the new columns, and becomes 0700/0600."""
    import sqlite3
    import stat

    from hub_tools.localhub.storage import SCHEMA_VERSION, HubStore

    root = tmp_path / "old"
    root.mkdir(mode=0o755)
    db = sqlite3.connect(root / "hub.sqlite3")
    db.executescript(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES('schema_version', '1');"
        "CREATE TABLE collections(slug TEXT PRIMARY KEY, namespace TEXT NOT NULL, title TEXT NOT NULL,"
        " description TEXT, private INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "INSERT INTO collections VALUES('hitz/old-1', 'hitz', 'Old', NULL, 0, 't', 't');")
    db.close()
    (root / "hub.sqlite3").chmod(0o644)
    store = HubStore(root)
    try:
        row = store.collection("hitz/old-1")
        assert (row["title"], row["theme"], row["position"]) == ("Old", "indigo", 0)
        assert store._read("SELECT value FROM meta WHERE key='schema_version'")[0][0] == str(SCHEMA_VERSION)
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        assert stat.S_IMODE((root / "hub.sqlite3").stat().st_mode) == 0o600
    finally:
        store.close()
