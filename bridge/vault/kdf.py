"""Passphrase → key-encryption key, with a memory-hard KDF.

Argon2id (``cryptography``'s implementation) is the default; scrypt is the fallback where the linked
OpenSSL lacks Argon2. Cost parameters are calibrated once per process to about half a second on this
machine; ``KINCHART_KDF=fast`` (the test suite sets it) selects small but real parameters instead.
The parameters actually used, with the salt, are stored in the vault file and always read back from
it, so a vault created with fast parameters opens anywhere.

Stored form (the exact string is authenticated as associated data when the data key is wrapped, so
any edit of it makes the unwrap fail)::

    {"algorithm":"argon2id","iterations":3,"lanes":4,"memory_cost":262144,"salt":"<base64>","v":1}
"""

from __future__ import annotations

import base64
import json
import os
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import InvalidInput, TamperedData

KEY_LENGTH = 32
SALT_LENGTH = 16
TARGET_SECONDS = 0.5
ENV_KDF = "KINCHART_KDF"

Algorithm = Literal["argon2id", "scrypt"]

# Sanity bounds for stored parameters: outside them the file was edited (or is from something else),
# and running the KDF could exhaust memory or take hours.
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 16


@dataclass(frozen=True)
class KdfParams:
    """Cost parameters of the KDF (the salt is generated per wrap and stored beside them).

    ``memory_cost`` is in KiB. For scrypt, ``memory_cost`` is N (a power of two; with r = 8 the memory
    is N KiB), ``lanes`` is p and ``iterations`` is unused (1).
    """

    algorithm: Algorithm = "argon2id"
    memory_cost: int = 256 * 1024
    iterations: int = 3
    lanes: int = 4

    @classmethod
    def fast(cls) -> KdfParams:
        """Small but real parameters, for tests (8 MiB, one pass)."""
        if argon2_available():
            return cls("argon2id", memory_cost=8 * 1024, iterations=1, lanes=1)
        return cls("scrypt", memory_cost=2**13, iterations=1, lanes=1)

    def validate(self) -> None:
        """Raise :class:`TamperedData` if the parameters are outside sane bounds."""
        ok = (
            self.algorithm in ("argon2id", "scrypt")
            and 1 <= self.lanes <= _MAX_LANES
            and 1 <= self.iterations <= _MAX_ITERATIONS
            and 8 * self.lanes <= self.memory_cost <= _MAX_MEMORY_KIB
        )
        if ok and self.algorithm == "scrypt":
            ok = self.memory_cost & (self.memory_cost - 1) == 0
        if not ok:
            raise TamperedData(
                "The vault's key parameters are out of range: the vault file has been altered."
            )


def argon2_available() -> bool:
    global _ARGON2
    if _ARGON2 is None:
        try:
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

            Argon2id(
                salt=b"\0" * SALT_LENGTH, length=KEY_LENGTH, iterations=1, lanes=1, memory_cost=8
            ).derive(b"probe")
            _ARGON2 = True
        except (ImportError, UnsupportedAlgorithm):
            _ARGON2 = False
    return _ARGON2


_ARGON2: bool | None = None
_CALIBRATED: KdfParams | None = None


def passphrase_bytes(passphrase: str) -> bytes:
    """NFC-normalised UTF-8, so the same passphrase typed on another system gives the same key."""
    if not isinstance(passphrase, str) or passphrase == "":
        raise InvalidInput("The passphrase must not be empty.")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte key-encryption key for ``passphrase``."""
    secret = passphrase_bytes(passphrase)
    return _derive_raw(secret, salt, params)


def _derive_raw(secret: bytes, salt: bytes, params: KdfParams) -> bytes:
    if params.algorithm == "argon2id":
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        return Argon2id(
            salt=salt,
            length=KEY_LENGTH,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_cost,
        ).derive(secret)
    return Scrypt(salt=salt, length=KEY_LENGTH, n=params.memory_cost, r=8, p=params.lanes).derive(secret)


def _time(params: KdfParams) -> float:
    """CPU seconds of one derivation. CPU time, not wall time: a machine that is busy while the vault
    is created must not talk us into weaker parameters (OpenSSL's Argon2id runs on one thread, so
    on an idle machine the two agree)."""
    start = time.process_time()
    _derive_raw(b"calibration", os.urandom(SALT_LENGTH), params)
    return time.process_time() - start


def calibrate(target: float = TARGET_SECONDS) -> KdfParams:
    """Parameters that take about ``target`` seconds here (measured, not guessed; ~1 s to run).

    Argon2id: 4 lanes and 256 MiB (halved, down to 64 MiB, on a machine where one pass is already
    over the target), then as many passes as fit the target, between 1 and 10 — from two
    measurements, one pass and two passes. Scrypt (no Argon2 in this OpenSSL): the largest
    N ≤ 2^20 under the target.
    """
    if not argon2_available():
        n = 2**14
        while n < 2**20 and _time(KdfParams("scrypt", n, 1, 1)) * 2 <= target:
            n *= 2
        return KdfParams("scrypt", n, 1, 1)
    memory = 256 * 1024
    one = _time(KdfParams("argon2id", memory, 1, 4))
    while one > target and memory > 64 * 1024:
        memory //= 2
        one = _time(KdfParams("argon2id", memory, 1, 4))
    two = _time(KdfParams("argon2id", memory, 2, 4))
    per_pass = max(two - one, 0.02 * one, 1e-4)
    base = max(one - per_pass, 0.0)
    passes = round((target - base) / per_pass)
    return KdfParams("argon2id", memory, max(1, min(passes, 10)), 4)


def default_params() -> KdfParams:
    """``KdfParams.fast()`` when ``KINCHART_KDF=fast``, else calibrated parameters (cached per process)."""
    global _CALIBRATED
    if os.environ.get(ENV_KDF, "").strip().lower() == "fast":
        return KdfParams.fast()
    if _CALIBRATED is None:
        _CALIBRATED = calibrate()
    return _CALIBRATED


def new_salt() -> bytes:
    return os.urandom(SALT_LENGTH)


def dump_stored(params: KdfParams, salt: bytes) -> str:
    """The canonical stored form of parameters and salt (authenticated when wrapping the data key)."""
    return json.dumps(
        {
            "v": 1,
            "algorithm": params.algorithm,
            "memory_cost": params.memory_cost,
            "iterations": params.iterations,
            "lanes": params.lanes,
            "salt": base64.b64encode(salt).decode("ascii"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def load_stored(text: str) -> tuple[KdfParams, bytes]:
    """Parse the stored form; :class:`TamperedData` if it is unreadable or out of bounds."""
    bad = TamperedData("The vault's key parameters are unreadable: the vault file has been altered.")
    try:
        raw: Any = json.loads(text)
        if not isinstance(raw, dict) or raw.get("v") != 1:
            raise bad
        params = KdfParams(
            algorithm=raw["algorithm"],
            memory_cost=int(raw["memory_cost"]),
            iterations=int(raw["iterations"]),
            lanes=int(raw["lanes"]),
        )
        salt = base64.b64decode(raw["salt"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise bad from exc
    if not SALT_LENGTH <= len(salt) <= 64:
        raise bad
    params.validate()
    return params, salt
