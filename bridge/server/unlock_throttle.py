"""Passphrase guessing at the dashboard's unlock form: one guess at a time, and a growing wait after
a few wrong ones, for the whole bridge (a guesser can make as many sessions as it likes).

Web pages cannot reach the form (Origin, Sec-Fetch-Site and CSRF checks come first), so only a local
program can guess, or make the caregiver wait; the wait is capped so the caregiver is never locked out
for long. Argon2id already makes each guess cost about half a second of CPU and memory.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from aiohttp import web

#: wrong passphrases allowed before any wait (typos)
FREE_FAILURES = 3
#: the longest wait between guesses, in seconds
MAX_WAIT = 300.0


class UnlockThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failures = 0
        self._next_allowed = 0.0
        # One key derivation at a time: parallel guesses would multiply the guessing rate.
        self.one_at_a_time = asyncio.Lock()

    def wait_seconds(self) -> int:
        """How long until the next guess is accepted (0: now)."""
        return max(0, math.ceil(self._next_allowed - self._clock()))

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= FREE_FAILURES:
            wait = min(MAX_WAIT, 2.0 ** (self.failures - FREE_FAILURES))
            self._next_allowed = self._clock() + wait

    def succeeded(self) -> None:
        self.failures = 0
        self._next_allowed = 0.0


UNLOCK_THROTTLE: web.AppKey[UnlockThrottle] = web.AppKey("unlock_throttle", UnlockThrottle)
