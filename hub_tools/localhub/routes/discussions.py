"""Discussions and pull requests: the subset huggingface_hub uses (list, details, create, comment, status,
merge). Anyone who may read a repo and has a token may open one, comment, and commit to their own pull
request; changing the status of someone else's discussion and merging need write access."""
from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.auth import User
from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import Repo
from hub_tools.localhub.web import base_url, read_json, truthy

PAGE_SIZE = 50
_TYPES = {"all": None, "discussion": 0, "pull_request": 1}


def discussion_url(request: Request, repo: Repo, num: int) -> str:
    return f"{base_url(request)}/{repo.url_prefix}{repo.repo_id}/discussions/{num}"


async def route(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rest: list[str]) -> Response:
    """``rest`` is what follows ``/api/{t}s/{ns}/{name}/discussions``."""
    m = request.method
    if not rest:
        if m == "GET":
            return list_discussions(ctx, request, rtype, ns, name)
        if m == "POST":
            return create(ctx, request, rtype, ns, name, await read_json(request))
    elif re.fullmatch(r"[1-9][0-9]{0,8}", rest[0]):
        num = int(rest[0])
        if m == "GET" and len(rest) == 1:
            return details(ctx, request, rtype, ns, name, num)
        if m == "POST" and len(rest) == 2 and rest[1] in ("comment", "status", "merge"):
            body = await read_json(request, {})
            return {"comment": comment, "status": status, "merge": merge}[rest[1]](
                ctx, request, rtype, ns, name, num, body)
    ctx.repo(request, rtype, ns, name)  # RepoNotFound first, as on every route
    raise HubError(404, f"No route for {m} discussions/{'/'.join(rest)}")


def _summary(repo: Repo, row) -> dict[str, Any]:
    return {"num": row["num"], "title": row["title"], "author": {"name": row["author"], "type": "user"},
            "createdAt": row["created_at"], "status": row["status"], "isPullRequest": bool(row["is_pr"]),
            "repo": {"name": repo.repo_id, "type": repo.type}, "pinned": False, "topReactions": []}


def list_discussions(ctx: HubContext, request: Request, rtype: str, ns: str, name: str) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    q = request.query_params
    kind, status, author = q.get("type", "all"), q.get("status", "all"), q.get("author")
    page = q.get("p", "0")
    if kind not in _TYPES or status not in ("all", "open", "closed", "merged", "draft") \
            or not re.fullmatch(r"[0-9]{1,6}", page):
        raise bad_request("Use type=all|discussion|pull_request, status=all|open|closed|merged|draft, p=<page>")
    rows = [r for r in ctx.store.discussions(repo)
            if (_TYPES[kind] is None or r["is_pr"] == _TYPES[kind]) and status in ("all", r["status"])
            and (author is None or r["author"] == author)]
    start = int(page) * PAGE_SIZE
    return JSONResponse({"discussions": [_summary(repo, r) for r in rows[start:start + PAGE_SIZE]],
                         "count": len(rows), "start": start, "numClosedDiscussions": 0})


def _get(ctx: HubContext, repo: Repo, num: int):
    row = ctx.store.discussion(repo, num)
    if row is None:
        raise HubError(404, f"Discussion #{num} not found in {repo.repo_id}")
    return row


def details(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, num: int) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    row = _get(ctx, repo, num)
    data = _summary(repo, row) | {"events": ctx.store.discussion_events(repo, num)}
    if row["is_pr"]:
        head = ctx.store.ref(repo, "pr", str(num))
        target = ctx.store.ref(repo, "branch", row["target"])
        conflicts: list[str] = []
        if row["status"] in ("draft", "open") and head and target:
            conflicts = ctx.store.three_way(repo, row["base_sha"], target, head)[1]
        data |= {"changes": {"base": f"refs/heads/{row['target']}", "headRef": f"refs/pr/{num}",
                             **({"mergeCommitId": row["merge_sha"]} if row["merge_sha"] else {})},
                 "filesWithConflicts": conflicts}
        if truthy(request.query_params.get("diff")) and head:
            data["diff"] = _diff(ctx, repo, row["base_sha"], head)
    return JSONResponse(data)


def _diff(ctx: HubContext, repo: Repo, base: str, head: str) -> str:
    """A git-style list of the files a pull request changes (headers only: contents may be binary)."""
    old, new = (ctx.store.files_at(repo, sha) for sha in (base, head))
    lines = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if (a and a.sha256) != (b and b.sha256):
            lines.append(f"diff --git a/{path} b/{path}\n--- {'a/' + path if a else '/dev/null'}\n"
                         f"+++ {'b/' + path if b else '/dev/null'}\n")
    return "".join(lines)


def create(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, body: dict) -> Response:
    repo, user = ctx.contributor(request, rtype, ns, name)
    title, description = body.get("title"), body.get("description") or ""
    if not isinstance(title, str) or not 3 <= len(title.strip()) <= 200 or not isinstance(description, str):
        raise bad_request("A discussion needs a 'title' of 3 to 200 characters and a string 'description'")
    num = ctx.store.open_discussion(repo, title.strip(), description, user.name, bool(body.get("pullRequest")))
    return JSONResponse({"num": num, "url": discussion_url(request, repo, num), "pullRequest":
                         bool(body.get("pullRequest")), "ref": f"refs/pr/{num}" if body.get("pullRequest") else None})


def _text(body: dict, key: str, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 65536:
        raise bad_request(f"'{key}' must be a non-empty string of at most 65536 characters")
    return value.strip()


def comment(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, num: int, body: dict) -> Response:
    repo, user = ctx.contributor(request, rtype, ns, name)
    _get(ctx, repo, num)
    event = ctx.store.comment(repo, num, user.name, _text(body, "comment", True))
    return JSONResponse({"newMessage": event})


def _may_moderate(user: User, repo: Repo, row) -> bool:
    return user.can_access(repo.namespace) or row["author"] == user.name


def status(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, num: int, body: dict) -> Response:
    repo, user = ctx.contributor(request, rtype, ns, name)
    row = _get(ctx, repo, num)
    new = body.get("status")
    if new not in ("open", "closed"):
        raise bad_request("'status' must be 'open' or 'closed'")
    if not _may_moderate(user, repo, row):
        raise HubError(403, f"{user.name} may not change the status of #{num}: its author or a writer of "
                            f"{repo.namespace} may")
    if row["status"] == "merged":
        raise bad_request(f"#{num} is merged: its status cannot change")
    event = ctx.store.set_discussion_status(repo, num, new, user.name, _text(body, "comment", False))
    return JSONResponse({"newStatus": event})


def merge(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, num: int, body: dict) -> Response:
    repo, user = ctx.repo(request, rtype, ns, name, write=True)
    assert user is not None
    row = _get(ctx, repo, num)
    if not row["is_pr"]:
        raise bad_request(f"#{num} is a discussion, not a pull request")
    if row["status"] not in ("draft", "open"):
        raise bad_request(f"Pull request #{num} is {row['status']}: only open pull requests can be merged")
    sha = ctx.store.merge_pull_request(repo, num, user.name, _text(body, "comment", False))
    return JSONResponse({"success": True, "mergeCommitId": sha})
