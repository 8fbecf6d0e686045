"""The local hub keeps private data private: visibility switches, proof of possession for LFS objects,
collections, file modes of the data dir, and tokens kept off command lines and out of output."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from conftest import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN
from hub_tools.localhub import server as hubserver

SECRET = b"\0private weights " * 500  # binary: stored through LFS
SECRET_OID = hashlib.sha256(SECRET).hexdigest()


def _auth(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _read_requests(endpoint: str, repo_id: str, rtype: str, sha: str) -> list[tuple[str, str, dict]]:
    """Every read route of one repo, as raw requests (method, url, extra httpx arguments)."""
    api = f"{endpoint}/api/{rtype}s/{repo_id}"
    prefix = "" if rtype == "model" else f"{rtype}s/"
    return [
        ("GET", api, {}),
        ("GET", f"{api}/revision/main", {}),
        ("GET", f"{api}/revision/{sha}", {}),
        ("GET", f"{api}/tree/main", {}),
        ("GET", f"{api}/tree/main/data?recursive=true", {}),
        ("POST", f"{api}/paths-info/main", {"data": {"paths": ["data/w.bin"]}}),
        ("GET", f"{api}/refs?include_prs=1", {}),
        ("GET", f"{api}/commits/main", {}),
        ("GET", f"{api}/discussions", {}),
        ("HEAD", f"{endpoint}/{prefix}{repo_id}/resolve/main/data/w.bin", {}),
        ("GET", f"{endpoint}/{prefix}{repo_id}/resolve/{sha}/README.md", {}),
        ("GET", f"{endpoint}/{prefix}{repo_id}/resolve/main/README.md", {"headers": {"Range": "bytes=0-3"}}),
        ("POST", f"{endpoint}/{prefix}{repo_id}.git/info/lfs/objects/batch",
         {"json": {"operation": "upload", "objects": [{"oid": SECRET_OID, "size": len(SECRET)}]}}),
    ]


def _assert_invisible(api: HfApi, repo_id: str, rtype: str, sha: str, coll_slug: str) -> None:
    """404 RepoNotFound on every read route for anonymous callers and other users; a wrong token gets the
    answer it gets for a repo that does not exist; not listed; hidden from a public collection."""
    ghost = repo_id + "-does-not-exist"
    with httpx.Client(trust_env=False) as client:
        for method, url, kwargs in _read_requests(api.endpoint, repo_id, rtype, sha):
            for token in (None, BOB_TOKEN):
                headers = {**kwargs.get("headers", {}), **_auth(token)}
                resp = client.request(method, url, **{**kwargs, "headers": headers})
                assert resp.status_code == 404, (method, url, token, resp.status_code)
                assert resp.headers["X-Error-Code"] == "RepoNotFound", (method, url)
            wrong = {**kwargs.get("headers", {}), **_auth("hf_wrong_token")}
            private = client.request(method, url, **{**kwargs, "headers": wrong})
            missing = client.request(method, url.replace(repo_id, ghost), **{**kwargs, "headers": wrong})
            assert (private.status_code, private.headers.get("X-Error-Message")) == (
                missing.status_code, missing.headers.get("X-Error-Message")), (method, url)
            assert private.status_code in (401, 404)
    for token in (False, BOB_TOKEN):
        other = HfApi(endpoint=api.endpoint, token=token)
        listed = {r.id for r in other.list_models(author="hitz")} | {r.id for r in other.list_datasets()}
        assert repo_id not in listed
        with pytest.raises(RepositoryNotFoundError):
            other.repo_info(repo_id, repo_type=rtype)
        assert [(i.item_type, i.item_id) for i in other.get_collection(coll_slug).items] == []
        assert all(i.item_id != repo_id for c in other.list_collections(owner="hitz") for i in (c.items or []))


def _make_repo(api: HfApi, repo_id: str, private: bool, secret: bytes = SECRET) -> str:
    api.create_repo(repo_id, repo_type="dataset", private=private)
    return api.create_commit(repo_id, repo_type="dataset", commit_message="data", operations=[
        CommitOperationAdd("data/w.bin", secret), CommitOperationAdd("README.md", b"# private\n")]).oid


@pytest.mark.parametrize("how", ["created private", "switched with update_repo_settings"])
def test_private_repo_is_invisible_on_every_route(api: HfApi, repo_name, how, tmp_path):
    """Before the fix, update_repo_settings(private=True) answered 200 and changed nothing."""
    repo_id = f"hitz/{repo_name}"
    sha = _make_repo(api, repo_id, private=how == "created private")
    coll = api.create_collection(f"Public {repo_name}"[:60], namespace="hitz")
    api.add_collection_item(coll.slug, repo_id, "dataset")
    if how != "created private":
        assert api.dataset_info(repo_id).private is False
        assert HfApi(endpoint=api.endpoint, token=False).dataset_info(repo_id).id == repo_id
        api.update_repo_settings(repo_id, repo_type="dataset", private=True)
    assert api.dataset_info(repo_id).private is True
    _assert_invisible(api, repo_id, "dataset", sha, coll.slug)
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)  # an org member still reads everything
    assert alice.dataset_info(repo_id).private is True
    path = hf_hub_download(repo_id, "data/w.bin", repo_type="dataset", token=ALICE_TOKEN, cache_dir=tmp_path)
    assert Path(path).read_bytes() == SECRET
    assert [i.item_id for i in alice.get_collection(coll.slug).items] == [repo_id]
    # and back to public through `visibility` as huggingface_hub 2.x sends it
    api.update_repo_settings(repo_id, repo_type="dataset", visibility="public")
    assert HfApi(endpoint=api.endpoint, token=False).dataset_info(repo_id).private is False


def test_private_collections_are_invisible_to_outsiders(api: HfApi, repo_name):
    """A private collection answers 404 to anonymous callers and other users, also as an item of a public
    collection; a public collection listed as an item stays visible to everyone."""
    hidden = api.create_collection(f"Hidden {repo_name}"[:60], namespace="hitz", private=True)
    shown = api.create_collection(f"Shown {repo_name}"[:60], namespace="hitz")
    outer = api.create_collection(f"Outer {repo_name}"[:60], namespace="hitz")
    api.add_collection_item(outer.slug, hidden.slug, "collection")
    api.add_collection_item(outer.slug, shown.slug, "collection")
    api.add_collection_item(outer.slug, "2402.00001", "paper")  # papers are public
    mine = {hidden.slug, shown.slug, outer.slug}
    for token in (False, BOB_TOKEN):
        other = HfApi(endpoint=api.endpoint, token=token)
        with pytest.raises(HfHubHTTPError) as err:
            other.get_collection(hidden.slug)
        assert err.value.response.status_code == 404
        assert [i.item_id for i in other.get_collection(outer.slug).items] == [shown.slug, "2402.00001"]
        assert {c.slug for c in other.list_collections(owner="hitz")} & mine == {shown.slug, outer.slug}
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)  # an org member sees both
    assert alice.get_collection(hidden.slug).private is True
    assert [i.item_id for i in alice.get_collection(outer.slug).items] == [hidden.slug, shown.slug, "2402.00001"]
    assert {c.slug for c in alice.list_collections(owner="hitz")} & mine == mine
    assert alice.get_collection(outer.slug).upvotes == 0  # the local hub has no upvotes
    raw = httpx.get(f"{api.endpoint}/api/collections/{outer.slug}", headers=_auth(ALICE_TOKEN), trust_env=False)
    assert (raw.json()["upvotes"], raw.json()["isUpvotedByUser"]) == (0, False)  # as the Hub answers, for any client


def test_lfs_probe_with_a_known_hash_gets_an_upload_request(api: HfApi, repo_name, tmp_path):
    """Before the fix, a user knowing only sha256 and size of an object in someone else's private repo got
    "already stored", committed a pointer to it in his own repo and downloaded the private bytes."""
    victim, thief = f"hitz/{repo_name}", f"bob/{repo_name}"
    secret = b"\0only in the victim's repo " * 300  # no other test stores these bytes
    oid = hashlib.sha256(secret).hexdigest()
    _make_repo(api, victim, private=True, secret=secret)
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    bob.create_repo(thief)
    batch = httpx.post(f"{api.endpoint}/{thief}.git/info/lfs/objects/batch", headers=_auth(BOB_TOKEN),
                       trust_env=False, json={"operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
                                              "objects": [{"oid": oid, "size": len(secret)}]})
    assert batch.status_code == 200
    answer = batch.json()["objects"][0]
    assert "upload" in answer["actions"], answer  # the same answer as for content nobody ever stored
    unknown = hashlib.sha256(b"never stored anywhere").hexdigest()
    other = httpx.post(f"{api.endpoint}/{thief}.git/info/lfs/objects/batch", headers=_auth(BOB_TOKEN),
                       trust_env=False, json={"operation": "upload",
                                              "objects": [{"oid": unknown, "size": len(secret)}]}).json()
    assert set(other["objects"][0]) == set(answer)
    pointer = [{"key": "header", "value": {"summary": "steal"}},
               {"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", "oid": oid,
                                            "size": len(secret)}}]
    commit = httpx.post(f"{api.endpoint}/api/models/{thief}/commit/main", headers=_auth(BOB_TOKEN), trust_env=False,
                        content=b"".join(json.dumps(x).encode() + b"\n" for x in pointer))
    assert commit.status_code == 400 and "never uploaded" in commit.json()["error"]
    assert "stolen.bin" not in bob.list_repo_files(thief)
    resp = httpx.get(f"{api.endpoint}/{thief}/resolve/main/stolen.bin", trust_env=False, headers=_auth(BOB_TOKEN))
    assert resp.status_code == 404 and secret not in resp.content
    # whoever really has the bytes proves it by uploading them, and then may commit them
    bob.upload_file(path_or_fileobj=secret, path_in_repo="mine.bin", repo_id=thief)
    assert Path(hf_hub_download(thief, "mine.bin", token=BOB_TOKEN, cache_dir=tmp_path)).read_bytes() == secret


def test_lfs_objects_readable_by_the_caller_are_not_uploaded_twice(hub, api: HfApi, repo_name):
    """Dedup still works where it reveals nothing: content the caller can already download."""
    public = f"hitz/{repo_name}"
    payload = b"\0public weights" * 400
    api.create_repo(public)
    api.upload_file(path_or_fileobj=payload, path_in_repo="w.bin", repo_id=public)
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    bob.create_repo(f"bob/{repo_name}")
    before = httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()["lfs_uploads"]
    bob.upload_file(path_or_fileobj=payload, path_in_repo="copy.bin", repo_id=f"bob/{repo_name}")
    assert httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()["lfs_uploads"] == before


def _batch(endpoint: str, repo_id: str, token: str, oid: str, size: int) -> dict:
    resp = httpx.post(f"{endpoint}/{repo_id}.git/info/lfs/objects/batch", headers=_auth(token), trust_env=False,
                      json={"operation": "upload", "objects": [{"oid": oid, "size": size}]})
    assert resp.status_code == 200, resp.text
    return resp.json()["objects"][0]


def test_lfs_dedup_needs_the_same_size_and_counts_uncommitted_uploads(api: HfApi, repo_name):
    """An object the caller may read is "already there" only with its own size; one uploaded to this repo counts
    before any commit uses it (a retried commit does not upload it again)."""
    public, mine = f"hitz/{repo_name}", f"bob/{repo_name}"
    payload = b"\0sized weights" * 400
    oid = hashlib.sha256(payload).hexdigest()
    api.create_repo(public)
    api.upload_file(path_or_fileobj=payload, path_in_repo="w.bin", repo_id=public)
    HfApi(endpoint=api.endpoint, token=BOB_TOKEN).create_repo(mine)
    assert "actions" not in _batch(api.endpoint, mine, BOB_TOKEN, oid, len(payload))
    for size in (len(payload) - 1, len(payload) + 1):
        assert "upload" in _batch(api.endpoint, mine, BOB_TOKEN, oid, size)["actions"], size

    fresh = b"\0uploaded, not yet committed" * 300
    fresh_oid = hashlib.sha256(fresh).hexdigest()
    first = _batch(api.endpoint, mine, BOB_TOKEN, fresh_oid, len(fresh))
    put = httpx.put(first["actions"]["upload"]["href"], content=fresh, trust_env=False)
    assert put.status_code == 200
    assert "actions" not in _batch(api.endpoint, mine, BOB_TOKEN, fresh_oid, len(fresh))


def test_outsider_token_cannot_list_or_read_private_repos(api: HfApi, repo_name):
    """Issue 18: listing was checked for anonymous callers and members, never for a logged-in outsider."""
    for rtype in ("model", "dataset", "space"):
        api.create_repo(f"hitz/{repo_name}", repo_type=rtype, private=True, space_sdk="gradio")
    bob = HfApi(endpoint=api.endpoint, token=BOB_TOKEN)
    alice = HfApi(endpoint=api.endpoint, token=ALICE_TOKEN)
    listings = {
        "model": (bob.list_models, alice.list_models), "dataset": (bob.list_datasets, alice.list_datasets),
        "space": (bob.list_spaces, alice.list_spaces),
    }
    for rtype, (as_bob, as_alice) in listings.items():
        for kwargs in ({}, {"author": "hitz"}, {"search": repo_name}):
            assert f"hitz/{repo_name}" not in {r.id for r in as_bob(**kwargs)}, (rtype, kwargs)
        assert f"hitz/{repo_name}" in {r.id for r in as_alice(author="hitz")}
        with pytest.raises(RepositoryNotFoundError):
            bob.repo_info(f"hitz/{repo_name}", repo_type=rtype)
        with pytest.raises(RepositoryNotFoundError):
            bob.list_repo_files(f"hitz/{repo_name}", repo_type=rtype)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def _wait_for(path: Path, limit: int = 600) -> None:
    for _ in range(limit):  # bounded polling; the far safety net is limit * 0.1 s
        if path.exists() and path.stat().st_size:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def test_data_dir_is_private_and_tokens_stay_off_the_command_line(tmp_path):
    """Before the fix: data dir 0755 and files 0644 under the usual umask, and `hub serve --token X` put the
    admin token in the process list (there was no other way than HUBTOOL_HUB_TOKEN)."""
    data_dir, token_file = tmp_path / "hub", tmp_path / "admin.token"
    token = "hf_local_from_a_file_0123456789"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    old_umask = os.umask(0o022)
    try:
        proc = hubserver.start_background(data_dir, extra_args=["--token-file", str(token_file)])
    finally:
        os.umask(old_umask)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert token.encode() not in cmdline and b"--token-file" in cmdline
        api = HfApi(endpoint=proc.url, token=token)
        assert api.whoami()["name"] == "hubtool"
        api.create_repo("hubtool/secret", private=True)
        api.upload_file(path_or_fileobj=SECRET, path_in_repo="w.bin", repo_id="hubtool/secret")
        api.upload_file(path_or_fileobj=b"regular", path_in_repo="r.txt", repo_id="hubtool/secret")
        modes = _modes(data_dir)
        files = {p for p in modes if (data_dir / p).is_file()} - {"."}
        assert {"hub.sqlite3", "server.json", "server.log"} <= files
        assert any(p.startswith("objects/") for p in files)
        assert {p: oct(m) for p, m in modes.items() if (data_dir / p).is_dir() and m != 0o700} == {}
        assert {p: oct(m) for p, m in modes.items() if p in files and m != 0o600} == {}
        for args in (["hub", "status", "--data-dir", str(data_dir)], ["hub", "status", "--data-dir", str(data_dir),
                                                                      "--json"]):
            out = subprocess.run([sys.executable, "-m", "hub_tools.cli", *args], capture_output=True, text=True,
                                 timeout=120)
            assert out.returncode == 0 and proc.url in out.stdout
            assert token not in out.stdout + out.stderr
    finally:
        hubserver.stop_hub(data_dir)


def test_admin_token_from_the_environment_and_refused_on_argv(tmp_path):
    from hub_tools.cli import main as cli_main

    refused = CliRunner().invoke(cli_main, ["hub", "serve", "--data-dir", str(tmp_path / "x"), "--token", "hf_x"])
    assert refused.exit_code == 2 and "--token-file" in refused.output and "process list" in refused.output
    loose = tmp_path / "loose.token"
    loose.write_text("hf_loose\n")
    loose.chmod(0o644)
    refused = CliRunner().invoke(cli_main, ["hub", "serve", "--data-dir", str(tmp_path / "x"),
                                            "--token-file", str(loose)])
    assert refused.exit_code == 2 and "chmod 600" in refused.output
    with pytest.raises(ValueError):
        hubserver.start_background(tmp_path / "y", extra_args=["--token", "hf_x"])

    token = "hf_local_from_the_env_0123456789"
    data_dir = tmp_path / "envhub"
    env = {**os.environ, hubserver.TOKEN_ENV: token}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hub_tools.cli", "hub", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(data_dir / "server.json")
        url = json.loads((data_dir / "server.json").read_text())["url"]
        for _ in range(300):
            if hubserver.health(url):
                break
            time.sleep(0.1)
        assert HfApi(endpoint=url, token=token).whoami()["name"] == "hubtool"
        assert token.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=url, token=ADMIN_TOKEN).whoami()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
