"""AES-256-GCM blobs bound to where they are stored, and the wrapped data key.

Blob layout: ``0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)``. The nonce is fresh (``os.urandom``) for
every encryption. The associated data names the table, the column and the row's identity (see
:func:`aad`), so a blob copied into another row, column or table fails to decrypt. The plaintext
starts with one flag byte: ``0x00`` raw, ``0x01`` zlib-compressed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import zlib
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import TamperedData, WrongPassphrase

VERSION = 1
NONCE_LENGTH = 12
TAG_LENGTH = 16
DATA_KEY_LENGTH = 32
_HEAD = bytes([VERSION])
_PREFIX = "kinchart:v1"
RAW, ZLIB = 0, 1
_COMPRESS_ABOVE = 512


def aad(table: str, column: str, *identity: str | int) -> bytes:
    """Associated data: table, column and the row's identity, NUL-separated.

    Identities never contain NUL: ids are integers, hex digests or validated opaque keys.
    """
    return "\0".join((_PREFIX, table, column, *map(str, identity))).encode("utf-8")


def derive_subkey(data_key: bytes, purpose: str) -> bytes:
    """A separate 256-bit key for another use of the data key (HKDF-SHA256, ``purpose`` as info)."""
    info = f"{_PREFIX} {purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)


def keyed_id(mac_key: bytes, *parts: str) -> str:
    """A keyed hash (HMAC-SHA256, 128 bits, hex) standing in for an identifier stored in plaintext."""
    message = "\0".join(parts).encode("utf-8")
    return hmac.new(mac_key, message, hashlib.sha256).hexdigest()[:32]


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_LENGTH)


def seal(cipher: AESGCM, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_LENGTH)
    return _HEAD + nonce + cipher.encrypt(nonce, plaintext, associated)


def tampered(where: str) -> TamperedData:
    return TamperedData(
        f"Stored data ({where}) failed its integrity check: the vault file has been "
        "altered or damaged. Nothing was read from it."
    )


def unseal(cipher: AESGCM, blob: bytes, associated: bytes, where: str) -> bytes:
    if not isinstance(blob, bytes) or len(blob) < 1 + NONCE_LENGTH + TAG_LENGTH or blob[0] != VERSION:
        raise tampered(where)
    try:
        return cipher.decrypt(blob[1 : 1 + NONCE_LENGTH], blob[1 + NONCE_LENGTH :], associated)
    except InvalidTag:
        raise tampered(where) from None


def dumps(value: Any) -> bytes:
    # orjson: the same compact UTF-8 JSON several times faster (metas and record sets are on every save
    # and every unlock); the capture's canonical form, which names it, stays stdlib json (capture.py).
    return orjson.dumps(value)


def pack(payload: bytes, *, compress: bool | None = None, level: int = 6) -> bytes:
    """Flag byte + payload; compressed when asked, or (``None``) when large enough to be worth it."""
    if compress is None:
        compress = len(payload) > _COMPRESS_ABOVE
    if compress:
        return bytes([ZLIB]) + zlib.compress(payload, level)
    return bytes([RAW]) + payload


def unpack(data: bytes, where: str) -> bytes:
    if not data:
        raise tampered(where)
    if data[0] == RAW:
        return data[1:]
    if data[0] == ZLIB:
        try:
            return zlib.decompress(data[1:])
        except zlib.error:
            raise tampered(where) from None
    raise tampered(where)


def seal_json(cipher: AESGCM, value: Any, associated: bytes) -> bytes:
    return seal(cipher, pack(dumps(value)), associated)


def unseal_json(cipher: AESGCM, blob: bytes, associated: bytes, where: str) -> Any:
    raw = unpack(unseal(cipher, blob, associated, where), where)
    try:
        return orjson.loads(raw)
    except ValueError:
        raise tampered(where) from None


def _wrap_aad(vault_id: str, stored_kdf: str, file_format: int) -> bytes:
    if file_format == 1:  # vaults written before the manifest: their wrap binds no format
        return aad("vault", "wrapped_key", vault_id, stored_kdf)
    # Binding the format means nobody can set a vault back to "no manifest yet" (which would make the
    # next unlock trust whatever rows it finds): the wrapped key no longer opens under format 1.
    return aad("vault", "wrapped_key", vault_id, stored_kdf, f"format {file_format}")


def wrap_data_key(kek: bytes, data_key: bytes, vault_id: str, stored_kdf: str, file_format: int) -> bytes:
    """Seal the data key under the key-encryption key, binding the exact stored KDF parameters and the
    vault's file format."""
    return seal(AESGCM(kek), data_key, _wrap_aad(vault_id, stored_kdf, file_format))


def unwrap_data_key(kek: bytes, wrapped: bytes, vault_id: str, stored_kdf: str, file_format: int) -> bytes:
    try:
        key = unseal(AESGCM(kek), wrapped, _wrap_aad(vault_id, stored_kdf, file_format), "data key")
    except TamperedData:
        raise WrongPassphrase("That passphrase does not unlock this vault. Nothing was changed.") from None
    if len(key) != DATA_KEY_LENGTH:
        raise TamperedData("The vault's wrapped key is malformed: the vault file has been altered.")
    return key
