"""Nothing readable about a person touches the disk: every file under the vault directory (db, -wal,
-shm, any journal) and every backup is scanned for distinctive strings after storing them."""

from __future__ import annotations

import zlib
from pathlib import Path

from reference_pages import REFERENCE_PAGES

from bridge.vault import DB_NAME, KdfParams, Vault

PASS = "correct horse battery staple"
NAME = "Zyxwandria Quillfeather"
LAB = "HEMOGLOBIN-SENTINEL 13.7"
BIRTH = "1941-02-03"
MRN = "MRN-SENTINEL-88231"
SENTINELS = [NAME, LAB, BIRTH, MRN, "Quillfeather", "HEMOGLOBIN-SENTINEL"]


def _page(extra: str = "") -> str:
    rows = "".join(f"<tr><td>{LAB}</td><td>g/dL</td><td>12.0-16.0</td></tr>" for _ in range(50))
    return (
        f"<html><head><title>{NAME}</title></head><body><h1>{NAME}</h1><p>Born {BIRTH}</p>"
        f"<table>{rows}</table>{extra}</body></html>"
    )


def _scan(files: list[Path]) -> list[str]:
    """Sentinels found in raw bytes (UTF-8 and UTF-16), or inside any zlib stream in the files."""
    found = []
    for path in files:
        data = path.read_bytes()
        for s in SENTINELS:
            for enc in ("utf-8", "utf-16-le", "utf-16-be"):
                if s.encode(enc) in data:
                    found.append(f"{path.name}: {s!r} ({enc})")
        # compressed-but-unencrypted would hide from the raw scan: inflate every zlib header found
        start = 0
        while (i := data.find(b"\x78", start)) != -1:
            start = i + 1
            if i + 1 < len(data) and data[i + 1] in (0x01, 0x5E, 0x9C, 0xDA):
                try:
                    out = zlib.decompressobj().decompress(data[i:], 1 << 22)
                except zlib.error:
                    continue
                found += [f"{path.name}: {s!r} (zlib at {i})" for s in SENTINELS if s.encode() in out]
    return found


def _fill(v: Vault) -> str:
    cid, _ = v.put_capture(
        {
            "url": f"https://mychart.example.org/MyChart/app/test-results?mrn={MRN}",
            "title": f"Results for {NAME}",
            "captured_at": "2026-11-25T09:00:00Z",
            "frames": [{"url": f"https://mychart.example.org/frame?mrn={MRN}", "html": _page()}],
            "extension_version": "0.1.0",
        }
    )
    small, _ = v.put_capture(
        {
            "url": "https://x.example/a",
            "title": NAME,
            "captured_at": BIRTH,
            "frames": [{"url": "https://x.example/a", "html": f"<b>{NAME}</b> {LAB}"}],
        }
    )
    v.set_capture_meta(cid, {"patient": NAME, "dob": BIRTH, "status": "parsed"})
    v.set_capture_meta(small, {"patient": NAME})
    v.replace_records(cid, [{"kind": "lab_result", "name": LAB, "patient": NAME, "date": BIRTH}] * 20)
    v.replace_records(small, [{"kind": "note", "text": f"{NAME} {LAB} {MRN}"}])
    v.put_doc("members", "0b7c2c1e", {"name": NAME, "birth_date": BIRTH, "mrn": MRN})
    v.put_doc("patient_keys", f"{NAME}|{BIRTH}", {"member_id": "0b7c2c1e"})  # a careless key
    v.put_doc("portal_accounts", "acct-1", {"username": NAME.replace(" ", ".").lower(), "note": LAB})
    with v.transaction():
        for n in range(20):
            v.put_doc("settings", f"s{n}", {"who": NAME, "n": n})
    v.delete_doc("settings", "s0")  # deleted pages linger in the file: must be ciphertext too
    return cid


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def test_no_plaintext_on_disk_while_open_and_after_close(tmp_path: Path) -> None:
    vault_dir = tmp_path / "vault"
    v = Vault.create(vault_dir, PASS, KdfParams.fast())
    cid = _fill(v)
    assert v.get_capture(cid)["title"] == f"Results for {NAME}"  # really stored
    open_files = _files(vault_dir)
    assert {p.name for p in open_files} <= {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"}
    assert f"{DB_NAME}-wal" in {p.name for p in open_files}  # the WAL is scanned too
    assert _scan(open_files) == []
    v.change_passphrase(PASS, "another passphrase", KdfParams.fast())
    backup = v.backup(tmp_path / "backup.db")
    v.close()
    closed_files = _files(vault_dir)
    # the vault file and the sealed high-water mark of its manifest (issue 13), both scanned below
    assert {p.name for p in closed_files} == {DB_NAME, "manifest.seen"}
    assert _scan([*closed_files, backup]) == []
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["backup.db"]


def test_the_scan_would_find_plaintext(tmp_path: Path) -> None:
    """The detector itself works: plain and zlib-compressed sentinels are both found."""
    (tmp_path / "plain").write_bytes(b"xx" + NAME.encode() + b"yy")
    (tmp_path / "packed").write_bytes(b"xx" + zlib.compress(_page().encode()) + b"yy")
    found = _scan([tmp_path / "plain", tmp_path / "packed"])
    assert any("plain" in f for f in found) and any("zlib" in f for f in found)


def test_plaintext_columns_hold_no_free_text(tmp_path: Path) -> None:
    """Every TEXT value in the file is an id, a category, a key, or the KDF parameters."""
    import re
    import sqlite3

    v = Vault.create(tmp_path / "v", PASS, KdfParams.fast())
    _fill(v)
    v.close()
    db = sqlite3.connect(tmp_path / "v" / DB_NAME)
    allowed = re.compile(
        r"[0-9a-f]{32}|[0-9a-f]{64}|[a-z][a-z0-9_]*|[A-Za-z0-9][A-Za-z0-9._:-]*|\{\"algorithm\".*"
        r"|kinchart\.vault|m\d{3}_[a-z_]+|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00"
    )
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in db.execute(f"SELECT * FROM {table}"):
            for value in row:
                if isinstance(value, str):
                    assert allowed.fullmatch(value), (table, value)
                    assert not any(s in value for s in SENTINELS)
    db.close()


def test_stored_captures_are_at_most_a_quarter_of_the_html(tmp_path: Path) -> None:
    pages = [p.with_name(p.name + ".html") for p in REFERENCE_PAGES]
    assert pages
    v = Vault.create(tmp_path / "v", PASS, KdfParams.fast())
    html_bytes = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        html_bytes += len(html.encode("utf-8"))
        v.put_capture(
            {
                "url": f"https://portal.example.org/{page.parent.name}/{page.stem}",
                "title": page.stem,
                "captured_at": "2026-11-25T09:00:00Z",
                "frames": [{"url": "", "html": html}],
                "extension_version": "0.1.0",
            }
        )
    stored = sum(c.stored_size for c in v.list_captures())
    v.close()
    assert stored / html_bytes <= 0.25, f"stored {stored} of {html_bytes} bytes of HTML"
