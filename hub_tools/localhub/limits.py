"""Limits the HTTP server itself enforces before the app sees a request: a deadline for the request head.

uvicorn arms a keep-alive timer only between requests and resets it on every byte received, so a
client that sends its headers one byte at a time would hold a connection forever (slow loris). The
protocol below gives each request head a fixed deadline, counted from the connection's start or the
previous response. Header size is capped by ``h11_max_incomplete_event_size`` in the server config;
body sizes by the routes (``web.read_body``, the NDJSON line limit, LFS tickets).
"""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(timeout: float) -> type[H11Protocol]:
    """An ``H11Protocol`` closing connections whose request head is not complete within ``timeout`` s."""

    class HeadDeadlineProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _cycle_at_arm: object = None

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._cycle_at_arm = self.cycle
            self._head_timer = self.loop.call_later(timeout, self._expire)

        def _expire(self) -> None:
            self._head_timer = None
            # No new request started since the timer was armed: an idle or a trickling connection.
            if self.cycle is self._cycle_at_arm and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            self._arm()  # before super(): a pipelined request it starts counts as a new cycle, never cut off
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

    return HeadDeadlineProtocol
