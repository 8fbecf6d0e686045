"""The local hub answers as the Hub does where clients depend on it (issue 14, "Protocol" and "Robustness").
Each test names the behaviour the hub had before and that the test catches."""
from __future__ import annotations

import socket
import time

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

from conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_names_may_start_and_end_with_underscore(api: HfApi, repo_name):
    """Before: `_name_` was refused although the Hub and validate_repo_id only forbid leading/trailing - and ."""
    repo = f"_{repo_name.replace('-', '_')}_/_x_"
    assert api.create_repo(repo).repo_id == repo
    assert api.repo_exists(repo)
    for bad in ("hitz/-x", "hitz/x.", ".hitz/x"):
        resp = httpx.post(f"{api.endpoint}/api/repos/create", headers=AUTH, trust_env=False,
                          json={"organization": bad.split("/")[0], "name": bad.split("/")[1]})
        assert resp.status_code == 400


def test_repo_id_without_namespace_is_repo_not_found(api: HfApi):
    """Before: a routing 404 without X-Error-Code, so these raised instead of answering False."""
    for rtype in ("model", "dataset", "space"):
        assert api.repo_exists("gpt2", repo_type=rtype) is False
        assert api.file_exists("gpt2", "config.json", repo_type=rtype) is False
        assert api.revision_exists("gpt2", "main", repo_type=rtype) is False
    resp = httpx.get(f"{api.endpoint}/api/models/gpt2/tree/main", trust_env=False)
    assert resp.status_code == 404 and resp.headers["X-Error-Code"] == "RepoNotFound"


def test_repo_ids_are_case_insensitive(api: HfApi, repo_name, tmp_path):
    """Before: ids were case-sensitive and two repos differing only in case could be created."""
    repo = f"hitz/{repo_name}-CaSe"
    api.create_repo(repo)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(repo.lower())
    assert err.value.response.status_code == 409
    assert api.model_info(repo.upper()).id == repo
    api.upload_file(path_or_fileobj=b"via another case", path_in_repo="f.txt", repo_id=repo.lower())
    path = hf_hub_download(repo.upper(), "f.txt", cache_dir=tmp_path)
    assert open(path, "rb").read() == b"via another case"
    assert [m.id for m in api.list_models(author="HITZ", search=repo_name.lower() + "-case")] == [repo]


def test_gitignore_is_honoured_at_preupload(api: HfApi, repo_name, tmp_path):
    """Before: shouldIgnore was always false and the `gitIgnore` field was ignored."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    folder = tmp_path / "f"
    (folder / "cache").mkdir(parents=True)
    (folder / ".gitignore").write_text("*.log\ncache/\n")
    (folder / "debug.log").write_text("noise")
    (folder / "cache" / "x.txt").write_text("cached")
    (folder / "keep.txt").write_text("keep")
    api.upload_folder(repo_id=repo, folder_path=folder)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", ".gitignore", "keep.txt"]
    # later commits are checked against the .gitignore already in the repo
    api.create_commit(repo, commit_message="more", operations=[
        CommitOperationAdd("other.log", b"x"), CommitOperationAdd("kept.txt", b"y")])
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", ".gitignore", "keep.txt", "kept.txt"]


def test_gated_and_unknown_settings_are_refused(api: HfApi, repo_name):
    """Before: `gated` was answered 200 and dropped."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    for gated in ("auto", "manual"):
        with pytest.raises(BadRequestError) as err:
            api.update_repo_settings(repo, gated=gated)
        assert "Gated" in str(err.value)
    api.update_repo_settings(repo, gated=False)  # what the hub is: accepted
    resp = httpx.put(f"{api.endpoint}/api/models/{repo}/settings", headers=AUTH, trust_env=False,
                     json={"discussionsDisabled": True})
    assert resp.status_code == 400 and "discussionsDisabled" in resp.json()["error"]
    with pytest.raises(BadRequestError):
        api.create_repo(f"hitz/{repo_name}-p", repo_type="space", space_sdk="gradio", visibility="protected")
    assert api.model_info(repo).gated is False and api.model_info(repo).private is False


def test_delete_folder_named_without_trailing_slash(api: HfApi, repo_name):
    """Before: CommitOperationDelete("data") (a folder, no '/') gave 404."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    api.create_commit(repo, commit_message="add", operations=[
        CommitOperationAdd("data/a.txt", b"a"), CommitOperationAdd("data/sub/b.txt", b"b"),
        CommitOperationAdd("other/c.txt", b"c"), CommitOperationAdd("data.txt", b"d")])
    api.create_commit(repo, commit_message="rm", operations=[CommitOperationDelete("data")])
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "data.txt", "other/c.txt"]
    api.delete_folder("other", repo_id=repo)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "data.txt"]


def test_short_commit_shas_resolve(api: HfApi, repo_name, tmp_path):
    """Before: only full 40-hex shas were looked up."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo).oid
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo)
    assert api.model_info(repo, revision=first[:7]).sha == first
    assert open(hf_hub_download(repo, "f.txt", revision=first[:12], cache_dir=tmp_path), "rb").read() == b"v1"
    assert api.revision_exists(repo, "0000000") is False


def test_a_branch_may_reuse_a_tag_name(api: HfApi, repo_name, tmp_path):
    """Before: 409, although refs/heads and refs/tags are separate namespaces on the Hub."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    v1 = api.upload_file(path_or_fileobj=b"tagged", path_in_repo="f.txt", repo_id=repo).oid
    api.create_tag(repo, tag="v1")
    api.create_branch(repo, branch="v1")
    api.upload_file(path_or_fileobj=b"on the branch", path_in_repo="f.txt", repo_id=repo, revision="v1")
    refs = api.list_repo_refs(repo)
    assert [t.name for t in refs.tags] == ["v1"] and "v1" in [b.name for b in refs.branches]

    def read(rev: str) -> bytes:
        return open(hf_hub_download(repo, "f.txt", revision=rev, cache_dir=tmp_path / rev.replace("/", "_")),
                    "rb").read()

    assert read("refs/tags/v1") == b"tagged" and read("refs/heads/v1") == b"on the branch"
    assert api.model_info(repo, revision="refs/tags/v1").sha == v1


def test_collection_theme_and_position_updates(api: HfApi, repo_name):
    """Before: theme and position were dropped (theme always "indigo")."""
    coll = api.create_collection(f"Themes {repo_name}"[:60], namespace="hitz")
    updated = api.update_collection_metadata(coll.slug, theme="green", position=3, description="d")
    assert (updated.theme, updated.position, updated.description) == ("green", 3, "d")
    got = api.get_collection(coll.slug)
    assert (got.theme, got.position) == ("green", 3)
    with pytest.raises(BadRequestError):
        api.update_collection_metadata(coll.slug, theme="rainbow")
    title = f"Elurra \u2603 {repo_name}"[:60]  # not latin-1: the 409 repeats it in a header, made safe
    first = api.create_collection(title, namespace="hitz")
    assert api.create_collection(title, namespace="hitz", exists_ok=True).slug == first.slug


def test_every_answer_has_a_request_id(api: HfApi, repo_name):
    """Before: no X-Request-Id, so client errors could not name the request."""
    api.create_repo(f"hitz/{repo_name}")
    with httpx.Client(trust_env=False) as client:
        ok = client.get(f"{api.endpoint}/api/models/hitz/{repo_name}")
        missing = client.head(f"{api.endpoint}/hitz/{repo_name}/resolve/main/nope")
    ids = {ok.headers["X-Request-Id"], missing.headers["X-Request-Id"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    with pytest.raises(HfHubHTTPError) as err:
        api.model_info(f"hitz/{repo_name}", revision="nope")
    assert err.value.request_id == err.value.response.headers["X-Request-Id"]


@pytest.mark.parametrize("bad", ["%00", "%0d%0a", "%0D%0AX-Injected:%20yes", "%7f"])
def test_control_characters_in_paths_get_a_400(api: HfApi, repo_name, bad):
    """Before: the decoded path went into X-Error-Message and no HTTP answer came back at all."""
    api.create_repo(f"hitz/{repo_name}")
    with httpx.Client(trust_env=False) as client:
        for url in (f"{api.endpoint}/hitz/{repo_name}/resolve/main/a{bad}b.txt",
                    f"{api.endpoint}/api/models/hitz/{repo_name}/tree/main/x{bad}",
                    f"{api.endpoint}/api/models/hitz/x{bad}y"):
            resp = client.get(url)
            assert resp.status_code == 400, url
            assert "X-Injected" not in resp.headers
            assert all(" " <= c <= "~" for c in resp.headers["X-Error-Message"])


def test_tree_cursor_is_validated_and_paging_works(api: HfApi, repo_name):
    """Before: cursor=abc was a 500 and cursor=-5 a wrong page."""
    repo = f"hitz/{repo_name}"
    api.create_repo(repo)
    n = 1003  # one page is 1000 entries
    api.create_commit(repo, commit_message="many", operations=[
        CommitOperationAdd(f"d/{i:04d}.txt", str(i).encode()) for i in range(n)])
    entries = [e.path for e in api.list_repo_tree(repo, path_in_repo="d")]
    assert entries == [f"d/{i:04d}.txt" for i in range(n)]
    with httpx.Client(trust_env=False) as client:
        for cursor in ("abc", "-5", "1e3", "99999", "٣"):
            resp = client.get(f"{api.endpoint}/api/models/{repo}/tree/main/d", params={"cursor": cursor})
            assert resp.status_code == 400, cursor
        last = client.get(f"{api.endpoint}/api/models/{repo}/tree/main/d", params={"cursor": "1000"})
        assert [e["path"] for e in last.json()] == ["d/1000.txt", "d/1001.txt", "d/1002.txt"]


def test_json_bodies_have_a_size_limit(api: HfApi):
    """Before: any body was read whole into memory (here a valid 33 MiB card was accepted)."""
    big = '{"content": "---\\nlicense: mit\\n---\\n' + "x" * (33 * 1024 * 1024) + '", "repoType": "model"}'
    with httpx.Client(trust_env=False, headers=AUTH) as client:
        resp = client.post(f"{api.endpoint}/api/validate-yaml", content=big,
                           headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
        streamed = client.post(f"{api.endpoint}/api/validate-yaml",  # no Content-Length: counted while read
                               content=iter([big[i:i + 1 << 20].encode() for i in range(0, len(big), 1 << 20)]))
        assert streamed.status_code == 413
        assert client.get(f"{api.endpoint}/api/whoami-v2").status_code == 200  # the connection still works


def test_a_slow_request_head_is_cut_off(tmp_path):
    """Before: no header read timeout, so a client sending its head byte by byte held a connection forever.
    This hub allows 2 s for a request head; one byte goes every 0.2 s, at most 200 (a far safety net)."""
    from urllib.parse import urlsplit

    from hub_tools.localhub import server as hubserver

    proc = hubserver.start_background(tmp_path / "hub", extra_args=["--header-timeout", "2"])
    head = b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n"
    sent, closed = 0, False
    try:
        with socket.create_connection(("127.0.0.1", urlsplit(proc.url).port), timeout=60) as s:
            while sent < 200 and not closed:
                try:
                    s.sendall(head[sent:sent + 1])
                    sent += 1
                    time.sleep(0.2)
                    s.setblocking(False)
                    closed = s.recv(1) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                finally:
                    s.setblocking(True)
        assert closed and sent < 200
        assert hubserver.health(proc.url)  # the server itself is fine
    finally:
        hubserver.stop_hub(tmp_path / "hub")
