"""Test-only fault injection, as a wrapper around the hub's ASGI app (``hub serve --enable-fault-injection``).

``POST /api/_localhub/faults`` sets the rules; ``GET /api/_localhub/stats`` answers the app's write
counters. A matching request fails before it reaches the app, or after (the app handles it, e.g. the
commit lands, and its answer is replaced by the error, as when a response is lost on the way back).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub_tools.localhub.errors import HubError
from hub_tools.localhub.web import error_response


@dataclass
class FaultRule:
    """Answer ``status`` to the ``after``+1-th .. ``after+times``-th matching request."""

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
class FaultInjector:
    app: ASGIApp
    counters: dict[str, int]
    rules: list[FaultRule] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        method = scope["method"]
        if path == "/api/_localhub/faults" and method == "POST":
            response = self._set_rules(await Request(scope, receive).body())
            await response(scope, receive, send)
            return
        if path == "/api/_localhub/stats" and method == "GET":
            await JSONResponse(self.counters)(scope, receive, send)
            return
        rule = next((r for r in self.rules if r.matches(method, path) and r.should_fire()), None)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.when == "before":
            async for _ in Request(scope, receive).stream():  # read the body: keep-alive stays usable
                pass
            message = f"Injected fault ({rule.status}) for tests"
        else:
            async def discard(_: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            message = f"Injected fault ({rule.status}) after handling"
        await error_response(HubError(rule.status, message))(scope, receive, send)

    def _set_rules(self, raw: bytes):
        try:
            body = json.loads(raw or b"{}")
            self.rules = [FaultRule(**{k: v for k, v in r.items() if k in FaultRule.__dataclass_fields__
                                       and k not in ("seen", "fired")}) for r in body.get("rules", [])]
        except (TypeError, ValueError, AttributeError) as err:
            return error_response(HubError(400, f"Invalid fault rules: {err}"))
        return JSONResponse({"rules": len(self.rules)})
