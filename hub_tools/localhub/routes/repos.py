"""Account and repos: whoami, create/delete, settings, listings, repo info, card metadata validation."""
from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.artifacts.frontmatter import front_matter
from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import REPO_TYPES, Entry, check_name, lfs_pointer
from hub_tools.localhub.web import base_url, header_safe, truthy


def whoami(ctx: HubContext, request: Request) -> Response:
    user = ctx.user(request)
    if user is None:
        raise HubError(401, "Invalid credentials in Authorization header")
    return JSONResponse({
        "type": "user", "id": hashlib.sha1(user.name.encode()).hexdigest()[:24], "name": user.name,
        "fullname": user.name, "isPro": False, "canPay": False,
        "orgs": [{"type": "org", "name": o, "fullname": o, "roleInOrg": role}
                 for role, names in (("write", user.orgs), ("read", user.read_orgs)) for o in names],
        "auth": {"type": "access_token", "accessToken": {"displayName": "local hub token", "role": "write"}},
    })


def create_repo(ctx: HubContext, request: Request, body: dict) -> Response:
    user = ctx.user(request)
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
    ctx.writer(request, ns)
    ns = user.spelling(ns) or ctx.store.namespace_spelling(ns)  # "HITZ/x" is created in the org "hitz"
    private = _private_setting(body, default=False)
    url = f"{base_url(request)}/{'' if rtype == 'model' else rtype + 's/'}{ns}/{name}"
    try:
        ctx.store.create_repo(rtype, ns, name, private, body.get("sdk"), user.name)
    except HubError as err:
        if err.status == 409:
            return JSONResponse({"error": err.message, "url": url}, status_code=409,
                                headers={"X-Error-Message": header_safe(err.message)})
        raise
    return JSONResponse({"url": url, "name": f"{ns}/{name}", "id": f"{ns}/{name}"})


def delete_repo(ctx: HubContext, request: Request, body: dict) -> Response:
    user = ctx.user(request)
    ns = body.get("organization") or (user.name if user else None)
    rtype = body.get("type") or "model"
    if not isinstance(body.get("name"), str) or not ns:
        raise bad_request("'name' is required")
    repo, _ = ctx.repo(request, rtype, ns, body["name"], write=True)
    ctx.store.delete_repo(repo)
    return JSONResponse({})


def _private_setting(body: dict, default: bool | None) -> bool | None:
    """``visibility`` (what huggingface_hub 2.x sends) or the older ``private`` flag; "protected" is refused."""
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise bad_request(f"Unsupported visibility {visibility!r}: the local hub has 'public' and 'private' "
                              "('protected' Spaces are not supported)")
        return visibility == "private"
    if body.get("private") is not None:
        if not isinstance(body["private"], bool):
            raise bad_request("'private' must be true or false")
        return body["private"]
    return default


def update_settings(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, body: dict) -> Response:
    """Visibility only. Gated access and any other setting are refused (400) rather than silently dropped."""
    repo, _ = ctx.repo(request, rtype, ns, name, write=True)
    unsupported = sorted(set(body) - {"private", "visibility", "gated"})
    if unsupported:
        raise bad_request(f"Unsupported repo setting(s) {', '.join(unsupported)}: the local hub sets 'visibility' "
                          "(or 'private') only")
    if body.get("gated") not in (None, False, "false"):
        raise bad_request(f"Gated access (gated={body['gated']!r}) is not supported by the local hub: keep the repo "
                          "private and give readers a token instead")
    private = _private_setting(body, default=None)
    if private is not None:
        ctx.store.set_private(repo, private)
    return JSONResponse({})


def list_repos(ctx: HubContext, request: Request, rtype: str) -> Response:
    user = ctx.user(request)
    author = request.query_params.get("author")
    search = (request.query_params.get("search") or "").lower()
    out = []
    for repo in ctx.store.list_repos(rtype, author):
        if not ctx.can_read(repo, user):
            continue
        if search and search not in repo.repo_id.lower():
            continue
        head = ctx.store.ref(repo, "branch", "main")
        out.append({"_id": f"{repo.id:024x}", "id": repo.repo_id, "author": repo.namespace,
                    "private": repo.private, "sha": head, "createdAt": repo.created_at,
                    "lastModified": (ctx.store.commit(repo, head).created_at if head else repo.created_at),
                    "downloads": 0, "likes": 0, "tags": [], **({"sdk": repo.sdk} if repo.sdk else {})})
    return JSONResponse(out)


def repo_info(ctx: HubContext, request: Request, rtype: str, ns: str, name: str, rev: str | None) -> Response:
    repo, _ = ctx.repo(request, rtype, ns, name)
    sha = ctx.store.resolve(repo, rev or "main")
    commit = ctx.store.commit(repo, sha)
    assert commit is not None
    files = ctx.store.tree(commit.tree_sha)
    blobs = truthy(request.query_params.get("blobs"))
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
    card = _card_data(ctx, files.get("README.md"))
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


def _card_data(ctx: HubContext, readme: Entry | None) -> dict | None:
    if readme is None or readme.size > 1024 * 1024:
        return None
    try:
        return front_matter(ctx.store.blob_path(readme.sha256).read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        return None


def validate_yaml(body: dict) -> Response:
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
