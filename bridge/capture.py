"""The capture the extension posts, validated before anything is stored.

`{url, title, captured_at, frames: [{url, html}], extension_version}`, top document first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_FRAMES = 64


class BadCapture(ValueError):
    """The posted body is not a capture; the message says which field is wrong."""


class FrameIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(default="", max_length=8192)
    html: str


class CaptureIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(max_length=8192)
    title: str | None = Field(default=None, max_length=4096)
    captured_at: str | None = Field(default=None, max_length=64)
    frames: list[FrameIn] = Field(min_length=1, max_length=MAX_FRAMES)
    extension_version: str | None = Field(default=None, max_length=64)


def validate_capture(data: Any, *, text_well_formed: bool = False) -> dict[str, Any]:
    """A clean capture dict, or BadCapture naming the first problem. `text_well_formed`: the caller knows
    no string in `data` holds a lone surrogate (orjson decoded it), so none is looked for."""
    if not isinstance(data, dict):
        raise BadCapture("a capture is a JSON object with url and frames")
    try:
        model = CaptureIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadCapture(f"capture field '{where}': {first['msg']}") from None
    capture = model.model_dump()
    if not text_well_formed:
        for field in ("url", "title", "captured_at", "extension_version"):
            capture[field] = _well_formed(capture[field])
        for frame in capture["frames"]:
            frame["url"], frame["html"] = _well_formed(frame["url"]), _well_formed(frame["html"])
    for where, url in [("url", capture["url"])] + [
        (f"frames.{i}.url", f["url"]) for i, f in enumerate(capture["frames"])
    ]:
        try:
            parts = urlsplit(url)
            _ = parts.hostname, parts.port  # both raise ValueError on a malformed address
        except ValueError as exc:
            raise BadCapture(f"capture field '{where}': not a valid address ({exc})") from None
    if not capture["captured_at"]:
        capture["captured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for frame in capture["frames"]:
        frame["url"] = frame["url"] or capture["url"]
    return capture


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _well_formed(value: str | None) -> str | None:
    """JSON may carry lone UTF-16 surrogates ("\\ud800") that no UTF-8 file or database can hold: they
    become U+FFFD, as a browser shows them, instead of failing later when the capture is stored."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")  # fails only on a surrogate, 3 times as fast as searching for one
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.I)
_CANONICAL = re.compile(r"<link[^>]+rel=[\"']?canonical[\"']?[^>]*>", re.I)
_HREF = re.compile(r"href=[\"']([^\"']+)[\"']", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def url_of_saved_page(html: str) -> str | None:
    """The page's address from the browser's "saved from url" comment or its canonical link."""
    head = html[:20000]
    m = _SAVED_FROM.search(head)
    if m:
        return m.group(1)
    link = _CANONICAL.search(head)
    if link:
        href = _HREF.search(link.group(0))
        if href:
            return href.group(1)
    return None


def capture_from_html_file(path: Path, url: str | None = None) -> dict[str, Any]:
    """A saved .html page as a one-frame capture (for `kinchart import`)."""
    html = path.read_bytes().decode("utf-8", errors="replace")
    page_url = url or url_of_saved_page(html) or path.resolve().as_uri()
    title = _TITLE.search(html[:20000])
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return validate_capture(
        {
            "url": page_url,
            "title": re.sub(r"\s+", " ", title.group(1)).strip() if title else None,
            "captured_at": mtime,
            "frames": [{"url": page_url, "html": html}],
            "extension_version": "import",
        }
    )
