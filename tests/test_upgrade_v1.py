"""Issue 8, upgrades: a vault written by the FIRST schema version (fixtures/vaults/v1/, built by
fixtures/vaults/build_v1.py with the vault's own migrations stopped at m001) opens, migrates and reads
back exactly what it stored; the family model works on it afterwards; and `kinchart backup` then
`kinchart restore` of the upgraded vault gives an identical record set."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from bridge.vault import KdfParams, Vault, WrongPassphrase
from bridge.vault.capture import CanonicalCapture, capture_hash
from bridge.vault.migrations import known_names

V1 = REPO / "fixtures" / "vaults" / "v1"


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((V1 / "expected.json").read_text(encoding="utf-8"))
    return data


def passphrase() -> str:
    return (V1 / "passphrase.txt").read_text(encoding="utf-8").rstrip("\r\n")


def applied(db: Path) -> list[str]:
    # immutable for the committed fixture: reading it must not even create -wal/-shm beside it
    # (a live copy is read normally: its latest pages may still be in its WAL)
    uri = f"file:{db}?mode=ro&immutable=1" if db.parent == V1 else f"file:{db}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    finally:
        conn.close()


@pytest.fixture
def old_vault(tmp_path: Path) -> Path:
    """A private copy of the v1 vault (the fixture in the repo is never opened for writing)."""
    dest = tmp_path / "vault"
    dest.mkdir(mode=0o700)
    shutil.copy2(V1 / "kinchart.db", dest / "kinchart.db")
    return dest


def everything(vault: Vault) -> dict[str, Any]:
    """The whole record set, decrypted: captures, their meta, their records (with ids), documents."""
    return {
        "captures": {
            row.id: {
                "capture": vault.get_capture(row.id),
                "meta": row.meta,
                "records": [(r.id, r.kind, r.data) for r in vault.records_for(row.id)],
            }
            for row in vault.list_captures()
        },
        "docs": {c: vault.list_docs(c) for c in ("members", "accounts", "settings", "assignments")},
    }


def test_the_fixture_really_is_a_first_version_vault() -> None:
    assert applied(V1 / "kinchart.db") == [known_names()[0]] == manifest()["schema"]
    assert len(known_names()) > 1, "with a single schema version there is nothing to upgrade"
    assert not list(V1.glob("kinchart.db-*")), "commit the vault checkpointed (no -wal/-shm/-journal)"
    data = (V1 / "kinchart.db").read_bytes()
    for sentinel in manifest()["sentinels"]:
        assert sentinel.encode() not in data  # and it is encrypted, like any vault


def test_a_v1_vault_opens_migrates_and_reads_back_exactly(old_vault: Path) -> None:
    expected = manifest()
    fixture_bytes = (V1 / "kinchart.db").read_bytes()
    with Vault.open(old_vault) as vault:
        assert applied(old_vault / "kinchart.db") == known_names()
        with pytest.raises(WrongPassphrase):
            vault.unlock("not the passphrase")
        vault.unlock(passphrase())
        rows = vault.list_captures()
        # Capture ids were plain SHA-256 of the page: the first unlock made them keyed (issue 13).
        old_ids = {capture_hash(vault.get_capture(r.id)): r.id for r in rows}
        assert set(old_ids) == set(expected["captures"])
        for old, new in old_ids.items():
            assert new == vault.capture_hash(vault.get_capture(new)) != old
        for row in rows:
            want = expected["captures"][capture_hash(vault.get_capture(row.id))]
            assert digest(row.meta) == want["meta_sha256"], row.id
            assert digest(vault.get_capture(row.id)) == want["capture_sha256"], row.id
            records = vault.records_for(row.id)
            assert digest([r.data for r in records]) == want["records_sha256"], row.id
            assert [r.id for r in records] == want["record_ids"]
        assert vault.count_records() == expected["record_count"]
        vault.check()
        assert vault.integrity().ok
    assert (V1 / "kinchart.db").read_bytes() == fixture_bytes  # the committed fixture is untouched
    data = b"".join(p.read_bytes() for p in old_vault.iterdir() if p.is_file())
    assert not [old for old in expected["captures"] if old.encode() in data]  # no page can be confirmed
    # Opening an upgraded vault again is a no-op migration.
    with Vault.open(old_vault) as vault:
        assert applied(old_vault / "kinchart.db") == known_names()


def test_the_family_model_and_new_captures_work_on_an_upgraded_vault(old_vault: Path) -> None:
    from bridge.family import Family
    from bridge.ingest import ingest

    with Vault.open(old_vault) as vault:
        vault.unlock(passphrase())
        family = Family(vault)
        before = len(family.unassigned())
        assert before >= 1  # v1 had no members: its captures wait for "who is this?"
        member = family.create_member(name="Synthetic Upgraded Person", dob="1940-02-03")
        family.assign(family.unassigned()[0].capture_id, member.id)
        receipt = ingest(
            vault,
            {
                "url": "https://portal.v1fixture.example/letters/3",
                "title": "After upgrade",
                "captured_at": "2026-01-01T00:00:00Z",
                "frames": [
                    {
                        "url": "https://portal.v1fixture.example/letters/3",
                        "html": "<main><p>A letter stored after the upgrade.</p></main>",
                    }
                ],
                "extension_version": "test",
            },
            family,
        )
        assert not receipt.duplicate
        assert vault.capture_count() == len(manifest()["captures"]) + 1
    with Vault.open(old_vault) as vault:
        vault.unlock(passphrase())
        assert [m.name for m in Family(vault).list_members()] == ["Synthetic Upgraded Person"]


def _cli(args: list[str], vault_dir: Path, passfile: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KINCHART_VAULT": str(vault_dir),
        "KINCHART_PASSPHRASE_FILE": str(passfile),
        "KINCHART_KDF": "fast",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_cli_upgrades_then_backup_and_restore_give_an_identical_record_set(
    old_vault: Path, tmp_path: Path
) -> None:
    passfile = V1 / "passphrase.txt"
    page = tmp_path / "page.html"
    page.write_text("<main><p>Imported by the CLI into an upgraded vault.</p></main>", encoding="utf-8")
    # The CLI opens the v1 vault, migrates it and stores through it.
    out = _cli(["import", str(page), "--url", "https://portal.v1fixture.example/cli"], old_vault, passfile)
    assert "Imported 1 new capture(s)" in out.stdout
    assert applied(old_vault / "kinchart.db") == known_names()
    _cli(["backup", str(tmp_path / "backup")], old_vault, passfile)
    restored_dir = tmp_path / "restored"
    _cli(["restore", str(tmp_path / "backup")], restored_dir, passfile)
    with Vault.open(old_vault) as a, Vault.open(restored_dir) as b:
        a.unlock(passphrase())
        b.unlock(passphrase())
        original, restored = everything(a), everything(b)
    assert len(original["captures"]) == len(manifest()["captures"]) + 1
    assert sum(len(c["records"]) for c in original["captures"].values()) >= manifest()["record_count"]
    assert restored == original


def test_every_reference_to_an_old_capture_id_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assignments (keyed by capture id), capture metadata and the family's filing all move to the keyed
    ids with the captures, in the one transaction of the first unlock."""
    from bridge.family import Family
    from bridge.ingest import ingest

    keyed = CanonicalCapture.capture_id
    monkeypatch.setattr(CanonicalCapture, "capture_id", lambda self, key: keyed(self, None))  # as before m004
    folder = tmp_path / "old"
    page = {
        "url": "https://portal.v1fixture.example/letters/9",
        "frames": [{"url": "", "html": "<main><p>A synthetic letter.</p></main>"}],
    }
    with Vault.create(folder, passphrase(), KdfParams.fast(), _stop_before="m004_manifest") as v:
        family = Family(v)
        member = family.create_member("Synthetic Referenced Person", "1939-03-04")
        old = ingest(v, page, family).capture_id
        family.assign(old, member.id, only_this=True)
        assert old == capture_hash(page) and v.get_doc("assignments", old)
    monkeypatch.setattr(CanonicalCapture, "capture_id", keyed)
    with Vault.open(folder) as v:
        v.unlock(passphrase())
        new = v.capture_hash(page)
        assert new != old and [r.id for r in v.list_captures()] == [new]
        assert v.get_doc("assignments", old) is None
        assert (v.get_doc("assignments", new) or {})["member_id"] == member.id
        family = Family(v)
        assert not family.unassigned()
        assert family.timeline(member_ids=[member.id], limit=None).total >= 1
        assert ingest(v, page, family).duplicate  # dedupe works on the new id
        assert v.inspect().ok
