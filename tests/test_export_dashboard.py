"""The dashboard's export page over real HTTP: the form, the plaintext acknowledgement, downloads, the
encrypted share bundle and its import."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import PASSPHRASE, make_config
from dashboard_client import DashboardClient
from test_export import HOA, LAN, fill

from bridge import share_format
from bridge.exports import json_format
from bridge.server import init_app
from bridge.server.state import STATE

SHARE = "dashboard share passphrase"


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[tuple[DashboardClient, TestServer, tuple[str, str]]]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    state = app[STATE]
    assert state.vault is not None and state.family is not None
    ids = fill(state.vault, state.family)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = DashboardClient(session, port)
        await client.login(PASSPHRASE)
        yield client, server, ids
    await server.close()


async def _post(
    client: DashboardClient, path: str, fields: list[tuple[str, str]]
) -> tuple[int, dict[str, str], bytes]:
    data = [("csrf", client.csrf), *fields]
    async with client.session.post(
        client.url(path), data=data, headers=client._headers(True), allow_redirects=False
    ) as r:
        return r.status, dict(r.headers), await r.read()


async def test_export_page_lists_members_and_warns(
    dash: tuple[DashboardClient, TestServer, tuple[str, str]],
) -> None:
    client, _, _ = dash
    status, page = await client.get("/export")
    assert status == 200
    assert HOA in page and LAN in page
    assert "NOT encrypted" in page and 'name="understood"' in page
    for fmt in ("json", "csv", "csv-components", "fhir", "ics", "html", "pdf", "bundle"):
        assert f'value="{fmt}"' in page


async def test_plaintext_download_needs_the_acknowledgement(
    dash: tuple[DashboardClient, TestServer, tuple[str, str]],
) -> None:
    client, _, (hoa, lan) = dash
    await client.get("/export")
    status, _, body = await _post(client, "/export", [("format", "csv"), ("member", hoa)])
    assert status == 400 and b"not be encrypted" in body
    status, headers, body = await _post(
        client, "/export", [("format", "csv"), ("member", hoa), ("member", lan), ("understood", "yes")]
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["member"] for r in rows} == {HOA, LAN}
    # one member, one kind
    status, _, body = await _post(
        client, "/export", [("format", "json"), ("member", lan), ("kind", "allergy"), ("understood", "yes")]
    )
    parsed = json_format.load(body)
    assert status == 200 and parsed.entries and {e.kind for e in parsed.entries} == {"allergy"}
    assert {e.member_name for e in parsed.entries} == {LAN}
    status, _, body = await _post(
        client, "/export", [("format", "fhir"), ("member", lan), ("since", "nonsense"), ("understood", "yes")]
    )
    assert status == 400


async def test_share_bundle_download_and_import(
    dash: tuple[DashboardClient, TestServer, tuple[str, str]],
) -> None:
    client, _, (hoa, lan) = dash
    await client.get("/export")
    status, _, body = await _post(
        client,
        "/export",
        [
            ("format", "bundle"),
            ("member", hoa),
            ("member", lan),
            ("passphrase", SHARE),
            ("again", "something else"),
        ],
    )
    assert status == 400 and b"differ" in body
    status, headers, sealed = await _post(
        client, "/export", [("format", "bundle"), ("member", hoa), ("passphrase", SHARE), ("again", SHARE)]
    )
    assert status == 200 and sealed.startswith(share_format.MAGIC)
    assert headers["Content-Type"] == "application/octet-stream"
    manifest, _ = share_format.read_payload(sealed, SHARE)
    assert [m["name"] for m in manifest["members"]] == [HOA]
    form = aiohttp.FormData()
    form.add_field("csrf", client.csrf)
    form.add_field("passphrase", SHARE)
    form.add_field("bundle", sealed, filename="share.kinchart-share", content_type="application/octet-stream")
    async with client.session.post(
        client.url("/export/import-bundle"),
        data=form,
        headers=client._headers(True),
        allow_redirects=False,
    ) as r:
        page = await r.text()
        assert r.status == 200, page
    assert "0 new capture(s)" in page and f"{len(manifest['captures'])} already in this vault" in page
    assert json.dumps(manifest)  # the manifest is plain JSON once opened


@pytest.mark.browser
async def test_pdf_download_prints_in_a_worker_thread(
    dash: tuple[DashboardClient, TestServer, tuple[str, str]],
) -> None:
    from pypdf import PdfReader

    from bridge.exports import pdf

    if not pdf.chromium_executable():
        pytest.skip("no system Chromium")
    client, _, (hoa, _lan) = dash
    await client.get("/export")
    status, headers, body = await _post(
        client, "/export", [("format", "pdf"), ("member", hoa), ("understood", "yes")]
    )
    assert status == 200, body[:500]
    assert headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF-")
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(body)).pages)
    assert HOA in text and LAN not in text
