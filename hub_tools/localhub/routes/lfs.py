"""Git LFS "basic" transfer: the batch endpoint hands out upload/verify links; uploads are hashed while
streamed and adopted into the object store only if sha256 and size match."""
from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.auth import User
from hub_tools.localhub.context import HubContext, Ticket
from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import Repo, is_hex
from hub_tools.localhub.schema import open_private
from hub_tools.localhub.web import base_url, read_json

TICKET_TTL_S = 3600


async def batch(ctx: HubContext, request: Request, rtype: str, ns: str, name: str) -> Response:
    body = await read_json(request)
    repo, user = ctx.contributor(request, rtype, ns, name)  # pull request authors upload too; refs stay guarded
    if body.get("operation") != "upload":
        raise bad_request("Only the LFS 'upload' operation is served; download files through /resolve/")
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise bad_request("'objects' must be a list of {oid, size}")
    base = base_url(request)
    out = []
    now = time.time()
    ctx.tickets = {k: t for k, t in ctx.tickets.items() if t.expires > now}
    for i, obj in enumerate(objects):
        oid, size = (obj or {}).get("oid"), (obj or {}).get("size")
        if not is_hex(oid, 64) or not isinstance(size, int) or size < 0:
            raise bad_request(f"objects[{i}]: expected a sha256 'oid' (64 hex) and an integer 'size'")
        if _possessed(ctx, repo, user, oid, size):
            ctx.store.link_lfs(repo, oid)  # nothing to upload: the caller can already read these bytes
            out.append({"oid": oid, "size": size})
            continue
        ticket = secrets.token_urlsafe(24)
        ctx.tickets[ticket] = Ticket(repo.id, oid, size, now + TICKET_TTL_S)
        out.append({"oid": oid, "size": size, "authenticated": True, "actions": {
            "upload": {"href": f"{base}/_lfs/upload/{ticket}", "expires_in": TICKET_TTL_S},
            "verify": {"href": f"{base}/_lfs/verify/{ticket}"},
        }})
    return JSONResponse({"transfer": "basic", "objects": out, "hash_algo": "sha256"},
                        media_type="application/vnd.git-lfs+json")


def _possessed(ctx: HubContext, repo: Repo, user: User | None, oid: str, size: int) -> bool:
    """Proof of possession: the object counts as "already there" only if it was uploaded to this repo or is
    served by a repo the caller may read. Knowing a sha256 and a size proves nothing, so an object stored
    only for others gets the same answer as an unknown one (an upload request) and must be re-uploaded."""
    blob = ctx.store.blob(oid)
    if blob is None or blob["size"] != size:
        return False
    if ctx.store.repo_has_lfs(repo, oid):
        return True
    return any(ctx.can_read(other, user) for other in ctx.store.repos_serving(oid))


async def upload(ctx: HubContext, request: Request, ticket_id: str) -> Response:
    ticket = ctx.tickets.get(ticket_id)
    if ticket is None or ticket.expires < time.time():
        raise HubError(403, "Unknown or expired upload link: ask the LFS batch endpoint for a new one")
    tmp = ctx.store.tmp / uuid.uuid4().hex
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % ticket.size)
    size = 0
    try:
        with open_private(tmp) as f:
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
        ctx.store.adopt_blob(tmp, ticket.oid, size, sha1.hexdigest())
        ctx.counters["lfs_bytes"] += size
        ctx.counters["lfs_uploads"] += 1
    finally:
        tmp.unlink(missing_ok=True)
    repo = ctx.store.repo_by_id(ticket.repo_id)
    if repo is not None:  # None if the repo was deleted meanwhile: the blob stays unreferenced
        ctx.store.link_lfs(repo, ticket.oid)
    return Response(status_code=200)


async def verify(ctx: HubContext, request: Request, ticket_id: str) -> Response:
    body = await read_json(request)
    ticket = ctx.tickets.get(ticket_id)
    if ticket is None:
        raise HubError(403, "Unknown or expired verify link")
    blob = ctx.store.blob(ticket.oid)
    if body.get("oid") != ticket.oid or blob is None or blob["size"] != body.get("size"):
        raise HubError(404, f"Object {ticket.oid} was not uploaded completely")
    ctx.tickets.pop(ticket_id, None)
    return JSONResponse({})
