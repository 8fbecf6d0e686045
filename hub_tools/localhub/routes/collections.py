"""Collections: create, read, list, update, delete, and their items."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.auth import User
from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import REPO_TYPES
from hub_tools.localhub.web import header_safe, read_json


def _collection_json(ctx: HubContext, slug: str, user: User | None) -> dict:
    row = ctx.store.collection(slug)
    if row is None or (row["private"] and not (user and user.can_read(row["namespace"]))):
        raise HubError(404, f"Collection not found: {slug}")
    items = []
    for it in ctx.store.collection_items(slug):
        if not _item_visible(ctx, it["item_type"], it["item_id"], user):
            continue  # a private repo (or collection) stays invisible, even listed in a public collection
        item: dict[str, Any] = {"_id": it["object_id"], "id": it["item_id"], "type": it["item_type"],
                                "position": it["position"]}
        if it["note"]:
            item["note"] = {"html": it["note"], "text": it["note"]}
        items.append(item)
    return {"slug": slug, "title": row["title"], "description": row["description"],
            "owner": {"name": row["namespace"], "type": "user"}, "items": items,
            "lastUpdated": row["updated_at"], "position": row["position"], "private": bool(row["private"]),
            "theme": row["theme"], "upvotes": 0, "isUpvotedByUser": False}


def _item_visible(ctx: HubContext, item_type: str, item_id: str, user: User | None) -> bool:
    if item_type in REPO_TYPES:
        ns, _, name = item_id.partition("/")
        repo = ctx.store.get_repo(item_type, ns, name)
        return repo is not None and ctx.can_read(repo, user)
    if item_type == "collection":
        row = ctx.store.collection(item_id)
        return row is not None and (not row["private"] or bool(user and user.can_read(row["namespace"])))
    return True  # papers are public


def list_collections(ctx: HubContext, request: Request) -> Response:
    user = ctx.user(request)
    out = []
    for row in ctx.store.collections(request.query_params.get("owner")):
        if row["private"] and not (user and user.can_read(row["namespace"])):
            continue
        data = _collection_json(ctx, row["slug"], user)
        data.pop("position")  # the client numbers listed collections itself
        out.append(data)
    return JSONResponse(out)


def create_collection(ctx: HubContext, request: Request, body: dict) -> Response:
    user = ctx.user(request)
    ns = body.get("namespace") or (user.name if user else None)
    if not isinstance(ns, str):
        raise HubError(401, "Authentication required to create a collection")
    ctx.writer(request, ns)
    try:
        slug = ctx.store.create_collection(ns, str(body.get("title") or ""), body.get("description"),
                                           bool(body.get("private")))
    except HubError as err:
        if err.status == 409:
            return JSONResponse({"error": err.message, **getattr(err, "extra", {})}, status_code=409,
                                headers={"X-Error-Message": header_safe(err.message)})
        raise
    return JSONResponse(_collection_json(ctx, slug, user))


async def collection_route(ctx: HubContext, request: Request, slug: str, more: list[str]) -> Response:
    user = ctx.user(request)
    current = _collection_json(ctx, slug, user)  # 404 if missing or invisible
    m = request.method
    if m == "GET" and not more:
        return JSONResponse(current)
    ctx.writer(request, current["owner"]["name"])
    if m == "PATCH" and not more:
        ctx.store.update_collection(slug, await read_json(request))
        return JSONResponse({"success": True, "data": _collection_json(ctx, slug, user)})
    if m == "DELETE" and not more:
        ctx.store.delete_collection(slug)
        return JSONResponse({})
    if m == "POST" and more == ["items"]:
        body = await read_json(request)
        item = body.get("item") or {}
        item_id, item_type = item.get("id"), item.get("type")
        if item_type not in ("model", "dataset", "space", "paper", "collection") or not isinstance(item_id, str):
            raise bad_request("'item' must be {id, type} with type model, dataset, space, paper or collection")
        if item_type in REPO_TYPES:
            ns, _, name = item_id.partition("/")
            ctx.repo(request, item_type, ns, name)  # must exist and be visible
        ctx.store.add_collection_item(slug, item_id, item_type, body.get("note"))
        return JSONResponse(_collection_json(ctx, slug, user))
    if len(more) == 2 and more[0] == "items" and m in ("PATCH", "DELETE"):
        if m == "PATCH":
            body = await read_json(request)
            ok = ctx.store.update_collection_item(slug, more[1], body.get("note"), body.get("position"))
        else:
            ok = ctx.store.delete_collection_item(slug, more[1])
        if not ok:
            raise HubError(404, f"No item {more[1]} in collection {slug}")
        return JSONResponse({"success": True})
    raise HubError(404, f"No route for {m} /api/collections/{slug}/{'/'.join(more)}")
