"""The aiohttp application factory and the runner behind `kinchart serve`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bridge.config import BIND_HOST, ServerConfig

from . import api, pages_auth, pages_captures, pages_export, pages_family, pages_records, pages_settings
from .guards import api_guard, host_guard, security_headers
from .sessions import SESSIONS, Sessions
from .state import STATE, BridgeState

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


def init_app(config: ServerConfig) -> web.Application:
    app = web.Application(
        middlewares=[host_guard, security_headers, api_guard], client_max_size=config.max_body
    )
    app[STATE] = BridgeState(config)
    app[SESSIONS] = Sessions()
    app.add_routes(api.routes)
    for module in (pages_auth, pages_family, pages_records, pages_captures, pages_settings, pages_export):
        app.add_routes(module.routes)
    app.router.add_static("/static", STATIC, append_version=False)
    app.cleanup_ctx.append(_idle_lock)
    app.cleanup_ctx.append(_close_vault)
    return app


async def _serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    runner = web.AppRunner(init_app(config), access_log=None)  # the access log would record URLs
    await runner.setup()
    # SO_REUSEADDR lets a restart bind past TIME_WAIT; Linux still refuses a second live listener.
    site = web.TCPSite(runner, BIND_HOST, config.port, reuse_address=True)
    try:
        await site.start()
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
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(config: ServerConfig) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))
