"""A capture's shape, canonical form and identity.

A capture is ``{url, title, captured_at, frames: [{url, html}], extension_version}``.

Identity (the capture id) is an HMAC-SHA256 (hex), under a key derived from the vault's data key, of
the canonical JSON of **the page URL and the
frames' URLs and HTML only** — ``{"frames":[{"html":…,"url":…}, …],"url":…}`` with sorted keys, no
whitespace, UTF-8, frames in their captured order. ``title``, ``captured_at`` and
``extension_version`` are left out on purpose: saving the very same page again, a minute later or
from a newer extension, is a duplicate and is stored once (the first copy is kept). Any change in
the HTML — a new result row, a different timestamp rendered in the page — is a new capture.

The id is keyed so that someone who holds a page but not the passphrase cannot hash it and look for
it in the vault file. :func:`capture_hash` (no key) is the plain SHA-256, which vaults used before
schema ``m004``: they are rewritten to keyed ids at their first unlock (see ``upgrade.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from .errors import InvalidInput


def _require_shape(capture: Any) -> None:
    """Raise :class:`InvalidInput` unless ``capture`` has a string ``url`` and frames with string HTML:
    what an id and a stored body need. Not the validation of a capture from outside (the API, an
    import, a share bundle), which is ``bridge.capture.validate_capture`` and comes first."""
    if not isinstance(capture, dict):
        raise InvalidInput("A capture must be a JSON object.")
    if not isinstance(capture.get("url"), str):
        raise InvalidInput("A capture needs the page's url.")
    frames = capture.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InvalidInput("A capture needs at least one frame.")
    for frame in frames:
        if not isinstance(frame, dict) or not isinstance(frame.get("html"), str):
            raise InvalidInput("Every frame of a capture needs its html.")
        if not isinstance(frame.get("url", ""), str):
            raise InvalidInput("A frame's url must be text.")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no white space, UTF-8: byte for byte what ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` gives (a test holds orjson to that, so capture ids
    never change), at several times the speed on multi-megabyte pages."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def identity_form(capture: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": capture["url"],
        "frames": [{"url": f.get("url", ""), "html": f["html"]} for f in capture["frames"]],
    }


def capture_hash(capture: dict[str, Any]) -> str:
    """The unkeyed digest, SHA-256 (hex) of the canonical JSON of url + frames: what capture ids were
    before schema ``m004`` (see module docstring)."""
    _require_shape(capture)
    return hashlib.sha256(canonical_json(identity_form(capture))).hexdigest()


def keyed_capture_id(key: bytes, capture: dict[str, Any]) -> str:
    """The capture id in a vault whose capture-id key is ``key``."""
    return CanonicalCapture(capture).capture_id(key)


class CanonicalCapture:
    """A capture's canonical JSON (``body``: what the vault stores) and its id, with the frames (nearly
    all of both) serialized once when they hold just a url and the HTML, as validated captures' do.

    ``body`` is ``canonical_json(capture)``; ``capture_id(key)`` (computed on demand: hashing a large page
    takes a while, and releases the GIL) is the keyed id, ``capture_id(None)`` ``capture_hash(capture)``. :class:`InvalidInput` for a
    malformed capture.
    """

    def __init__(self, capture: dict[str, Any]) -> None:
        _require_shape(capture)
        frames = capture["frames"]
        if all(frame.keys() == {"url", "html"} for frame in frames):
            shared = canonical_json(frames)  # = the identity form's frames: the same two keys, sorted
            self.body = canonical_json({**capture, "frames": orjson.Fragment(shared)})
            self._identity: tuple[bytes, ...] = (
                b'{"frames":',
                shared,
                b',"url":' + canonical_json(capture["url"]) + b"}",
            )
        else:
            self.body = canonical_json(capture)
            self._identity = (canonical_json(identity_form(capture)),)

    def capture_id(self, key: bytes | None) -> str:
        digest = hashlib.sha256() if key is None else hmac.new(key, digestmod="sha256")
        for part in self._identity:
            digest.update(part)
        return digest.hexdigest()
