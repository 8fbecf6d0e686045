"""Writing: preupload (regular vs LFS, remote oids) and NDJSON commits."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

import pathspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.auth import User
from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request, revision_not_found
from hub_tools.localhub.model import (
    LFS_SUFFIXES,
    REGULAR_MAX_SIZE,
    Entry,
    FileOp,
    Repo,
    check_repo_path,
    decode_regular_content,
    is_hex,
)
from hub_tools.localhub.routes.discussions import discussion_url
from hub_tools.localhub.storage import ref_kind
from hub_tools.localhub.web import base_url, ndjson_lines, truthy


def _upload_mode(path: str, size: int, sample: bytes) -> str:
    if size == 0:
        return "regular"
    if size > REGULAR_MAX_SIZE or path.lower().endswith(LFS_SUFFIXES) or b"\0" in sample:
        return "lfs"
    return "regular"


def _gitignore(ctx: HubContext, body: dict, files: dict[str, Entry]) -> Callable[[str], bool]:
    """The .gitignore rules of this commit: the ``gitIgnore`` the client sends (the .gitignore it commits),
    else the repo's own .gitignore at the revision; as the Hub, answered per file as ``shouldIgnore``."""
    text = body.get("gitIgnore")
    if text is not None and not isinstance(text, str):
        raise bad_request("'gitIgnore' must be the text of a .gitignore file")
    if text is None and ".gitignore" in files and files[".gitignore"].size <= 1024 * 1024:
        text = ctx.store.blob_path(files[".gitignore"].sha256).read_text(encoding="utf-8", errors="replace")
    if not text:
        return lambda path: False
    spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
    return lambda path: path != ".gitignore" and spec.match_file(path)


def _target(ctx: HubContext, request: Request, rtype: str, ns: str, name: str,
            rev: str) -> tuple[Repo, User, str, str, bool]:
    """Where a commit goes and whether the caller may put it there: (repo, user, ref kind, ref name, open a PR).

    A branch needs write access; a new pull request (``create_pr=1``) or a commit to ``refs/pr/N`` only read
    access and a token (``refs/pr/N`` also being that pull request's author, or a writer)."""
    kind, ref = ref_kind(rev)
    create_pr = truthy(request.query_params.get("create_pr"))
    if kind == "pr":
        repo, user = ctx.contributor(request, rtype, ns, name)
        row = ctx.store.discussion(repo, int(ref)) if ref.isdigit() and len(ref) < 10 else None
        if row is None or not row["is_pr"]:
            raise revision_not_found(rev)
        if row["author"] != user.name and not user.can_access(repo.namespace):
            raise HubError(403, f"{user.name} may not push to {rev}: its author or a writer of {repo.namespace} may")
        return repo, user, "pr", ref, False
    if create_pr:
        repo, user = ctx.contributor(request, rtype, ns, name)
    else:
        repo, user = ctx.repo(request, rtype, ns, name, write=True)
        assert user is not None
    if kind == "tag" or (kind is None and ctx.store.ref(repo, "branch", ref) is None
                         and (ctx.store.ref(repo, "tag", ref) is not None or is_hex(ref, 40))):
        raise bad_request(f"Commits must target a branch; {rev!r} is not one")
    if ctx.store.ref(repo, "branch", ref) is None:
        raise revision_not_found(rev)
    return repo, user, "branch", ref, create_pr


def preupload(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str, body: dict) -> Response:
    repo, _, _, _, _ = _target(ctx, request, rtype, ns, name, rev)
    sha = ctx.store.resolve(repo, rev)
    files = ctx.store.files_at(repo, sha)
    items = body.get("files")
    if not isinstance(items, list):
        raise bad_request("'files' must be a list of {path, sample, size}")
    ignored = _gitignore(ctx, body, files)
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
        out.append({"path": path, "uploadMode": mode, "shouldIgnore": ignored(path), "oid": oid})
    return JSONResponse({"files": out, "commitOid": sha})


async def commit(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str) -> Response:
    repo, user, kind, ref, create_pr = _target(ctx, request, rtype, ns, name, rev)
    header, ops, regular_bytes = await _read_ops(ctx, request, repo)
    summary = header.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise bad_request("The commit header needs a non-empty 'summary'")
    parent = header.get("parentCommit")
    if parent is not None and not is_hex(parent, 40):
        raise bad_request("'parentCommit' must be a 40-hex commit id")
    description = str(header.get("description") or "")
    pr_url = None
    if create_pr:
        sha, num = ctx.store.commit_as_pull_request(repo, ref, ops, summary.strip(), description, user.name, parent)
        pr_url = discussion_url(request, repo, num)
    else:
        sha = ctx.store.create_commit(repo, ref, ops, summary.strip(), description, user.name, parent, kind=kind)
        if kind == "pr":
            pr_url = discussion_url(request, repo, int(ref))
    ctx.counters["commits"] += 1
    ctx.counters["regular_bytes"] += regular_bytes
    return JSONResponse({"success": True, "commitOid": sha, "pullRequestUrl": pr_url,
                         "commitUrl": f"{base_url(request)}/{repo.url_prefix}{repo.repo_id}/commit/{sha}"})


async def _read_ops(ctx: HubContext, request: Request, repo: Repo) -> tuple[dict, list[FileOp], int]:
    """The header and operations of an NDJSON commit payload, checked line by line; contents are stored."""
    header: dict | None = None
    ops: list[FileOp] = []
    seen_paths: set[str] = set()
    lineno = 0
    regular_bytes = 0
    async for line in ndjson_lines(request):
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
            sha, size = ctx.store.put_blob_bytes(decode_regular_content(value))
            ops.append(FileOp("add", path, sha, size, False))
            regular_bytes += size
        elif key == "lfsFile":
            oid = value.get("oid")
            if value.get("algo", "sha256") != "sha256" or not is_hex(oid, 64):
                raise bad_request(f"{path}: LFS files need algo 'sha256' and a 64-hex 'oid'")
            blob = ctx.store.blob(oid)
            if blob is None or not ctx.store.repo_has_lfs(repo, oid):
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
    return header, ops, regular_bytes
