"""A bounded fuzz of the local hub: random paths, query strings and bodies (JSON, NDJSON, form, bytes) on every
route family, as anonymous, an outsider, an admin and a wrong token, against a hub of its own on loopback.
Fixed seed and count: the same requests every run. Every answer must be an HTTP answer below 500."""
from __future__ import annotations

import json
import random
from urllib.parse import quote

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from hub_tools.localhub import server as hubserver

SEED, REQUESTS = 20260514, 1500
ADMIN, OUTSIDER = "hf_fuzz_admin_0123456789", "hf_fuzz_bob_0123456789"
KEYS = ["name", "organization", "type", "private", "visibility", "gated", "files", "objects", "operation", "title",
        "description", "pullRequest", "comment", "status", "item", "note", "position", "theme", "key", "value", "tag",
        "startingPoint", "emptyBranch", "content", "paths", "path", "size", "sample", "oid", "gitIgnore", "rules",
        "namespace", "id", "sdk", "summary", "parentCommit", "encoding", "hash_algo", "transfers"]
WORDS = ["main", "v1", "m", "d", "fuzz", "FUZZ", "x", "", "..", ".git", "refs/pr/1", "refs/heads/main", "a/b", "-",
         "_", "%", "\u00e9\u00f1", "\u202e", "0" * 40, "a" * 300, "model", "dataset", "space", "private", "public",
         "auto", "open", "closed", "green", "upload", "download"]


def _scalar(rng: random.Random):
    return rng.choice([None, True, False, 0, -1, 2**63, 1.5, rng.choice(WORDS), rng.randint(-5, 10**6),
                       "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 12)))])


def _json(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return _scalar(rng)
    if roll < 0.55:
        return [_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): _json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _segment(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(pool)
    if roll < 0.8:
        return quote(rng.choice(WORDS), safe="")
    return "".join(rng.choice(["%2F", "%2e", "%ff", "%C3%A9", "%25", "a", "Z", "9", "-", "_", ".", "~", "%20",
                               "%3F", "%23"]) for _ in range(rng.randint(1, 8)))


def _request(rng: random.Random) -> tuple[str, str, dict]:
    t = rng.choice(["model", "dataset", "space", "bucket"])
    repo = _segment(rng, ["fuzz/m", "fuzz/d", "FUZZ/M", "fuzz/s", "fuzz", "fuzz/m/x", "nope/nope"])
    rev = _segment(rng, ["main", "v1", "refs%2Fpr%2F1", "refs/pr/1", "refs%2Fpr%2F99999999999", "dev", "abc1234",
                         "0" * 40])
    path = _segment(rng, ["README.md", "w.bin", "data/a.txt", "data", "data/../x", "", "a%2Fb"])
    num = rng.choice(["1", "2", "0", "-1", "99999999999999", "abc", "1.0"])
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}.get(t, "buckets/")
    slug = rng.choice(["fuzz/c-0", "fuzz", "x/y/z", "%2e%2e/x"])
    api = f"/api/{t}s/{repo}"
    paths = [api, f"{api}/revision/{rev}", f"{api}/tree/{rev}/{path}", f"{api}/paths-info/{rev}",
             f"{api}/preupload/{rev}", f"{api}/commit/{rev}", f"{api}/refs", f"{api}/commits/{rev}",
             f"{api}/tag/{rev}", f"{api}/branch/{rev}", f"{api}/settings", f"{api}/discussions",
             f"{api}/discussions/{num}", f"{api}/discussions/{num}/{rng.choice(['comment', 'status', 'merge', 'x'])}",
             f"{api}/variables", f"{api}/xet-write-token/{rev}", f"/api/{t}s", "/api/repos/create", "/api/repos/delete",
             "/api/collections", f"/api/collections/{slug}", f"/api/collections/{slug}/items",
             f"/api/collections/{slug}/items/{num}", "/api/validate-yaml", "/api/whoami-v2",
             f"/{prefix}{repo}/resolve/{rev}/{path}", f"/{prefix}{repo}.git/info/lfs/objects/batch",
             f"/_lfs/upload/{num}", f"/_lfs/verify/{num}", "/" + _segment(rng, ["api", "_lfs", "datasets"]),
             "/api/_localhub/faults", "/api/_localhub/health"]
    url = rng.choice(paths)
    if rng.random() < 0.5:
        params = {rng.choice(["cursor", "recursive", "expand", "blobs", "p", "type", "status", "create_pr", "search",
                              "author", "owner", "include_prs", "diff", "limit"]): str(_scalar(rng))
                  for _ in range(rng.randint(1, 3))}
        url += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    method = rng.choice(["GET", "GET", "HEAD", "POST", "POST", "PUT", "PATCH", "DELETE"])
    kwargs: dict = {"headers": {}}
    token = rng.choice([None, ADMIN, ADMIN, OUTSIDER, "hf_wrong"])
    if token:
        kwargs["headers"]["Authorization"] = f"Bearer {token}"
    if rng.random() < 0.2:
        kwargs["headers"]["Range"] = rng.choice(["bytes=0-3", "bytes=-1", "bytes=5-2", "bytes=x", "items=0-1",
                                                 "bytes=0-1,3-4", "bytes=99999999999999999999-"])
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = rng.random()
        if kind < 0.55:
            kwargs["content"] = json.dumps(_json(rng)).encode()
        elif kind < 0.75:
            lines = [{"key": rng.choice(["header", "file", "lfsFile", "deletedFile", "deletedFolder", "x"]),
                      "value": _json(rng, 2)} for _ in range(rng.randint(0, 4))]
            kwargs["content"] = b"\n".join(json.dumps(x).encode() for x in lines)
        elif kind < 0.85:
            kwargs["content"] = "&".join(f"paths={_segment(rng, ['README.md', 'data', 'x'])}"
                                         for _ in range(rng.randint(0, 3))).encode()
        else:
            kwargs["content"] = rng.randbytes(rng.randint(0, 2048))
    return method, url, kwargs


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzhub")
    users = root / "users.yaml"
    users.write_text(f"users:\n  - {{name: hubtool, token: {ADMIN}, admin: true}}\n"
                     f"  - {{name: bob, token: {OUTSIDER}}}\n")
    proc = hubserver.start_background(root / "hub", extra_args=["--users-file", str(users)])
    api = HfApi(endpoint=proc.url, token=ADMIN)
    api.create_repo("fuzz/m")
    api.create_commit("fuzz/m", commit_message="seed", operations=[
        CommitOperationAdd("README.md", b"---\nlicense: mit\n---\n# m\n"), CommitOperationAdd("data/a.txt", b"a"),
        CommitOperationAdd("w.bin", bytes(range(256)) * 8)])
    api.create_tag("fuzz/m", tag="v1")
    api.create_branch("fuzz/m", branch="dev")
    api.create_commit("fuzz/m", commit_message="pr", create_pr=True, operations=[CommitOperationAdd("p.txt", b"p")])
    api.create_repo("fuzz/d", repo_type="dataset", private=True)
    api.create_repo("fuzz/s", repo_type="space", space_sdk="gradio")
    api.create_collection("c", namespace="fuzz")
    yield proc.url
    hubserver.stop_hub(root / "hub")


def test_no_route_answers_500_under_fuzz(fuzz_hub):
    rng = random.Random(SEED)
    failures = []
    seen = set()
    with httpx.Client(base_url=fuzz_hub, trust_env=False, timeout=60) as client:
        for i in range(REQUESTS):
            method, url, kwargs = _request(rng)
            try:
                resp = client.request(method, url, **kwargs)
            except httpx.HTTPError as err:  # no answer at all is as bad as a 500
                failures.append((i, method, url, type(err).__name__))
                client = httpx.Client(base_url=fuzz_hub, trust_env=False, timeout=60)
                continue
            seen.add(resp.status_code)
            if resp.status_code >= 500 or not all(" " <= c <= "~" for c in resp.headers.get("X-Error-Message", "")):
                failures.append((i, method, url, resp.status_code, resp.headers.get("X-Error-Message")))
    assert failures == []
    assert {200, 400, 401, 404} <= seen  # the fuzz reached handlers, not only the router
    assert hubserver.health(fuzz_hub)
