"""The HTTP face of the local hub: an ASGI app answering the Hub REST routes that huggingface_hub,
datasets, transformers and peft call (see docs/local-hub.md for the list).

Routing is done on the raw, still percent-encoded path: clients send revisions quoted with
``safe=""`` (``refs%2Fpr%2F1``), so a decoded path could not be split unambiguously.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hub_tools import __version__
from hub_tools.artifacts.frontmatter import front_matter
from hub_tools.localhub.auth import TokenRegistry, User
from hub_tools.localhub.errors import HubError, bad_request, entry_not_found, repo_not_found
from hub_tools.localhub.storage import (
    LFS_SUFFIXES,
    REGULAR_MAX_SIZE,
    REPO_TYPES,
    Entry,
    FileOp,
    HubStore,
    Repo,
    check_name,
    check_repo_path,
    decode_regular_content,
    dir_oid,
    directories_of,
    is_hex,
    lfs_pointer,
)

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
TICKET_TTL_S = 3600
MAX_NDJSON_LINE = 64 * 1024 * 1024
TREE_PAGE_SIZE = 1000


@dataclass
class FaultRule:
    """A test-only fault: answer ``status`` to the ``after``+1-th .. ``after+times``-th matching request.

    ``when="before"`` fails before the request is handled; ``"after"`` handles it (e.g. the commit
    lands) and then answers the error, as when a response is lost on the way back.
    """

    method: str
    path_contains: str
    after: int = 0
    times: int = 1
    status: int = 500
    when: str = "before"
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method.upper() and self.path_contains in path

    def should_fire(self) -> bool:
        self.seen += 1
        if self.seen > self.after and self.fired < self.times:
            self.fired += 1
            return True
        return False


@dataclass
class _Ticket:
    repo_id: int
    oid: str
    size: int
    expires: float


@dataclass
class _BodyTracker:
    """Wraps ``receive`` to know whether the request body was read to its end."""

    receive: Receive
    done: bool = False

    async def __call__(self) -> dict:
        message = await self.receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.done = True
        elif message["type"] == "http.disconnect":
            self.done = True
        return message


@dataclass
class LocalHubApp:
    store: HubStore
    tokens: TokenRegistry
    enable_faults: bool = False
    faults: list[FaultRule] = field(default_factory=list)
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    # test hooks: what was written since start (GET /api/_localhub/stats with --enable-fault-injection)
    counters: dict[str, int] = field(default_factory=lambda: {"commits": 0, "lfs_bytes": 0, "regular_bytes": 0,
                                                              "lfs_uploads": 0})

    # -- ASGI entry ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = _BodyTracker(receive)
        request = Request(scope, body)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        fault = self._fault_for(request.method, path)
        try:
            if fault is not None and fault.when == "before":
                raise HubError(fault.status, f"Injected fault ({fault.status}) for tests")
            response = await self.dispatch(request, path)
            if fault is not None:
                response = _error_response(HubError(fault.status, f"Injected fault ({fault.status}) after handling"))
        except HubError as err:
            response = _error_response(err)
        except Exception:  # a bug: answer 500 without leaking internals, keep serving
            log.exception("local hub: unhandled error on %s %s", request.method, path.split("/_lfs/")[0])
            response = _error_response(HubError(500, "Internal error in the local hub (see its log)"))
        if not body.done:  # keep-alive: an unread body would corrupt the next pooled request
            async for _ in request.stream():
                pass
        await response(scope, body, send)

    def _fault_for(self, method: str, path: str) -> FaultRule | None:
        for rule in self.faults:
            if rule.matches(method, path) and rule.should_fire():
                return rule
        return None

    # -- routing ------------------------------------------------------------------------------
    async def dispatch(self, request: Request, path: str) -> Response:
        segs = [unquote(s) for s in path.split("/")[1:]]
        while segs and segs[-1] == "":
            segs.pop()
        if not segs:
            return JSONResponse({"name": "hubtool local hub", "version": __version__})
        if segs[0] == "api":
            return await self.api(request, segs[1:])
        if segs[0] == "_lfs" and len(segs) == 3:
            if segs[1] == "upload" and request.method == "PUT":
                return await self.lfs_upload(request, segs[2])
            if segs[1] == "verify" and request.method == "POST":
                return await self.lfs_verify(request, segs[2])
        repo_type, rest = "model", segs
        if segs[0] in ("datasets", "spaces") and len(segs) >= 3:
            repo_type, rest = segs[0][:-1], segs[1:]
        if len(rest) >= 2:
            ns, name, tail = rest[0], rest[1], rest[2:]
            if name.endswith(".git") and tail == ["info", "lfs", "objects", "batch"] and request.method == "POST":
                return await self.lfs_batch(request, repo_type, ns, name[:-4])
            if tail and tail[0] == "resolve" and len(tail) >= 3 and request.method in ("GET", "HEAD"):
                rev, file_segs = _split_rev(tail[1:])
                return self.resolve(request, repo_type, ns, name, rev, "/".join(file_segs))
        raise HubError(404, f"No route for {request.method} {path}")

    async def api(self, request: Request, segs: list[str]) -> Response:
        m = request.method
        match segs:
            case ["whoami-v2"] if m == "GET":
                return self.whoami(request)
            case ["repos", "create"] if m == "POST":
                return self.create_repo(request, await _json(request))
            case ["repos", "delete"] if m == "DELETE":
                return self.delete_repo(request, await _json(request))
            case ["validate-yaml"] if m == "POST":
                return self.validate_yaml(await _json(request))
            case ["collections"] if m == "GET":
                return self.list_collections(request)
            case ["collections"] if m == "POST":
                return self.create_collection(request, await _json(request))
            case ["collections", ns, slug, *more]:
                return await self.collection_route(request, f"{ns}/{slug}", more)
            case ["_localhub", "health"] if m == "GET":
                return JSONResponse({"status": "ok", "version": __version__})
            case ["_localhub", "faults"] if m == "POST" and self.enable_faults:
                return self.set_faults(await _json(request))
            case ["_localhub", "stats"] if m == "GET" and self.enable_faults:
                return JSONResponse(self.counters)
            case [plural] if plural.endswith("s") and plural[:-1] in REPO_TYPES and m == "GET":
                return self.list_repos(request, plural[:-1])
            case [plural, ns, name, *rest] if plural.endswith("s") and plural[:-1] in REPO_TYPES:
                return await self.repo_route(request, plural[:-1], ns, name, rest)
        raise HubError(404, f"No route for {m} /api/{'/'.join(segs)}")

    async def repo_route(self, request: Request, rtype: str, ns: str, name: str, rest: list[str]) -> Response:
        m = request.method
        q = request.query_params
        match rest:
            case [] if m == "GET":
                return self.repo_info(request, rtype, ns, name, None)
            case ["revision", *rev] if m == "GET" and rev:
                return self.repo_info(request, rtype, ns, name, _split_rev(rev)[0])
            case ["preupload", *rev] if m == "POST" and rev:
                return self.preupload(request, rtype, ns, name, _split_rev(rev)[0], await _json(request))
            case ["commit", *rev] if m == "POST" and rev:
                return await self.commit(request, rtype, ns, name, _split_rev(rev)[0])
            case ["tree", *rev_path] if m == "GET" and rev_path:
                rev, sub = _split_rev(rev_path)
                return self.tree(request, rtype, ns, name, rev, "/".join(sub),
                                 _truthy(q.get("recursive")), _truthy(q.get("expand")), int(q.get("cursor", 0) or 0))
            case ["paths-info", *rev] if m == "POST" and rev:
                form = parse_qs((await request.body()).decode(), keep_blank_values=True)
                return self.paths_info(request, rtype, ns, name, _split_rev(rev)[0], form.get("paths", []),
                                       _truthy((form.get("expand") or ["false"])[0]))
            case ["refs"] if m == "GET":
                return self.list_refs(request, rtype, ns, name, _truthy(q.get("include_prs")))
            case ["commits", *rev] if m == "GET" and rev:
                return self.list_commits(request, rtype, ns, name, _split_rev(rev)[0])
            case ["tag", *rev] if m == "POST" and rev:
                return self.create_tag(request, rtype, ns, name, _split_rev(rev)[0], await _json(request))
            case ["tag", *tag] if m == "DELETE" and tag:
                return self.delete_ref(request, rtype, ns, name, "tag", "/".join(tag))
            case ["branch", *branch] if m == "POST" and branch:
                return self.create_branch(request, rtype, ns, name, "/".join(branch), await _json(request, {}))
            case ["branch", *branch] if m == "DELETE" and branch:
                return self.delete_ref(request, rtype, ns, name, "branch", "/".join(branch))
            case ["variables"] if rtype == "space":
                return await self.space_variables(request, ns, name)
            case ["settings"] if m == "PUT":
                return self.update_settings(request, rtype, ns, name, await _json(request))
            case [("xet-write-token" | "xet-read-token"), *_]:
                raise HubError(404, "The local hub has no Xet storage: run clients with HF_HUB_DISABLE_XET=1 "
                                    "(hubtool sets it for local endpoints)")
        raise HubError(404, f"No route for {m} /api/{rtype}s/{ns}/{name}/{'/'.join(rest)}")

    # -- auth helpers -------------------------------------------------------------------------
    def _user(self, request: Request) -> User | None:
        return self.tokens.authenticate(request.headers.get("authorization"))

    def _writer(self, request: Request, namespace: str) -> User:
        user = self._user(request)
        if user is None:
            raise HubError(401, "Authentication required: send a token with write access "
                                "(HF_TOKEN or `hf auth login`)")
        if not user.can_access(namespace):
            raise HubError(403, f"{user.name} may not write to the namespace {namespace!r}")
        return user

    def _repo(self, request: Request, rtype: str, ns: str, name: str, write: bool = False) -> tuple[Repo, User | None]:
        user = self._user(request)
        repo = self.store.get_repo(rtype, ns, name)
        visible = repo is not None and (not repo.private or (user is not None and user.can_access(ns)))
        if not visible:
            raise repo_not_found(f"{ns}/{name}")
        if write:
            user = self._writer(request, ns)
        assert repo is not None
        return repo, user

    # -- account and repos --------------------------------------------------------------------
    def whoami(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return JSONResponse({
            "type": "user", "id": hashlib.sha1(user.name.encode()).hexdigest()[:24], "name": user.name,
            "fullname": user.name, "isPro": False, "canPay": False,
            "orgs": [{"type": "org", "name": o, "fullname": o} for o in user.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local hub token", "role": "write"}},
        })

    def create_repo(self, request: Request, body: dict) -> Response:
        user = self._user(request)
        if user is None:
            raise HubError(401, "Authentication required to create a repo")
        name = body.get("name")
        ns = body.get("organization") or user.name
        rtype = body.get("type") or "model"
        if not isinstance(name, str) or not isinstance(ns, str):
            raise bad_request("'name' (and 'organization' if given) must be strings")
        check_name(ns, "namespace")
        check_name(name, "repo name")
        if rtype not in REPO_TYPES:
            raise bad_request(f"Invalid repo type {rtype!r}: expected one of {', '.join(REPO_TYPES)}")
        self._writer(request, ns)
        private = bool(body.get("private")) or body.get("visibility") == "private"
        url = f"{_base(request)}/{'' if rtype == 'model' else rtype + 's/'}{ns}/{name}"
        try:
            self.store.create_repo(rtype, ns, name, private, body.get("sdk"), user.name)
        except HubError as err:
            if err.status == 409:
                return JSONResponse({"error": err.message, "url": url}, status_code=409,
                                    headers={"X-Error-Message": err.message})
            raise
        return JSONResponse({"url": url, "name": f"{ns}/{name}", "id": f"{ns}/{name}"})

    def delete_repo(self, request: Request, body: dict) -> Response:
        user = self._user(request)
        ns = body.get("organization") or (user.name if user else None)
        rtype = body.get("type") or "model"
        if not isinstance(body.get("name"), str) or not ns:
            raise bad_request("'name' is required")
        repo, _ = self._repo(request, rtype, ns, body["name"], write=True)
        self.store.delete_repo(repo)
        return JSONResponse({})

    async def space_variables(self, request: Request, ns: str, name: str) -> Response:
        """GET lists, POST {key, value, description} sets, DELETE {key} removes; answers the variables."""
        repo, _ = self._repo(request, "space", ns, name, write=request.method != "GET")
        if request.method in ("POST", "DELETE"):
            body = await _json(request)
            key = body.get("key")
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", key):
                raise bad_request(f"Invalid variable key {key!r}: letters, digits and _, not starting with a digit")
            if request.method == "POST":
                if not isinstance(body.get("value"), str):
                    raise bad_request("'value' must be a string")
                self.store.set_space_variable(repo, key, body["value"], body.get("description"))
            else:
                self.store.delete_space_variable(repo, key)
        elif request.method != "GET":
            raise HubError(405, f"{request.method} is not allowed on Space variables")
        return JSONResponse(self.store.space_variables(repo))

    def update_settings(self, request: Request, rtype: str, ns: str, name: str, body: dict) -> Response:
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        if "private" in body:
            self.store.set_private(repo, bool(body["private"]))
        return JSONResponse({})

    def list_repos(self, request: Request, rtype: str) -> Response:
        user = self._user(request)
        author = request.query_params.get("author")
        search = (request.query_params.get("search") or "").lower()
        out = []
        for repo in self.store.list_repos(rtype, author):
            if repo.private and not (user and user.can_access(repo.namespace)):
                continue
            if search and search not in repo.repo_id.lower():
                continue
            head = self.store.ref(repo, "branch", "main")
            out.append({"_id": f"{repo.id:024x}", "id": repo.repo_id, "author": repo.namespace,
                        "private": repo.private, "sha": head, "createdAt": repo.created_at,
                        "lastModified": (self.store.commit(repo, head).created_at if head else repo.created_at),
                        "downloads": 0, "likes": 0, "tags": [], **({"sdk": repo.sdk} if repo.sdk else {})})
        return JSONResponse(out)

    def repo_info(self, request: Request, rtype: str, ns: str, name: str, rev: str | None) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)
        sha = self.store.resolve(repo, rev or "main")
        commit = self.store.commit(repo, sha)
        assert commit is not None
        files = self.store.tree(commit.tree_sha)
        blobs = _truthy(request.query_params.get("blobs"))
        siblings = []
        for path in sorted(files):
            item: dict[str, Any] = {"rfilename": path}
            if blobs:
                e = files[path]
                item.update({"size": e.size, "blobId": e.oid})
                if e.lfs:
                    item["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
            siblings.append(item)
        data: dict[str, Any] = {
            "_id": f"{repo.id:024x}", "id": repo.repo_id, "author": repo.namespace, "sha": sha,
            "lastModified": commit.created_at, "createdAt": repo.created_at, "private": repo.private,
            "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(e.size for e in files.values()),
        }
        card = self._card_data(files.get("README.md"))
        if card is not None:
            data["cardData"] = card
            tags = card.get("tags")
            if isinstance(tags, list):
                data["tags"] = [str(t) for t in tags]
        if rtype == "model":
            data["modelId"] = repo.repo_id
            if card:
                for key in ("library_name", "pipeline_tag"):
                    if isinstance(card.get(key), str):
                        data[key] = card[key]
        if rtype == "space":
            data["sdk"] = repo.sdk
        return JSONResponse(data)

    def _card_data(self, readme: Entry | None) -> dict | None:
        if readme is None or readme.size > 1024 * 1024:
            return None
        try:
            return front_matter(self.store.blob_path(readme.sha256).read_text(encoding="utf-8", errors="replace"))
        except ValueError:
            return None

    def validate_yaml(self, body: dict) -> Response:
        content = body.get("content")
        if not isinstance(content, str):
            raise bad_request("'content' must be a string")
        try:
            data = front_matter(content)
        except ValueError as err:
            raise bad_request(f"Invalid card metadata in README.md: {err}") from None
        errors = []
        for key in ("license", "pretty_name", "library_name", "pipeline_tag"):
            if key in (data or {}) and not isinstance(data[key], str):
                errors.append(f"'{key}' must be a string")
        for key in ("language", "tags", "datasets"):
            if key in (data or {}) and not isinstance(data[key], (str, list)):
                errors.append(f"'{key}' must be a string or a list of strings")
        if errors:
            raise bad_request("Invalid card metadata: " + "; ".join(errors))
        return JSONResponse({"errors": [], "warnings": []})

    # -- refs and history ---------------------------------------------------------------------
    def list_refs(self, request: Request, rtype: str, ns: str, name: str, include_prs: bool) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)

        def fmt(kind: str, prefix: str) -> list[dict]:
            return [{"name": r["name"], "ref": f"{prefix}{r['name']}", "targetCommit": r["commit_sha"]}
                    for r in self.store.refs(repo, kind)]

        data: dict[str, Any] = {"branches": fmt("branch", "refs/heads/"), "tags": fmt("tag", "refs/tags/"),
                                "converts": []}
        if include_prs:
            data["pullRequests"] = []
        return JSONResponse(data)

    def list_commits(self, request: Request, rtype: str, ns: str, name: str, rev: str) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)
        sha = self.store.resolve(repo, rev)
        return JSONResponse([
            {"id": c.sha, "title": c.title, "message": c.message, "date": c.created_at,
             "authors": [{"user": c.author, "avatar": None}]}
            for c in self.store.history(repo, sha)
        ])

    def create_tag(self, request: Request, rtype: str, ns: str, name: str, rev: str, body: dict) -> Response:
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        tag = body.get("tag")
        if not isinstance(tag, str):
            raise bad_request("'tag' must be a string")
        sha = self.store.resolve(repo, rev)
        self.store.create_ref(repo, "tag", tag, sha, body.get("message"))
        return JSONResponse({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})

    def create_branch(self, request: Request, rtype: str, ns: str, name: str, branch: str, body: dict) -> Response:
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        if body.get("emptyBranch"):
            raise bad_request("Empty branches are not supported by the local hub; branch from a revision")
        sha = self.store.resolve(repo, body.get("startingPoint") or "main")
        self.store.create_ref(repo, "branch", branch, sha)
        return JSONResponse({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": sha})

    def delete_ref(self, request: Request, rtype: str, ns: str, name: str, kind: str, ref: str) -> Response:
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        self.store.delete_ref(repo, kind, ref)
        return JSONResponse({})

    # -- reading files ------------------------------------------------------------------------
    def _file_item(self, e: Entry, last_commit: dict | None = None) -> dict:
        item: dict[str, Any] = {"type": "file", "oid": e.oid, "size": e.size, "path": e.path}
        if e.lfs:
            item["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
        if last_commit is not None:
            item["lastCommit"] = last_commit
        return item

    def _dir_item(self, path: str, files: dict[str, Entry], last_commit: dict | None = None) -> dict:
        item: dict[str, Any] = {"type": "directory", "oid": dir_oid(e for p, e in files.items()
                                                                  if p.startswith(path + "/")),
                                "size": 0, "path": path}
        if last_commit is not None:
            item["lastCommit"] = last_commit
        return item

    def _last_commits(self, repo: Repo, sha: str, paths: list[str]) -> dict[str, dict]:
        """For each path (file or folder), the newest commit that changed it: what ``expand=true`` reports."""
        found: dict[str, dict] = {}
        pending = set(paths)
        commits = list(self.store.history(repo, sha))
        trees = [self.store.tree(c.tree_sha) for c in commits] + [{}]
        for i, c in enumerate(commits):
            if not pending:
                break
            cur, prev = trees[i], trees[i + 1]
            changed = {p for p in set(cur) | set(prev) if (cur.get(p) and cur[p].sha256) != (prev.get(p) and prev[p].sha256)}
            info = {"id": c.sha, "title": c.title, "date": c.created_at}
            for p in list(pending):
                if p in changed or any(ch.startswith(p + "/") for ch in changed):
                    found[p] = info
                    pending.discard(p)
        return found

    def tree(self, request: Request, rtype: str, ns: str, name: str, rev: str, sub: str, recursive: bool,
             expand: bool, cursor: int) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)
        sha = self.store.resolve(repo, rev)
        files = self.store.files_at(repo, sha)
        sub = sub.strip("/")
        base = f"{sub}/" if sub else ""
        under = {p: e for p, e in files.items() if p.startswith(base)}
        if sub and not under:
            raise entry_not_found(sub, sha)
        items: list[tuple[str, str]] = []  # (kind, path)
        for d in sorted(directories_of(under)):
            if not d.startswith(base):
                continue
            if recursive or "/" not in d[len(base):]:
                items.append(("directory", d))
        for p in sorted(under):
            if recursive or "/" not in p[len(base):]:
                items.append(("file", p))
        page = items[cursor:cursor + TREE_PAGE_SIZE]
        last = self._last_commits(repo, sha, [p for _, p in page]) if expand else {}
        out = [self._dir_item(p, files, last.get(p)) if kind == "directory" else self._file_item(files[p], last.get(p))
               for kind, p in page]
        headers = {}
        if cursor + TREE_PAGE_SIZE < len(items):
            params = dict(request.query_params) | {"cursor": str(cursor + TREE_PAGE_SIZE)}
            url = str(request.url.replace(query="&".join(f"{k}={quote(v)}" for k, v in params.items())))
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(out, headers=headers)

    def paths_info(self, request: Request, rtype: str, ns: str, name: str, rev: str, paths: list[str],
                   expand: bool) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)
        sha = self.store.resolve(repo, rev)
        files = self.store.files_at(repo, sha)
        dirs = directories_of(files)
        wanted = [p.strip("/") for p in paths]
        last = self._last_commits(repo, sha, [p for p in wanted if p in files or p in dirs]) if expand else {}
        out = []
        for p in wanted:
            if p in files:
                out.append(self._file_item(files[p], last.get(p)))
            elif p in dirs:
                out.append(self._dir_item(p, files, last.get(p)))
        return JSONResponse(out)

    def resolve(self, request: Request, rtype: str, ns: str, name: str, rev: str, path: str) -> Response:
        repo, _ = self._repo(request, rtype, ns, name)
        sha = self.store.resolve(repo, rev)
        entry = self.store.files_at(repo, sha).get(path)
        if entry is None:
            raise entry_not_found(path, sha)
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        start, end, status = 0, entry.size - 1, 200
        range_header = request.headers.get("range")
        if range_header and entry.size > 0:
            parsed = _parse_range(range_header, entry.size)
            if parsed is None:
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{entry.size}"})
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        headers["Content-Length"] = str(max(0, end - start + 1))
        return _BlobResponse(self.store.blob_path(entry.sha256), start, end, status, headers,
                             head_only=request.method == "HEAD")

    # -- writing: preupload, LFS, commit ------------------------------------------------------
    def preupload(self, request: Request, rtype: str, ns: str, name: str, rev: str, body: dict) -> Response:
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        if request.query_params.get("create_pr"):
            raise bad_request("Pull requests are not supported by the local hub: commit to a branch")
        sha = self.store.resolve(repo, rev)
        files = self.store.files_at(repo, sha)
        items = body.get("files")
        if not isinstance(items, list):
            raise bad_request("'files' must be a list of {path, sample, size}")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise bad_request(f"files[{i}] must be an object")
            path = check_repo_path(item.get("path"))
            size = item.get("size")
            if not isinstance(size, int) or size < 0:
                raise bad_request(f"files[{i}] ({path}): 'size' must be a non-negative integer")
            try:
                sample = base64.b64decode(item.get("sample") or "", validate=True)
            except (binascii.Error, ValueError):
                raise bad_request(f"files[{i}] ({path}): 'sample' must be base64") from None
            mode = _upload_mode(path, size, sample)
            existing = files.get(path)
            oid = None
            if existing is not None:
                oid = existing.sha256 if mode == "lfs" else existing.git_sha1
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return JSONResponse({"files": out, "commitOid": sha})

    async def lfs_batch(self, request: Request, rtype: str, ns: str, name: str) -> Response:
        body = await _json(request)
        repo, _ = self._repo(request, rtype, ns, name, write=True)
        if body.get("operation") != "upload":
            raise bad_request("Only the LFS 'upload' operation is served; download files through /resolve/")
        objects = body.get("objects")
        if not isinstance(objects, list):
            raise bad_request("'objects' must be a list of {oid, size}")
        base = _base(request)
        out = []
        now = time.time()
        self.tickets = {k: t for k, t in self.tickets.items() if t.expires > now}
        for i, obj in enumerate(objects):
            oid, size = (obj or {}).get("oid"), (obj or {}).get("size")
            if not is_hex(oid, 64) or not isinstance(size, int) or size < 0:
                raise bad_request(f"objects[{i}]: expected a sha256 'oid' (64 hex) and an integer 'size'")
            blob = self.store.blob(oid)
            if blob is not None and blob["size"] == size:
                self.store.link_lfs(repo, oid)  # same content already stored: nothing to upload
                out.append({"oid": oid, "size": size})
                continue
            ticket = secrets.token_urlsafe(24)
            self.tickets[ticket] = _Ticket(repo.id, oid, size, now + TICKET_TTL_S)
            out.append({"oid": oid, "size": size, "authenticated": True, "actions": {
                "upload": {"href": f"{base}/_lfs/upload/{ticket}", "expires_in": TICKET_TTL_S},
                "verify": {"href": f"{base}/_lfs/verify/{ticket}"},
            }})
        return JSONResponse({"transfer": "basic", "objects": out, "hash_algo": "sha256"},
                            media_type="application/vnd.git-lfs+json")

    async def lfs_upload(self, request: Request, ticket_id: str) -> Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket.expires < time.time():
            raise HubError(403, "Unknown or expired upload link: ask the LFS batch endpoint for a new one")
        tmp = self.store.tmp / uuid.uuid4().hex
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % ticket.size)
        size = 0
        try:
            with open(tmp, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > ticket.size:
                        raise bad_request(f"Upload is larger than the announced {ticket.size} bytes")
                    sha256.update(chunk)
                    sha1.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if size != ticket.size:
                raise bad_request(f"Upload has {size} bytes, {ticket.size} were announced")
            if sha256.hexdigest() != ticket.oid:
                raise bad_request(f"Uploaded content has sha256 {sha256.hexdigest()}, not the announced {ticket.oid}")
            self.store.adopt_blob(tmp, ticket.oid, size, sha1.hexdigest())
            self.counters["lfs_bytes"] += size
            self.counters["lfs_uploads"] += 1
        finally:
            tmp.unlink(missing_ok=True)
        repo = self.store.repo_by_id(ticket.repo_id)
        if repo is not None:  # None if the repo was deleted meanwhile: the blob stays unreferenced
            self.store.link_lfs(repo, ticket.oid)
        return Response(status_code=200)

    async def lfs_verify(self, request: Request, ticket_id: str) -> Response:
        body = await _json(request)
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise HubError(403, "Unknown or expired verify link")
        blob = self.store.blob(ticket.oid)
        if body.get("oid") != ticket.oid or blob is None or blob["size"] != body.get("size"):
            raise HubError(404, f"Object {ticket.oid} was not uploaded completely")
        self.tickets.pop(ticket_id, None)
        return JSONResponse({})

    async def commit(self, request: Request, rtype: str, ns: str, name: str, rev: str) -> Response:
        repo, user = self._repo(request, rtype, ns, name, write=True)
        assert user is not None
        if request.query_params.get("create_pr"):
            raise bad_request("Pull requests are not supported by the local hub: commit to a branch")
        if self.store.ref(repo, "branch", rev) is None:
            if self.store.ref(repo, "tag", rev) is not None or is_hex(rev, 40):
                raise bad_request(f"Commits must target a branch; {rev!r} is not one")
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        header: dict | None = None
        ops: list[FileOp] = []
        seen_paths: set[str] = set()
        lineno = 0
        regular_bytes = 0
        async for line in _ndjson_lines(request):
            lineno += 1
            try:
                item = json.loads(line)
            except ValueError:
                raise bad_request(f"Commit payload line {lineno} is not valid JSON") from None
            if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
                raise bad_request(f"Commit payload line {lineno}: expected {{\"key\": ..., \"value\": {{...}}}}")
            key, value = item.get("key"), item["value"]
            if lineno == 1:
                if key != "header":
                    raise bad_request("Commit payload must start with a 'header' line")
                header = value
                continue
            if key == "header":
                raise bad_request(f"Commit payload line {lineno}: a second 'header'")
            raw_path = value.get("path")
            if key == "deletedFolder" and isinstance(raw_path, str):
                raw_path = raw_path.rstrip("/")
            path = check_repo_path(raw_path)
            if key in ("file", "lfsFile"):
                if path in seen_paths:
                    raise bad_request(f"Commit payload line {lineno}: {path} appears twice")
                seen_paths.add(path)
            if key == "file":
                sha, size = self.store.put_blob_bytes(decode_regular_content(value))
                ops.append(FileOp("add", path, sha, size, False))
                regular_bytes += size
            elif key == "lfsFile":
                oid = value.get("oid")
                if value.get("algo", "sha256") != "sha256" or not is_hex(oid, 64):
                    raise bad_request(f"{path}: LFS files need algo 'sha256' and a 64-hex 'oid'")
                blob = self.store.blob(oid)
                if blob is None or not self.store.repo_has_lfs(repo, oid):
                    raise bad_request(f"{path}: LFS object {oid} was never uploaded to {repo.repo_id}; "
                                      "upload it through the LFS batch API first")
                if "size" in value and value["size"] != blob["size"]:
                    raise bad_request(f"{path}: size {value['size']} does not match the uploaded object "
                                      f"({blob['size']} bytes)")
                ops.append(FileOp("add", path, oid, blob["size"], True))
            elif key == "deletedFile":
                ops.append(FileOp("delete_file", path))
            elif key == "deletedFolder":
                ops.append(FileOp("delete_folder", path))
            else:
                raise bad_request(f"Commit payload line {lineno}: unknown key {key!r}")
        if header is None:
            raise bad_request("Empty commit payload: expected a 'header' line")
        summary = header.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise bad_request("The commit header needs a non-empty 'summary'")
        parent = header.get("parentCommit")
        if parent is not None and not is_hex(parent, 40):
            raise bad_request("'parentCommit' must be a 40-hex commit id")
        sha = self.store.create_commit(repo, rev, ops, summary.strip(), str(header.get("description") or ""),
                                       user.name, parent)
        self.counters["commits"] += 1
        self.counters["regular_bytes"] += regular_bytes
        return JSONResponse({"success": True, "commitOid": sha, "pullRequestUrl": None,
                             "commitUrl": f"{_base(request)}/{repo.url_prefix}{repo.repo_id}/commit/{sha}"})

    # -- collections --------------------------------------------------------------------------
    def _collection_json(self, request: Request, slug: str, user: User | None) -> dict:
        row = self.store.collection(slug)
        if row is None or (row["private"] and not (user and user.can_access(row["namespace"]))):
            raise HubError(404, f"Collection not found: {slug}")
        items = []
        for it in self.store.collection_items(slug):
            item: dict[str, Any] = {"_id": it["object_id"], "id": it["item_id"], "type": it["item_type"],
                                    "position": it["position"]}
            if it["note"]:
                item["note"] = {"html": it["note"], "text": it["note"]}
            items.append(item)
        return {"slug": slug, "title": row["title"], "description": row["description"],
                "owner": {"name": row["namespace"], "type": "user"}, "items": items,
                "lastUpdated": row["updated_at"], "position": 0, "private": bool(row["private"]),
                "theme": "indigo", "upvotes": 0, "isUpvotedByUser": False}

    def list_collections(self, request: Request) -> Response:
        user = self._user(request)
        out = []
        for row in self.store.collections(request.query_params.get("owner")):
            if row["private"] and not (user and user.can_access(row["namespace"])):
                continue
            data = self._collection_json(request, row["slug"], user)
            data.pop("position")  # the client numbers listed collections itself
            out.append(data)
        return JSONResponse(out)

    def create_collection(self, request: Request, body: dict) -> Response:
        user = self._user(request)
        ns = body.get("namespace") or (user.name if user else None)
        if not isinstance(ns, str):
            raise HubError(401, "Authentication required to create a collection")
        self._writer(request, ns)
        try:
            slug = self.store.create_collection(ns, str(body.get("title") or ""), body.get("description"),
                                                bool(body.get("private")))
        except HubError as err:
            if err.status == 409:
                return JSONResponse({"error": err.message, **getattr(err, "extra", {})}, status_code=409,
                                    headers={"X-Error-Message": err.message})
            raise
        return JSONResponse(self._collection_json(request, slug, user))

    async def collection_route(self, request: Request, slug: str, more: list[str]) -> Response:
        user = self._user(request)
        current = self._collection_json(request, slug, user)  # 404 if missing or invisible
        m = request.method
        if m == "GET" and not more:
            return JSONResponse(current)
        self._writer(request, current["owner"]["name"])
        if m == "PATCH" and not more:
            self.store.update_collection(slug, await _json(request))
            return JSONResponse({"success": True, "data": self._collection_json(request, slug, user)})
        if m == "DELETE" and not more:
            self.store.delete_collection(slug)
            return JSONResponse({})
        if m == "POST" and more == ["items"]:
            body = await _json(request)
            item = body.get("item") or {}
            item_id, item_type = item.get("id"), item.get("type")
            if item_type not in ("model", "dataset", "space", "paper", "collection") or not isinstance(item_id, str):
                raise bad_request("'item' must be {id, type} with type model, dataset, space, paper or collection")
            if item_type in REPO_TYPES:
                ns, _, name = item_id.partition("/")
                self._repo(request, item_type, ns, name)  # must exist and be visible
            self.store.add_collection_item(slug, item_id, item_type, body.get("note"))
            return JSONResponse(self._collection_json(request, slug, user))
        if len(more) == 2 and more[0] == "items" and m in ("PATCH", "DELETE"):
            if m == "PATCH":
                body = await _json(request)
                ok = self.store.update_collection_item(slug, more[1], body.get("note"), body.get("position"))
            else:
                ok = self.store.delete_collection_item(slug, more[1])
            if not ok:
                raise HubError(404, f"No item {more[1]} in collection {slug}")
            return JSONResponse({"success": True})
        raise HubError(404, f"No route for {m} /api/collections/{slug}/{'/'.join(more)}")

    # -- test hooks ---------------------------------------------------------------------------
    def set_faults(self, body: dict) -> Response:
        rules = body.get("rules", [])
        try:
            self.faults = [FaultRule(**{k: v for k, v in r.items() if k in FaultRule.__dataclass_fields__
                                        and k not in ("seen", "fired")}) for r in rules]
        except TypeError as err:
            raise bad_request(f"Invalid fault rule: {err}") from None
        return JSONResponse({"rules": len(self.faults)})


# -- helpers --------------------------------------------------------------------------------------
class _BlobResponse(Response):
    """Streams ``[start, end]`` of a blob file in 1 MiB chunks: memory stays flat for any file size."""

    def __init__(self, path, start: int, end: int, status: int, headers: dict[str, str], head_only: bool):
        super().__init__(status_code=status, headers=headers)
        self.path, self.start, self.end, self.head_only = path, start, end, head_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.head_only or self.end < self.start:
            await send({"type": "http.response.body", "body": b""})
            return
        remaining = self.end - self.start + 1
        with open(self.path, "rb") as f:
            f.seek(self.start)
            while remaining > 0:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining > 0:  # file shorter than recorded: end the body rather than hang
            await send({"type": "http.response.body", "body": b""})

    def init_headers(self, headers=None) -> None:  # keep our Content-Length, add nothing
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]


def _error_response(err: HubError) -> Response:
    headers = {"X-Error-Message": err.message.encode("ascii", "replace").decode()}
    if err.code:
        headers["X-Error-Code"] = err.code
    if err.commit:
        headers["X-Repo-Commit"] = err.commit
    return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)


def _split_rev(segs: list[str]) -> tuple[str, list[str]]:
    """First segment(s) are the revision; an unquoted ``refs/heads/x`` spans three segments."""
    if len(segs) >= 3 and segs[0] == "refs" and segs[1] in ("heads", "tags", "pr", "convert"):
        return "/".join(segs[:3]), segs[3:]
    return segs[0], segs[1:]


def _upload_mode(path: str, size: int, sample: bytes) -> str:
    if size == 0:
        return "regular"
    if size > REGULAR_MAX_SIZE or path.lower().endswith(LFS_SUFFIXES) or b"\0" in sample:
        return "lfs"
    return "regular"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json(request: Request, default: dict | None = None) -> dict:
    raw = await request.body()
    if not raw.strip():
        if default is not None:
            return default
        raise bad_request("Expected a JSON body")
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object")
    return data


async def _ndjson_lines(request: Request):
    """Yield the non-empty lines of a streamed NDJSON body, holding at most one line in memory."""
    buffer = b""
    async for chunk in request.stream():
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
        if len(buffer) > MAX_NDJSON_LINE:
            raise bad_request("A commit payload line is larger than 64 MiB: send large files as LFS")
    if buffer.strip():
        yield buffer

