"""Refs and history: list refs, list commits, create/delete tags and branches."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import bad_request


def list_refs(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, include_prs: bool) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)

    def fmt(kind: str, prefix: str) -> list[dict]:
        return [{"name": r["name"], "ref": f"{prefix}{r['name']}", "targetCommit": r["commit_sha"]}
                for r in ctx.store.refs(repo, kind)]

    data: dict[str, Any] = {"branches": fmt("branch", "refs/heads/"), "tags": fmt("tag", "refs/tags/"),
                            "converts": []}
    if include_prs:
        data["pullRequests"] = [{"name": f"refs/pr/{r['name']}", "ref": f"refs/pr/{r['name']}",
                                 "targetCommit": r["commit_sha"]}
                                for r in sorted(ctx.store.refs(repo, "pr"), key=lambda r: int(r["name"]))]
    return JSONResponse(data)


def list_commits(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    sha = ctx.store.resolve(repo, rev)
    return JSONResponse([
        {"id": c.sha, "title": c.title, "message": c.message, "date": c.created_at,
         "authors": [{"user": c.author, "avatar": None}]}
        for c in ctx.store.history(repo, sha)
    ])


def create_tag(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str, body: dict) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name, write=True)
    tag = body.get("tag")
    if not isinstance(tag, str):
        raise bad_request("'tag' must be a string")
    sha = ctx.store.resolve(repo, rev)
    ctx.store.create_ref(repo, "tag", tag, sha, body.get("message"))
    return JSONResponse({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})


def create_branch(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, branch: str,
                  body: dict) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name, write=True)
    if body.get("emptyBranch"):
        raise bad_request("Empty branches are not supported by the local hub; branch from a revision")
    sha = ctx.store.resolve(repo, body.get("startingPoint") or "main")
    ctx.store.create_ref(repo, "branch", branch, sha)
    return JSONResponse({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": sha})


def delete_ref(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, kind: str, ref: str) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name, write=True)
    ctx.store.delete_ref(repo, kind, ref)
    return JSONResponse({})
