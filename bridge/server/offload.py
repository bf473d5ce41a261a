"""Blocking work off the event loop.

Everything that touches the vault or the family model can wait on a lock, decrypt thousands of
records or build the timeline index; on the event loop that would stall every other request (the
extension's ping, a save, the idle lock). Handlers run such work through `in_thread`."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def in_thread(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """`fn(*args, **kwargs)` in the loop's worker threads; its exceptions (web.HTTPException too) are
    raised here, in the handler."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(ctx.run, fn, *args, **kwargs))
