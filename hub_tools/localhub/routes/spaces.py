"""Space variables: the public settings of a Space (secrets are not stored by the local hub)."""
from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_tools.localhub.context import HubContext
from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.web import read_json


async def space_variables(ctx: HubContext, request: Request, ns: str, name: str) -> Response:
    """GET lists, POST {key, value, description} sets, DELETE {key} removes; answers the variables."""
    repo, _ = ctx.repo(request, "space", ns, name, write=request.method != "GET")
    if request.method in ("POST", "DELETE"):
        body = await read_json(request)
        key = body.get("key")
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", key):
            raise bad_request(f"Invalid variable key {key!r}: letters, digits and _, not starting with a digit")
        if request.method == "POST":
            if not isinstance(body.get("value"), str):
                raise bad_request("'value' must be a string")
            ctx.store.set_space_variable(repo, key, body["value"], body.get("description"))
        else:
            ctx.store.delete_space_variable(repo, key)
    elif request.method != "GET":
        raise HubError(405, f"{request.method} is not allowed on Space variables")
    return JSONResponse(ctx.store.space_variables(repo))
