"""Issue 13, item 6: one damaged byte must not take the dashboard down. A real vault file gets one
flipped byte in a member document, the settings document, a record set, a capture's page and a
capture's metadata; then the family model, `kinchart check`, `kinchart export` and a real `kinchart
serve` (dashboard over loopback HTTP) are used on it. Each damaged item is named (table, collection,
opaque id, never content); everything else reads and exports."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from conftest import REPO
from dashboard_client import DashboardClient
from live_bridge import PASSPHRASE, LiveBridge

from bridge.family import Family
from bridge.ingest import ingest
from bridge.vault import KdfParams, Vault

WORDS = ["Quillonberry", "Marrowpike", "Thistlegrove", "Brackenmoor", "Wyndhollow"]


def letter(n: int) -> dict[str, Any]:
    url = f"https://portal.damage-test.example/letters/{n}"
    html = f"<main><h1>Letter {n}</h1><p>Synthetic letter about {WORDS[n]} for the damage test.</p></main>"
    return {
        "url": url,
        "title": f"Letter {n}",
        "captured_at": f"2026-02-0{n + 1}T10:00:00Z",
        "frames": [{"url": url, "html": html}],
        "extension_version": "test",
    }


def flip(db: sqlite3.Connection, table: str, column: str, where: str, arg: Any) -> None:
    (blob,) = db.execute(f"SELECT {column} FROM {table} WHERE {where}", (arg,)).fetchone()
    i = len(blob) // 2
    db.execute(
        f"UPDATE {table} SET {column} = ? WHERE {where}",
        (blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1 :], arg),
    )


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The damaged vault, and what was damaged."""
    tmp = tmp_path_factory.mktemp("damage")
    folder = tmp / "vault"
    with Vault.create(folder, PASSPHRASE, KdfParams.fast()) as v:
        family = Family(v)
        ada = family.create_member("Synthetic Ada Damage", "1941-01-01")
        ben = family.create_member("Synthetic Ben Damage", "1950-05-05")
        ids = [ingest(v, letter(n), family).capture_id for n in range(5)]
        for n, cid in enumerate(ids):
            family.assign(cid, (ada if n < 1 else ben).id, only_this=True)
        v.put_doc("settings", "dashboard", {"idle_lock_minutes": 12})
        macs = {"ada": v._doc_row("members", ada.id)[1], "settings": v._doc_row("settings", "dashboard")[1]}
    db = sqlite3.connect(folder / "kinchart.db", isolation_level=None)
    flip(db, "docs", "value", "collection = 'members' AND key_mac = ?", macs["ada"])
    flip(db, "docs", "value", "collection = 'settings' AND key_mac = ?", macs["settings"])
    (seq2,) = db.execute("SELECT seq FROM captures WHERE id = ?", (ids[2],)).fetchone()
    flip(db, "record_sets", "data", "capture_seq = ?", seq2)
    flip(db, "captures", "body", "id = ?", ids[3])
    flip(db, "captures", "info", "id = ?", ids[4])
    db.close()
    return {"tmp": tmp, "folder": folder, "ids": ids, "macs": macs, "ada": ada, "ben": ben}


def expected_report(d: dict[str, Any]) -> set[tuple[str, str, str]]:
    ids, macs = d["ids"], d["macs"]
    return {
        ("damaged", "docs", f"members document {macs['ada'][:12]}"),
        ("damaged", "docs", f"settings document {macs['settings'][:12]}"),
        ("damaged", "record_sets", f"record set of capture {ids[2][:12]}"),
        ("damaged", "captures", f"capture {ids[3][:12]}"),
        ("damaged", "captures", f"capture {ids[4][:12]}"),
    }


def test_the_family_model_reads_everything_undamaged_and_the_vault_names_each_damaged_item(
    damaged: dict[str, Any],
) -> None:
    with Vault.open(damaged["folder"]) as v:
        v.unlock(PASSPHRASE)
        family = Family(v)
        assert [m.name for m in family.list_members()] == ["Synthetic Ben Damage"]
        assert family.get_member(damaged["ada"].id) is None  # damaged: looked up as unknown, no crash
        page = family.timeline(member_ids=[damaged["ben"].id], limit=None)
        text = json.dumps([e.record for e in page.entries], ensure_ascii=False)
        assert "Thistlegrove" not in text  # its record set is damaged
        assert "Brackenmoor" in text  # its page is damaged, its records are not
        assert "Marrowpike" in text
        report = v.inspect()
        assert {(p.kind, p.table, p.what) for p in report.problems} == expected_report(damaged)
        assert not any(w in " ".join(report.lines()) for w in [*WORDS, "Ada", "Ben"])


def test_kinchart_check_names_the_damage_and_export_writes_the_rest(damaged: dict[str, Any]) -> None:
    pw = damaged["tmp"] / "pass.txt"
    pw.write_text(PASSPHRASE)
    env = {
        **os.environ,
        "KINCHART_VAULT": str(damaged["folder"]),
        "KINCHART_PASSPHRASE_FILE": str(pw),
        "KINCHART_KDF": "fast",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    check = run("check")
    assert check.returncode == 1
    for _, table, what in expected_report(damaged):
        assert f"{what} ({table}) is damaged" in check.stdout, check.stdout
    out = damaged["tmp"] / "export.json"
    export = run("export", "--format", "json", "-o", str(out), "--force")
    assert export.returncode == 0, export.stdout + export.stderr
    written = out.read_text(encoding="utf-8")
    assert "Brackenmoor" in written and "Marrowpike" in written and "Thistlegrove" not in written


def test_serve_starts_and_every_dashboard_page_opens(damaged: dict[str, Any]) -> None:
    bridge = LiveBridge(damaged["tmp"]).start()  # the settings document is damaged: serve still starts
    try:

        async def pages() -> dict[str, int]:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                client = DashboardClient(session, bridge.port)
                await client.login(PASSPHRASE)
                seen = {}
                for path in ("/", "/members", "/captures", f"/members/{damaged['ben'].id}", "/settings"):
                    status, text = await client.get(path)
                    seen[path] = status
                    if path == "/":
                        overview.append(text)
                return seen

        overview: list[str] = []
        seen = asyncio.run(pages())
        assert all(status == 200 for status in seen.values()), seen
        # the overview says that part of the vault is damaged, naming items by opaque id only
        assert 'id="vault-damage"' in overview[0]
        assert f"members document {damaged['macs']['ada'][:12]}" in overview[0]
        assert "Synthetic Ada Damage" not in overview[0].split('id="vault-damage"')[1].split("</section>")[0]
    finally:
        bridge.stop()


def test_reparse_goes_on_past_a_damaged_page_and_counts_it(tmp_path: Any) -> None:
    """A reparse used to stop at the first capture whose page no longer authenticates."""
    from bridge.ingest import reparse_all

    folder = tmp_path / "vault"
    with Vault.create(folder, PASSPHRASE, KdfParams.fast()) as v:
        ids = [ingest(v, letter(n), None).capture_id for n in range(3)]
    db = sqlite3.connect(folder / "kinchart.db", isolation_level=None)
    flip(db, "captures", "body", "id = ?", ids[1])
    db.close()
    with Vault.open(folder) as v:
        v.unlock(PASSPHRASE)
        counts = reparse_all(v)
        assert counts["damaged"] == 1
        assert counts["unchanged"] == 2 and counts["captures"] == 3
        assert v.records_for(ids[0]) and v.records_for(ids[2])
