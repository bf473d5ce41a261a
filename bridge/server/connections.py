"""Slow or idle sockets must not exhaust the bridge.

- aiohttp closes a connection that has not sent a whole request head within its keep-alive timeout
  (at first, and between requests), which `app` sets to `HEAD_TIMEOUT`.
- `body_deadline` closes a connection whose request body has not arrived `BODY_TIMEOUT` seconds after
  its head (every client is on this machine: even the largest capture takes well under a second).
- `ConnectionGuard` caps the open connections below the process's file limit: at the cap, a new
  connection takes the place of the oldest one that has not sent a whole request head yet, so a pile
  of half-open sockets cannot keep the caregiver's browser or the extension out. Only when every open
  connection is busy with a real request is a new one refused.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

#: seconds a connection may stay open without completing a request head (aiohttp's keep-alive timeout)
HEAD_TIMEOUT = 10.0
#: seconds a request's body may take to arrive after its head
BODY_TIMEOUT = 20.0
#: open connections at most (a browser opens about six per origin)
MAX_CONNECTIONS = 512
# file descriptors kept for the vault, its journal, caches and exports
RESERVED_FILES = 64


def connection_cap() -> int:
    """`MAX_CONNECTIONS`, or fewer if the process may not open that many files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - RESERVED_FILES))


class ConnectionGuard:
    """A protocol factory around aiohttp's: it counts connections and notices each one's first
    complete request head."""

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], limit: int | None = None) -> None:
        self._factory = factory
        self.limit = limit or connection_cap()
        # insertion order is age: the first head-less entry is the one to drop
        self._open: dict[_Guarded, None] = {}
        self.refused = 0
        self.evicted = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._factory())

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def _admit(self, conn: _Guarded) -> bool:
        if len(self._open) >= self.limit:
            idle = next((c for c in self._open if not c.head_seen), None)
            if idle is None:
                self.refused += 1
                return False
            self.evicted += 1
            idle.drop()
        self._open[conn] = None
        return True

    def _release(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)


class _Guarded(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: asyncio.BaseProtocol) -> None:
        self._guard = guard
        self._inner: Any = inner  # aiohttp's RequestHandler: a streaming protocol
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._tail = b""
        self.head_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._guard._admit(self):
            transport.abort()
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def drop(self) -> None:
        self._guard._release(self)
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.head_seen:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self.head_seen = True
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received() if self._admitted else None
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard._release(self)
        if self._admitted:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


@web.middleware
async def body_deadline(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Close the connection of a request whose body is still arriving `BODY_TIMEOUT` seconds after its
    head: the handler's read then fails, instead of holding the connection for as long as the sender
    likes."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)

    def too_slow() -> None:
        if not request.content.is_eof() and request.transport is not None:
            request.transport.abort()

    timer = asyncio.get_running_loop().call_later(BODY_TIMEOUT, too_slow)
    try:
        return await handler(request)
    finally:
        timer.cancel()
