"""Reading files: trees (paged), paths-info, and resolve (downloads with ranges)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import bad_request, entry_not_found
from hub_tools.localhub.model import Entry, Repo, dir_oid, directories_of, lfs_pointer
from hub_tools.localhub.web import BlobResponse, parse_range

TREE_PAGE_SIZE = 1000


def _file_item(e: Entry, last_commit: dict | None = None) -> dict:
    item: dict[str, Any] = {"type": "file", "oid": e.oid, "size": e.size, "path": e.path}
    if e.lfs:
        item["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
    if last_commit is not None:
        item["lastCommit"] = last_commit
    return item


def _dir_item(path: str, files: dict[str, Entry], last_commit: dict | None = None) -> dict:
    item: dict[str, Any] = {"type": "directory", "oid": dir_oid(e for p, e in files.items()
                                                              if p.startswith(path + "/")),
                            "size": 0, "path": path}
    if last_commit is not None:
        item["lastCommit"] = last_commit
    return item


def _last_commits(ctx: HubContext, repo: Repo, sha: str, paths: list[str]) -> dict[str, dict]:
    """For each path (file or folder), the newest commit that changed it: what ``expand=true`` reports."""
    found: dict[str, dict] = {}
    pending = set(paths)
    commits = list(ctx.store.history(repo, sha))
    trees = [ctx.store.tree(c.tree_sha) for c in commits] + [{}]
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


def _cursor(value: str | None, total: int) -> int:
    """The paging cursor this hub hands out in ``Link: rel="next"``: an offset into the listing."""
    if value is None or value == "":
        return 0
    if not re.fullmatch(r"[0-9]{1,12}", value) or int(value) > total:
        raise bad_request(f"Invalid cursor {value[:40]!r}: use the 'next' link of the previous page")
    return int(value)


def tree(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str, sub: str, recursive: bool,
         expand: bool, cursor_param: str | None) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    sha = ctx.store.resolve(repo, rev)
    files = ctx.store.files_at(repo, sha)
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
    cursor = _cursor(cursor_param, len(items))
    page = items[cursor:cursor + TREE_PAGE_SIZE]
    last = _last_commits(ctx, repo, sha, [p for _, p in page]) if expand else {}
    out = [_dir_item(p, files, last.get(p)) if kind == "directory" else _file_item(files[p], last.get(p))
           for kind, p in page]
    headers = {}
    if cursor + TREE_PAGE_SIZE < len(items):
        params = dict(request.query_params) | {"cursor": str(cursor + TREE_PAGE_SIZE)}
        url = str(request.url.replace(query="&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())))
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse(out, headers=headers)


def paths_info(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str, paths: list[str],
               expand: bool) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    sha = ctx.store.resolve(repo, rev)
    files = ctx.store.files_at(repo, sha)
    dirs = directories_of(files)
    wanted = [p.strip("/") for p in paths]
    last = _last_commits(ctx, repo, sha, [p for p in wanted if p in files or p in dirs]) if expand else {}
    out = []
    for p in wanted:
        if p in files:
            out.append(_file_item(files[p], last.get(p)))
        elif p in dirs:
            out.append(_dir_item(p, files, last.get(p)))
    return JSONResponse(out)


def resolve(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str, path: str) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    sha = ctx.store.resolve(repo, rev)
    entry = ctx.store.files_at(repo, sha).get(path)
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
        parsed = parse_range(range_header, entry.size)
        if parsed is None:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{entry.size}"})
        start, end = parsed
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    return BlobResponse(ctx.store.blob_path(entry.sha256), start, end, status, headers,
                        head_only=request.method == "HEAD")
