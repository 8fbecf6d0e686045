"""The HTTP face of the local hub: an ASGI app answering the Hub REST routes that huggingface_hub,
datasets, transformers and peft call (see docs/local-hub.md for the list).

Routing is done on the raw, still percent-encoded path: clients send revisions quoted with
``safe=""`` (``refs%2Fpr%2F1``), so a decoded path could not be split unambiguously. This module only
dispatches; the handlers live in ``routes/``, one module per API family.

Every answer carries an ``X-Request-Id`` (also written to the log with any internal error).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub_tools import __version__
from hub_tools.localhub.auth import TokenRegistry
from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request, repo_not_found
from hub_tools.localhub.model import REPO_TYPES
from hub_tools.localhub.routes import (
    collections,
    commits,
    discussions,
    files,
    lfs,
    refs,
    repos,
    spaces,
)
from hub_tools.localhub.storage import HubStore
from hub_tools.localhub.web import (
    error_response,
    read_body,
    read_json,
    split_rev,
    truthy,
)

log = logging.getLogger(__name__)
DRAIN_LIMIT = 64 * 1024 * 1024  # an unread body past this closes the connection instead of being read


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


class LocalHubApp:
    def __init__(self, store: HubStore, tokens: TokenRegistry):
        self.ctx = HubContext(store, tokens)

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
        request_id = uuid.uuid4().hex
        try:
            response = await self.dispatch(request, path)
        except HubError as err:
            response = error_response(err)
        except Exception:  # a bug: answer 500 without leaking internals, keep serving
            log.exception("local hub: unhandled error on %s %s (request %s)", request.method,
                          path.split("/_lfs/")[0], request_id)
            response = error_response(HubError(500, f"Internal error in the local hub (request {request_id}, "
                                                    "see its log)"))
        if not body.done:  # keep-alive: an unread body would corrupt the next pooled request
            drained = 0
            async for chunk in request.stream():
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    response.headers["connection"] = "close"
                    break
        response.headers["x-request-id"] = request_id
        await response(scope, body, send)

    # -- routing ------------------------------------------------------------------------------
    async def dispatch(self, request: Request, path: str) -> Response:
        ctx = self.ctx
        segs = [unquote(s) for s in path.split("/")[1:]]
        while segs and segs[-1] == "":
            segs.pop()
        if any(ord(c) < 32 or ord(c) == 127 for seg in segs for c in seg):
            raise bad_request("Invalid path: control characters (such as %00 or %0D%0A) are refused")
        if not segs:
            return JSONResponse({"name": "hubtool local hub", "version": __version__})
        if segs[0] == "api":
            return await self.api(request, segs[1:])
        if segs[0] == "_lfs" and len(segs) == 3:
            if segs[1] == "upload" and request.method == "PUT":
                return await lfs.upload(ctx, request, segs[2])
            if segs[1] == "verify" and request.method == "POST":
                return await lfs.verify(ctx, request, segs[2])
        repo_type, rest = "model", segs
        if segs[0] in ("datasets", "spaces") and len(segs) >= 3:
            repo_type, rest = segs[0][:-1], segs[1:]
        if len(rest) >= 2:
            ns, name, tail = rest[0], rest[1], rest[2:]
            if name.endswith(".git") and tail == ["info", "lfs", "objects", "batch"] and request.method == "POST":
                return await lfs.batch(ctx, request, repo_type, ns, name[:-4])
            if tail and tail[0] == "resolve" and len(tail) >= 3 and request.method in ("GET", "HEAD"):
                rev, file_segs = split_rev(tail[1:])
                return files.resolve(ctx, request, repo_type, ns, name, rev, "/".join(file_segs))
            if name == "resolve" and len(tail) >= 2:  # a repo id without namespace ("gpt2"): none exists here
                raise repo_not_found(ns)
        raise HubError(404, f"No route for {request.method} {path}")

    async def api(self, request: Request, segs: list[str]) -> Response:
        ctx, m = self.ctx, request.method
        match segs:
            case ["whoami-v2"] if m == "GET":
                return repos.whoami(ctx, request)
            case ["repos", "create"] if m == "POST":
                return repos.create_repo(ctx, request, await read_json(request))
            case ["repos", "delete"] if m == "DELETE":
                return repos.delete_repo(ctx, request, await read_json(request))
            case ["validate-yaml"] if m == "POST":
                return repos.validate_yaml(await read_json(request))
            case ["collections"] if m == "GET":
                return collections.list_collections(ctx, request)
            case ["collections"] if m == "POST":
                return collections.create_collection(ctx, request, await read_json(request))
            case ["collections", ns, slug, *more]:
                return await collections.collection_route(ctx, request, f"{ns}/{slug}", more)
            case ["_localhub", "health"] if m == "GET":
                return JSONResponse({"status": "ok", "version": __version__})
            case [plural] if plural.endswith("s") and plural[:-1] in REPO_TYPES and m == "GET":
                return repos.list_repos(ctx, request, plural[:-1])
            case [plural, repo_id] if plural.endswith("s") and plural[:-1] in REPO_TYPES:
                raise repo_not_found(repo_id)  # every repo here has a namespace
            case [plural, ns, name, *rest] if plural.endswith("s") and plural[:-1] in REPO_TYPES:
                return await self.repo_route(request, plural[:-1], ns, name, rest)
        raise HubError(404, f"No route for {m} /api/{'/'.join(segs)}")

    async def repo_route(self, request: Request, rtype: str, ns: str, name: str, rest: list[str]) -> Response:
        ctx, m, q = self.ctx, request.method, request.query_params
        match rest:
            case [] if m == "GET":
                return repos.repo_info(ctx, request, rtype, ns, name, None)
            case ["revision", *rev] if m == "GET" and rev:
                return repos.repo_info(ctx, request, rtype, ns, name, split_rev(rev)[0])
            case ["settings"] if m == "PUT":
                return repos.update_settings(ctx, request, rtype, ns, name, await read_json(request))
            case ["preupload", *rev] if m == "POST" and rev:
                return commits.preupload(ctx, request, rtype, ns, name, split_rev(rev)[0], await read_json(request))
            case ["commit", *rev] if m == "POST" and rev:
                return await commits.commit(ctx, request, rtype, ns, name, split_rev(rev)[0])
            case ["tree", *rev_path] if m == "GET" and rev_path:
                rev, sub = split_rev(rev_path)
                return files.tree(ctx, request, rtype, ns, name, rev, "/".join(sub), truthy(q.get("recursive")),
                                  truthy(q.get("expand")), q.get("cursor"))
            case ["paths-info", *rev] if m == "POST" and rev:
                form = parse_qs((await read_body(request)).decode("utf-8", "replace"), keep_blank_values=True)
                return files.paths_info(ctx, request, rtype, ns, name, split_rev(rev)[0], form.get("paths", []),
                                        truthy((form.get("expand") or ["false"])[0]))
            case ["refs"] if m == "GET":
                return refs.list_refs(ctx, request, rtype, ns, name, truthy(q.get("include_prs")))
            case ["commits", *rev] if m == "GET" and rev:
                return refs.list_commits(ctx, request, rtype, ns, name, split_rev(rev)[0])
            case ["tag", *rev] if m == "POST" and rev:
                return refs.create_tag(ctx, request, rtype, ns, name, split_rev(rev)[0], await read_json(request))
            case ["tag", *tag] if m == "DELETE" and tag:
                return refs.delete_ref(ctx, request, rtype, ns, name, "tag", "/".join(tag))
            case ["branch", *branch] if m == "POST" and branch:
                return refs.create_branch(ctx, request, rtype, ns, name, "/".join(branch),
                                          await read_json(request, {}))
            case ["branch", *branch] if m == "DELETE" and branch:
                return refs.delete_ref(ctx, request, rtype, ns, name, "branch", "/".join(branch))
            case ["discussions", *more]:
                return await discussions.route(ctx, request, rtype, ns, name, more)
            case ["variables"] if rtype == "space":
                return await spaces.space_variables(ctx, request, ns, name)
            case [("xet-write-token" | "xet-read-token"), *_]:
                raise HubError(404, "The local hub has no Xet storage: run clients with HF_HUB_DISABLE_XET=1 "
                                    "(hubtool sets it for local endpoints)")
        ctx.repo(request, rtype, ns, name)  # an unknown or invisible repo is a RepoNotFound, whatever the route
        raise HubError(404, f"No route for {m} /api/{rtype}s/{ns}/{name}/{'/'.join(rest)}")


def build_app(store: HubStore, tokens: TokenRegistry, enable_faults: bool = False) -> ASGIApp:
    """The hub's ASGI app; with ``enable_faults`` wrapped in the test-only fault injector."""
    app = LocalHubApp(store, tokens)
    if not enable_faults:
        return app
    from hub_tools.localhub.faults import FaultInjector

    return FaultInjector(app, app.ctx.counters)
