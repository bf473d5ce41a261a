"""The dashboard's export page: the same exports as `kinchart export`, from the same merged-timeline
query, downloaded by the browser (the plaintext ones only after the caregiver ticks that they know the
file leaves the vault's protection), and the import of another caregiver's share bundle."""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import threading
from datetime import date
from typing import Any

from aiohttp import web

from bridge.export_formats import FORMATS, PLAINTEXT, menu
from bridge.exports import PLAINTEXT_WARNING, ExportOptions, write_stream
from bridge.exports.pdf import PdfUnavailable
from bridge.records import RECORD_KINDS
from bridge.share_format import BundleError
from bridge.share_import import import_bundle

from .render import render
from .views import View, change, form_of, read, view

routes = web.RouteTableDef()

#: what the page offers: menu value -> (format, csv table, label)
CHOICES = menu()


def _page(
    v: View,
    status: int = 200,
    error: str | None = None,
    message: str | None = None,
    form: dict[str, Any] | None = None,
) -> web.Response:
    form = form or {}
    members = v.family.list_members()
    return render(
        "export.html",
        status=status,
        csrf=v.csrf,
        members=members,
        kinds=RECORD_KINDS,
        choices=CHOICES,
        warning=PLAINTEXT_WARNING,
        error=error,
        message=message,
        chosen_members=set(form.get("members") or [m.id for m in members]),
        chosen_kinds=set(form.get("kinds") or []),
        fmt=form.get("format") or "pdf",
        since=form.get("since") or "",
        until=form.get("until") or "",
        past=bool(form.get("past")),
    )


@routes.get("/export")
async def export_page(request: web.Request) -> web.StreamResponse:
    return await read(_page, await view(request))


async def _view(request: web.Request) -> tuple[View, dict[str, Any]]:
    v, single = await form_of(request)
    multi = await request.post()  # cached by aiohttp: the checked form's repeated fields
    form: dict[str, Any] = dict(single)
    form["members"] = [x for x in multi.getall("member", []) if isinstance(x, str)]
    form["kinds"] = [x for x in multi.getall("kind", []) if isinstance(x, str)]
    upload = multi.get("bundle")
    form["upload"] = upload.file.read() if isinstance(upload, web.FileField) else None
    return v, form


def _date(value: str, what: str) -> str | None:
    if not value:
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be a date.") from None
    return value


@routes.post("/export")
async def export_download(request: web.Request) -> web.StreamResponse:
    v, form = await _view(request)
    choice = CHOICES.get(str(form.get("format") or ""))
    try:
        if choice is None:
            raise ValueError("Choose a format.")
        fmt, table, _ = choice
        known = {m.id for m in await read(v.family.list_members)}
        members = [m for m in form["members"] if m in known]
        if not members:
            raise ValueError("Choose at least one family member.")
        kinds = [k for k in form["kinds"] if k in RECORD_KINDS] or None
        since = _date(str(form.get("since") or ""), "From")
        until = _date(str(form.get("until") or ""), "To")
        passphrase = None
        if fmt == "bundle":
            passphrase = str(form.get("passphrase") or "")
            if passphrase != str(form.get("again") or ""):
                raise ValueError("The two passphrases differ.")
        elif form.get("understood") != "yes":
            raise ValueError("Tick the box to confirm you understand the file will not be encrypted.")
    except ValueError as exc:
        return await read(_page, v, status=400, error=str(exc), form=form)
    opts = ExportOptions(
        member_ids=members, kinds=kinds, since=since, until=until, include_past=bool(form.get("past"))
    )

    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
    gone = threading.Event()

    def run() -> None:
        try:
            with io.BufferedWriter(_Chunks(chunks, gone), buffer_size=CHUNK) as out:
                write_stream(
                    fmt,
                    v.family,
                    v.vault,
                    opts,
                    out,
                    passphrase=passphrase,
                    csv_table="components" if table == "components" else "entries",
                )
            _put(chunks, gone, None)
        except _Gone:
            pass
        except BaseException as exc:  # handed to the request, which reports it
            with contextlib.suppress(_Gone):
                _put(chunks, gone, exc)

    loop = asyncio.get_running_loop()
    worker = loop.run_in_executor(None, run)
    first = await loop.run_in_executor(None, chunks.get)
    if isinstance(first, BundleError | PdfUnavailable):
        await worker
        return await read(
            _page, v, status=400 if isinstance(first, BundleError) else 503, error=str(first), form=form
        )
    if isinstance(first, BaseException):
        await worker
        raise first
    suffix, media = FORMATS[fmt].suffix, FORMATS[fmt].media_type
    name = (
        f"kinchart-{'components' if table == 'components' else 'family'}-{date.today().isoformat()}{suffix}"
    )
    if fmt == "bundle":
        name = f"kinchart-share-{date.today().isoformat()}{suffix}"
    resp = web.StreamResponse(
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    resp.content_type = media.split(";")[0]
    if "charset" in media:
        resp.charset = "utf-8"
    try:
        await resp.prepare(request)
        item: bytes | BaseException | None = first
        while item is not None:
            if isinstance(item, BaseException):  # a failure half-way: the download is cut short
                raise ConnectionAbortedError("the export failed while it was being sent") from item
            await resp.write(item)
            item = await loop.run_in_executor(None, chunks.get)
        await resp.write_eof()
    finally:
        gone.set()  # stops the writer if the browser went away
        await worker
    return resp


CHUNK = 1 << 20


class _Gone(Exception):
    """The download was abandoned: stop writing."""


def _put(
    q: queue.Queue[bytes | BaseException | None], gone: threading.Event, item: bytes | BaseException | None
) -> None:
    while True:
        try:
            q.put(item, timeout=0.5)
            return
        except queue.Full:
            if gone.is_set():
                raise _Gone from None


class _Chunks(io.RawIOBase):
    """A binary sink handing what an export writes to the request, a chunk at a time (nothing is
    held whole in memory, nothing touches the disk)."""

    def __init__(self, q: queue.Queue[bytes | BaseException | None], gone: threading.Event) -> None:
        self.q, self.gone = q, gone

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        if data:
            _put(self.q, self.gone, data)
        return len(data)


@routes.post("/export/import-bundle")
async def import_share_bundle(request: web.Request) -> web.StreamResponse:
    v, form = await _view(request)
    data = form.get("upload")
    if not data:
        return await read(_page, v, status=400, error="Choose a share bundle file to import.")
    passphrase = str(form.get("passphrase") or "")

    def run() -> str:
        return import_bundle(v.vault, v.family, data, passphrase).describe()

    try:
        summary = await change(v, run)
    except BundleError as exc:
        return await read(_page, v, status=400, error=str(exc))
    return await read(_page, v, message=f"Imported the share bundle: {summary}.")


__all__ = ["PLAINTEXT", "routes"]
