"""The vault's gate: work that needs the vault unlocked (a save, a reparse, an import, a dashboard
form) holds it open; locking the vault closes it and waits for that work to finish first.

It replaces one asyncio lock that every save took for its whole length, parse included: saves no
longer wait for each other (a slow page holds up only itself), and the threads they run in order
themselves by the family's and the vault's own locks (`Family.exclusive`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class GateClosed(Exception):
    """The vault is being locked (or is locked): the work was not started."""


class Gate:
    def __init__(self) -> None:
        self._inside = 0
        self._closing = False
        self._empty: asyncio.Event | None = None  # made on the running loop, when first needed

    def _event(self) -> asyncio.Event:
        if self._empty is None:
            self._empty = asyncio.Event()
            if self._inside == 0:
                self._empty.set()
        return self._empty

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the gate open for the block; GateClosed if the vault is being locked."""
        if self._closing:
            raise GateClosed
        self._inside += 1
        self._event().clear()
        try:
            yield
        finally:
            self._inside -= 1
            if self._inside == 0:
                self._event().set()

    @contextlib.asynccontextmanager
    async def closed(self) -> AsyncIterator[None]:
        """Close the gate, wait until no work is inside, and keep it closed for the block (the lock)."""
        self._closing = True
        try:
            await self._event().wait()
            yield
        finally:
            self._closing = False
