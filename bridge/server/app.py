"""The aiohttp application factory and the runner behind `kinchart serve`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from bridge.config import BIND_HOST, ServerConfig
from bridge.parsers import budget

from . import api, pages_auth, pages_captures, pages_export, pages_family, pages_records, pages_settings
from .connections import HEAD_TIMEOUT, ConnectionGuard, body_deadline
from .guards import api_guard, host_guard, security_headers
from .sessions import SESSION_ROUTE_PREFIX, SESSIONS, Sessions, session_urls
from .state import STATE, BridgeState
from .unlock_throttle import UNLOCK_THROTTLE, UnlockThrottle

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


class PortTaken(RuntimeError):
    pass


async def _idle_lock(app: web.Application) -> AsyncIterator[None]:
    """Lock the vault after the configured idle time, so an unattended laptop shows nothing."""
    state = app[STATE]

    async def watch() -> None:
        while True:
            await asyncio.sleep(1)
            idle = time.monotonic() - state.last_activity
            if state.unlocked and idle > state.idle_lock_minutes * 60:
                await state.lock_keeping_index()
                app[SESSIONS].end_all()
                log.info("vault locked after %d idle minutes", state.idle_lock_minutes)

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_vault(app: web.Application) -> AsyncIterator[None]:
    yield
    state = app[STATE]
    if state.unlocked:
        await state.lock_keeping_index()
    if state.vault is not None:
        state.vault.close()


def _add_session_routes(app: web.Application, table: web.RouteTableDef) -> None:
    """Each dashboard page under the session prefix (`/s/<secret>/members`: see `sessions`), and at its
    plain path too, where it only ever sends the visitor to unlock (or to first-run setup)."""
    for route in table:
        assert isinstance(route, web.RouteDef)
        route.register(app.router)
        web.RouteDef(route.method, SESSION_ROUTE_PREFIX + route.path, route.handler, route.kwargs).register(
            app.router
        )


def init_app(config: ServerConfig) -> web.Application:
    app = web.Application(
        middlewares=[body_deadline, host_guard, security_headers, api_guard, session_urls],
        client_max_size=config.max_body,
    )
    app[STATE] = BridgeState(config)
    app[SESSIONS] = Sessions()
    app[UNLOCK_THROTTLE] = UnlockThrottle()
    app.add_routes(api.routes)
    app.add_routes(pages_auth.routes)
    pages = (pages_family, pages_records, pages_captures, pages_settings, pages_export)
    for table in (pages_auth.session_routes, *(module.routes for module in pages)):
        _add_session_routes(app, table)
    app.router.add_static("/static", STATIC, append_version=False)
    app.cleanup_ctx.append(_idle_lock)
    app.cleanup_ctx.append(_close_vault)
    return app


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run the bridge until cancelled; `ready` is set once the port is bound (not before: `kinchart
    serve` says "running" only then)."""
    # The access log would record URLs. A connection that sends no complete request head for
    # HEAD_TIMEOUT seconds (at first, or between requests) is closed.
    runner = web.AppRunner(init_app(config), access_log=None, keepalive_timeout=HEAD_TIMEOUT)
    await runner.setup()
    assert runner.server is not None
    try:
        # Not web.TCPSite: its protocol factory is wrapped to cap connections (see `connections`).
        # SO_REUSEADDR lets a restart bind past TIME_WAIT; Linux still refuses a second live listener.
        listener = await asyncio.get_running_loop().create_server(
            ConnectionGuard(runner.server), BIND_HOST, config.port, reuse_address=True
        )
    except OSError as exc:
        await runner.cleanup()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortTaken(
                f"Port {config.port} on {BIND_HOST} is already in use. Is Kinchart already running? "
                "Stop the other program or choose another port with --port."
            ) from exc
        raise
    if ready is not None:
        ready.set()
    # The parse budget's worker processes, started now so that the first large page does not wait
    # for one; stopped with the bridge.
    warming = asyncio.get_running_loop().run_in_executor(None, budget.warm_up)
    try:
        await asyncio.Event().wait()
    finally:
        listener.close()
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await warming
        budget.shutdown()


def run(config: ServerConfig, on_ready: Callable[[], None] | None = None) -> None:
    """`serve` until Ctrl+C, which stops it quietly; `on_ready` is called once the port is bound."""

    async def main() -> None:
        ready = asyncio.Event()

        async def announce() -> None:
            await ready.wait()
            if on_ready is not None:
                on_ready()

        announcer = asyncio.create_task(announce())
        try:
            await serve(config, ready)
        finally:
            announcer.cancel()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
