"""Vault tests: real SQLite files in tmp_path, real AES-GCM and Argon2id (fast parameters), no mocks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from bridge.vault import (
    DB_NAME,
    CaptureRow,
    InvalidInput,
    KdfParams,
    TamperedData,
    UnknownCapture,
    Vault,
    VaultError,
    VaultExists,
    VaultLocked,
    VaultNotFound,
    WrongPassphrase,
    default_vault_dir,
)
from bridge.vault.kdf import dump_stored, load_stored
from bridge.vault.migrations import known_names

PASS = "correct horse battery staple"
FAST = KdfParams.fast()


def make_capture(n: int = 0, html: str | None = None, **extra: Any) -> dict[str, Any]:
    body = html if html is not None else f"<html><body><h1>Result {n}</h1><td>value {n}</td></body></html>"
    capture = {
        "url": f"https://mychart.example.org/MyChart/app/test-results/{n}",
        "title": f"Test result {n}",
        "captured_at": "2026-11-25T09:00:00Z",
        "frames": [{"url": f"https://mychart.example.org/MyChart/app/test-results/{n}", "html": body}],
        "extension_version": "0.1.0",
    }
    capture.update(extra)
    return capture


def raw(vault_dir: Path) -> sqlite3.Connection:
    """A plain SQLite connection to the vault file, to play the attacker."""
    return sqlite3.connect(vault_dir / DB_NAME, isolation_level=None)


def dir_digest(vault_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(vault_dir.iterdir())}


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault(vault_dir: Path) -> Any:
    v = Vault.create(vault_dir, PASS, FAST)
    yield v
    v.close()


# ---------------------------------------------------------------- basics


def test_round_trip(vault_dir: Path) -> None:
    v = Vault.create(vault_dir, PASS, FAST)
    assert v.unlocked and v.path == vault_dir and Vault.exists(vault_dir)
    c1, c2 = make_capture(1), make_capture(2, title="Ünïcødé ✓ 日本")
    id1, dup1 = v.put_capture(c1)
    id2, dup2 = v.put_capture(c2)
    assert (dup1, dup2) == (False, False)
    assert id1 == v.capture_hash(c1) and len(id1) == 64
    v.set_capture_meta(id1, {"vendor": "epic_mychart", "page_kind": "test_result", "warnings": ["x"]})
    recs: list[dict[str, Any]] = [
        {"kind": "lab_result", "name": "Hemoglobin", "value": 13.7},
        {"kind": "medication", "name": "X"},
    ]
    ids = v.replace_records(id1, recs)
    v.put_doc("members", "3f1c0e9a-member", {"name": "Grandma", "born": "1941-02-03"})
    v.put_doc("settings", "ui", {"theme": "dark"})
    v.close()

    v = Vault.open(vault_dir)
    assert not v.unlocked
    v.unlock(PASS)
    assert v.get_capture(id1) == c1 and v.get_capture(id2) == c2
    assert v.has_capture(id1) and not v.has_capture("0" * 64)
    rows = v.list_captures()
    assert [r.id for r in rows] == [id1, id2] and [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert isinstance(rows[0], CaptureRow) and rows[0].meta["vendor"] == "epic_mychart"
    assert rows[1].meta == {} and rows[0].stored_at.endswith("Z") and rows[0].size > 0
    assert v.get_capture_meta(id1)["warnings"] == ["x"]
    assert [(r.id, r.capture_id, r.kind, r.data) for r in v.iter_records()] == [
        (ids[0], id1, "lab_result", recs[0]),
        (ids[1], id1, "medication", recs[1]),
    ]
    assert [r.data for r in v.records_for(id1)] == recs and v.records_for(id2) == []
    assert v.get_doc("members", "3f1c0e9a-member") == {"name": "Grandma", "born": "1941-02-03"}
    assert v.get_doc("members", "nobody") is None
    assert v.list_docs("settings") == {"ui": {"theme": "dark"}}
    v.delete_doc("settings", "ui")
    assert v.list_docs("settings") == {}
    v.close()


def test_create_refuses_existing_vault(vault: Vault, vault_dir: Path) -> None:
    before = dir_digest(vault_dir)
    with pytest.raises(VaultExists):
        Vault.create(vault_dir, "another", FAST)
    assert dir_digest(vault_dir) == before


def test_open_missing_vault(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFound):
        Vault.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
    assert not Vault.exists(tmp_path / "nowhere")


def test_locked_vault_refuses_encrypted_operations(vault: Vault) -> None:
    cid, _ = vault.put_capture(make_capture())
    vault.lock()
    assert not vault.unlocked
    for call in (
        lambda: vault.get_capture(cid),
        lambda: vault.put_capture(make_capture(9)),
        vault.list_captures,
        vault.iter_records,
        lambda: vault.records_for(cid),
        lambda: vault.get_doc("members", "a"),
        lambda: vault.put_doc("members", "a", {}),
        lambda: vault.get_capture_meta(cid),
        lambda: vault.replace_records(cid, []),
    ):
        with pytest.raises(VaultLocked):
            call()
    assert vault.has_capture(cid)  # the id is not secret
    vault.unlock(PASS)
    assert vault.get_capture(cid)["url"].startswith("https://")


def test_closed_vault_is_an_error(vault: Vault) -> None:
    vault.close()
    vault.close()
    with pytest.raises(VaultError):
        vault.has_capture("0" * 64)


def test_empty_passphrase_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Vault.create(tmp_path / "v", "", FAST)
    assert not Vault.exists(tmp_path / "v")


# ---------------------------------------------------------------- passphrases and keys


def test_wrong_passphrase_is_clear_and_changes_nothing(vault: Vault, vault_dir: Path) -> None:
    cid, _ = vault.put_capture(make_capture())
    vault.close()
    before = dir_digest(vault_dir)
    v = Vault.open(vault_dir)
    with pytest.raises(WrongPassphrase) as err:
        v.unlock("Correct horse battery staple")
    assert "passphrase" in str(err.value).lower() and "nothing was changed" in str(err.value).lower()
    assert not v.unlocked
    with pytest.raises(WrongPassphrase):
        v.change_passphrase("wrong", "new one")
    assert not v.unlocked
    v.close()
    assert dir_digest(vault_dir) == before
    v = Vault.open(vault_dir)
    v.unlock(PASS)
    assert v.has_capture(cid) and v.get_capture(cid) == make_capture()
    v.close()


def test_change_passphrase_keeps_everything(vault: Vault, vault_dir: Path) -> None:
    cid, _ = vault.put_capture(make_capture())
    vault.replace_records(cid, [{"kind": "lab_result", "v": 1}])
    vault.put_doc("members", "m1", {"name": "A"})
    blobs_before = raw(vault_dir).execute("SELECT body FROM captures").fetchall()
    vault.change_passphrase(PASS, "a new passphrase", FAST)
    assert vault.unlocked
    # only the data key was rewrapped: blobs are byte-identical
    assert raw(vault_dir).execute("SELECT body FROM captures").fetchall() == blobs_before
    vault.close()

    v = Vault.open(vault_dir)
    with pytest.raises(WrongPassphrase):
        v.unlock(PASS)
    v.unlock("a new passphrase")
    assert v.get_capture(cid) == make_capture()
    assert [r.data for r in v.iter_records()] == [{"kind": "lab_result", "v": 1}]
    assert v.get_doc("members", "m1") == {"name": "A"}
    v.close()


def test_passphrase_is_unicode_normalised(tmp_path: Path) -> None:
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    v = Vault.create(tmp_path / "v", composed, FAST)
    v.close()
    v = Vault.open(tmp_path / "v")
    v.unlock(decomposed)
    assert v.unlocked
    v.close()


def test_fast_vault_opens_without_fast_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINCHART_KDF", "fast")
    v = Vault.create(tmp_path / "v", PASS)
    assert v.kdf_params == KdfParams.fast()
    v.close()
    monkeypatch.delenv("KINCHART_KDF")
    v = Vault.open(tmp_path / "v")
    v.unlock(PASS)  # parameters come from the file, not from the environment
    assert v.kdf_params == KdfParams.fast()
    v.close()


def _edit_kdf(vault_dir: Path, **changes: Any) -> None:
    db = raw(vault_dir)
    (stored,) = db.execute("SELECT kdf FROM vault").fetchone()
    params, salt = load_stored(stored)
    fields: dict[str, Any] = {
        "algorithm": params.algorithm,
        "memory_cost": params.memory_cost,
        "iterations": params.iterations,
        "lanes": params.lanes,
    }
    new_salt = changes.pop("salt", salt)
    fields.update(changes)
    db.execute("UPDATE vault SET kdf = ?", (dump_stored(KdfParams(**fields), new_salt),))
    db.close()


@pytest.mark.parametrize(
    "edit",
    [
        {"iterations": 2},
        {"memory_cost": 16 * 1024},
        {"lanes": 2},
        {"salt": b"\x00" * 16},
    ],
)
def test_edited_kdf_parameters_are_detected(vault: Vault, vault_dir: Path, edit: dict[str, Any]) -> None:
    vault.close()
    _edit_kdf(vault_dir, **edit)
    v = Vault.open(vault_dir)
    with pytest.raises(WrongPassphrase):
        v.unlock(PASS)
    assert not v.unlocked
    v.close()


def test_kdf_json_edit_without_changing_the_key_is_detected(vault: Vault, vault_dir: Path) -> None:
    """The stored string itself is authenticated, not just the values the KDF uses."""
    vault.close()
    db = raw(vault_dir)
    (stored,) = db.execute("SELECT kdf FROM vault").fetchone()
    db.execute("UPDATE vault SET kdf = ?", (stored.replace(",", ", ", 1),))
    db.close()
    v = Vault.open(vault_dir)
    with pytest.raises(WrongPassphrase):
        v.unlock(PASS)
    v.close()


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        '{"v":1,"algorithm":"argon2id","memory_cost":999999999,"iterations":1,"lanes":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="}',
        '{"v":1,"algorithm":"argon2id","memory_cost":8192,"iterations":100000,"lanes":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="}',
        '{"v":1,"algorithm":"md5","memory_cost":8192,"iterations":1,"lanes":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="}',
        '{"v":1,"algorithm":"argon2id","memory_cost":8192,"iterations":1,"lanes":1,"salt":""}',
    ],
)
def test_absurd_kdf_parameters_are_tampering(vault: Vault, vault_dir: Path, stored: str) -> None:
    vault.close()
    db = raw(vault_dir)
    db.execute("UPDATE vault SET kdf = ?", (stored,))
    db.close()
    with pytest.raises(TamperedData):
        Vault.open(vault_dir)


def test_wrapped_key_edit_is_detected(vault: Vault, vault_dir: Path) -> None:
    vault.close()
    db = raw(vault_dir)
    (wrapped,) = db.execute("SELECT wrapped_key FROM vault").fetchone()
    db.execute("UPDATE vault SET wrapped_key = ?", (wrapped[:-1] + bytes([wrapped[-1] ^ 1]),))
    db.close()
    v = Vault.open(vault_dir)
    with pytest.raises(WrongPassphrase):
        v.unlock(PASS)
    v.close()


# ---------------------------------------------------------------- tampering


def test_record_set_swapped_to_another_capture_fails(vault: Vault, vault_dir: Path) -> None:
    c1, _ = vault.put_capture(make_capture(1))
    c2, _ = vault.put_capture(make_capture(2))
    vault.replace_records(c1, [{"kind": "lab_result", "v": "a"}])
    vault.replace_records(c2, [{"kind": "lab_result", "v": "b"}])
    db = raw(vault_dir)
    rows = db.execute("SELECT capture_seq, data FROM record_sets ORDER BY capture_seq").fetchall()
    db.execute("UPDATE record_sets SET data = ? WHERE capture_seq = ?", (rows[1][1], rows[0][0]))
    db.execute("UPDATE record_sets SET data = ? WHERE capture_seq = ?", (rows[0][1], rows[1][0]))
    db.close()
    assert list(vault.iter_records()) == []  # both skipped, and reported
    assert damaged(vault) == {("record_sets", f"record set of capture {c[:12]}") for c in (c1, c2)}
    with pytest.raises(TamperedData):
        vault.records_for(c1)


def test_record_set_moved_to_another_capture_or_id_fails(vault: Vault, vault_dir: Path) -> None:
    c1, _ = vault.put_capture(make_capture(1))
    c2, _ = vault.put_capture(make_capture(2))
    vault.replace_records(c1, [{"kind": "lab_result", "v": 1}])
    db = raw(vault_dir)
    seq2 = db.execute("SELECT seq FROM captures WHERE id = ?", (c2,)).fetchone()[0]
    db.execute("UPDATE record_sets SET capture_seq = ?", (seq2,))
    with pytest.raises(TamperedData):
        vault.records_for(c2)
    seq1 = db.execute("SELECT seq FROM captures WHERE id = ?", (c1,)).fetchone()[0]
    db.execute("UPDATE record_sets SET capture_seq = ?, first_id = first_id + 7", (seq1,))
    assert list(vault.iter_records()) == []
    assert ("record_sets", f"record set of capture {c1[:12]}") in damaged(vault)
    db.close()


def test_plaintext_record_index_cannot_change_what_is_read(vault: Vault, vault_dir: Path) -> None:
    cid, _ = vault.put_capture(make_capture(1))
    (rid,) = vault.replace_records(cid, [{"kind": "lab_result", "v": 1}])
    assert vault.count_records() == 1 and vault.count_records("lab_result") == 1
    db = raw(vault_dir)
    assert [r[1] for r in db.execute("PRAGMA table_info(records)")] == ["id", "capture_seq"]  # no kind
    db.execute("UPDATE records SET id = id + 5")
    db.close()
    assert [(r.id, r.kind, r.data) for r in vault.iter_records()] == [
        (rid, "lab_result", {"kind": "lab_result", "v": 1})
    ]


def test_capture_blobs_swapped_between_rows_fail(vault: Vault, vault_dir: Path) -> None:
    c1, _ = vault.put_capture(make_capture(1))
    c2, _ = vault.put_capture(make_capture(2))
    db = raw(vault_dir)
    (body2, info2) = db.execute("SELECT body, info FROM captures WHERE id = ?", (c2,)).fetchone()
    db.execute("UPDATE captures SET body = ?, info = ? WHERE id = ?", (body2, info2, c1))
    db.close()
    with pytest.raises(TamperedData):
        vault.get_capture(c1)
    with pytest.raises(TamperedData):
        vault.get_capture_meta(c1)
    assert [r.id for r in vault.list_captures()] == [c2]  # c1 is left out, and reported
    assert damaged(vault) == {("captures", f"capture {c1[:12]}")}
    assert vault.get_capture(c2) == make_capture(2)


def test_capture_body_moved_into_info_column_fails(vault: Vault, vault_dir: Path) -> None:
    c1, _ = vault.put_capture(make_capture(1))
    db = raw(vault_dir)
    db.execute("UPDATE captures SET info = body WHERE id = ?", (c1,))
    db.close()
    with pytest.raises(TamperedData):
        vault.get_capture_meta(c1)


def damaged(v: Vault) -> set[tuple[str, str]]:
    """What the vault reports damaged: (table, which item), never content."""
    return {(p.table, p.what) for p in v.integrity().problems if p.kind == "damaged"}


def _doc_mac(v: Vault, collection: str, key: str) -> str:
    return v._doc_row(collection, key)[1]


def test_doc_swapped_between_keys_fails(vault: Vault, vault_dir: Path) -> None:
    vault.put_doc("members", "m1", {"name": "A"})
    vault.put_doc("members", "m2", {"name": "B"})
    vault.put_doc("settings", "m1", {"x": 1})
    m1, m2 = _doc_mac(vault, "members", "m1"), _doc_mac(vault, "members", "m2")
    db = raw(vault_dir)
    (v2,) = db.execute("SELECT value FROM docs WHERE key_mac = ?", (m2,)).fetchone()
    (s1,) = db.execute("SELECT value FROM docs WHERE collection = 'settings'").fetchone()
    db.execute("UPDATE docs SET value = ? WHERE collection = 'members' AND key_mac = ?", (v2, m1))
    db.execute("UPDATE docs SET value = ? WHERE collection = 'members' AND key_mac = ?", (s1, m2))
    db.close()
    with pytest.raises(TamperedData):
        vault.get_doc("members", "m1")
    with pytest.raises(TamperedData):
        vault.get_doc("members", "m2")
    assert vault.list_docs("members") == {}
    assert damaged(vault) == {("docs", f"members document {m[:12]}") for m in (m1, m2)}
    assert vault.get_doc("settings", "m1") == {"x": 1}


def test_doc_keys_are_not_stored_in_plaintext(vault: Vault, vault_dir: Path) -> None:
    key = "patient:zyxwandria quillfeather|1941-02-03"
    vault.put_doc("patient_keys", key, {"member_id": "m1"})
    vault.put_doc("patient_keys", "other", {"member_id": "m2"})
    (stored,) = (
        raw(vault_dir)
        .execute("SELECT key_mac FROM docs WHERE collection = 'patient_keys' LIMIT 1")
        .fetchone()
    )
    assert len(stored) == 32 and "zyx" not in stored
    assert vault.list_docs("patient_keys") == {key: {"member_id": "m1"}, "other": {"member_id": "m2"}}
    assert vault.get_doc("patient_keys", key) == {"member_id": "m1"}
    vault.close()
    v = Vault.open(vault_dir)  # the keyed hash is stable across unlocks (and passphrase changes)
    v.change_passphrase(PASS, "new", FAST)
    assert v.get_doc("patient_keys", key) == {"member_id": "m1"}
    v.delete_doc("patient_keys", key)
    assert list(v.list_docs("patient_keys")) == ["other"]
    v.close()


@pytest.mark.parametrize("where", ["first", "nonce", "middle", "last", "truncate", "empty"])
def test_tampered_byte_fails(vault: Vault, vault_dir: Path, where: str) -> None:
    cid, _ = vault.put_capture(make_capture(html="<p>" + "lorem ipsum " * 200 + "</p>"))
    (rid,) = vault.replace_records(cid, [{"kind": "lab_result", "v": 1}])
    vault.put_doc("members", "m1", {"name": "A"})
    db = raw(vault_dir)

    def damage(blob: bytes) -> bytes:
        if where == "truncate":
            return blob[:-1]
        if where == "empty":
            return b""
        i = {"first": 0, "nonce": 5, "middle": len(blob) // 2, "last": len(blob) - 1}[where]
        return blob[:i] + bytes([blob[i] ^ 0x40]) + blob[i + 1 :]

    for table, column, key, value in (
        ("captures", "body", "id", cid),
        ("record_sets", "data", "first_id", rid),
        ("docs", "value", "key_mac", _doc_mac(vault, "members", "m1")),
    ):
        (blob,) = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (value,)).fetchone()
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (damage(blob), value))
    db.close()
    with pytest.raises(TamperedData):
        vault.get_capture(cid)
    assert list(vault.iter_records()) == []
    with pytest.raises(TamperedData):
        vault.records_for(cid)
    with pytest.raises(TamperedData):
        vault.get_doc("members", "m1")
    assert vault.list_docs("members") == {}
    assert damaged(vault) == {
        ("captures", f"capture {cid[:12]}"),
        ("record_sets", f"record set of capture {cid[:12]}"),
        ("docs", f"members document {_doc_mac(vault, 'members', 'm1')[:12]}"),
    }
    with pytest.raises(TamperedData, match="members document"):
        vault.check()


# ---------------------------------------------------------------- captures


def test_duplicate_capture_is_stored_once(vault: Vault, vault_dir: Path) -> None:
    first = make_capture(1)
    cid, dup = vault.put_capture(first)
    assert not dup
    again = make_capture(1, captured_at="2026-12-01T10:00:00Z", extension_version="0.2.0", title="Other")
    assert vault.put_capture(again) == (cid, True)
    assert vault.put_capture(first) == (cid, True)
    assert raw(vault_dir).execute("SELECT count(*) FROM captures").fetchone()[0] == 1
    assert vault.get_capture(cid) == first  # the first copy is kept
    changed = make_capture(1, html="<html><body><h1>Result 1</h1><td>value 2</td></body></html>")
    cid2, dup2 = vault.put_capture(changed)
    assert not dup2 and cid2 != cid
    other_url = make_capture(1)
    other_url["url"] += "?again"
    assert vault.put_capture(other_url)[1] is False


def test_capture_hash_is_canonical(vault: Vault) -> None:
    a = make_capture(1)
    b = {k: a[k] for k in reversed(list(a))}
    b["frames"] = [dict(reversed(list(f.items()))) for f in a["frames"]]
    assert vault.capture_hash(a) == vault.capture_hash(b)
    two_frames = make_capture(1)
    two_frames["frames"] = [*a["frames"], {"url": "https://x/frame", "html": "<p>f</p>"}]
    swapped = dict(two_frames, frames=list(reversed(two_frames["frames"])))
    assert vault.capture_hash(two_frames) != vault.capture_hash(swapped)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {},
        {"url": "u"},
        {"url": "u", "frames": []},
        {"url": 1, "frames": [{"html": ""}]},
        {"url": "u", "frames": [{"url": "u"}]},
        {"url": "u", "frames": ["<p>"]},
    ],
)
def test_malformed_capture_refused(vault: Vault, bad: Any) -> None:
    with pytest.raises(InvalidInput):
        vault.put_capture(bad)
    assert vault.list_captures() == []


def test_unknown_capture(vault: Vault) -> None:
    for call in (
        lambda: vault.get_capture("0" * 64),
        lambda: vault.get_capture("nope"),
        lambda: vault.get_capture_meta("0" * 64),
        lambda: vault.set_capture_meta("0" * 64, {}),
        lambda: vault.replace_records("0" * 64, [{"kind": "lab_result"}]),
    ):
        with pytest.raises(UnknownCapture):
            call()


def test_update_capture_meta_merges(vault: Vault) -> None:
    cid, _ = vault.put_capture(make_capture())
    vault.set_capture_meta(cid, {"status": "parsed", "vendor": "nextgen"})
    assert vault.update_capture_meta(cid, {"status": "assigned", "member_id": "m1"}) == {
        "status": "assigned",
        "vendor": "nextgen",
        "member_id": "m1",
    }
    assert vault.get_capture_meta(cid)["member_id"] == "m1"


def test_put_capture_is_durable_on_return(vault: Vault, vault_dir: Path) -> None:
    cid, _ = vault.put_capture(make_capture())
    other = raw(vault_dir)  # another connection sees it: committed, not pending
    assert other.execute("SELECT count(*) FROM captures WHERE id = ?", (cid,)).fetchone() == (1,)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert vault._conn().execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    other.close()


# ---------------------------------------------------------------- records and docs


def test_replace_records_replaces_and_never_reuses_ids(vault: Vault) -> None:
    c1, _ = vault.put_capture(make_capture(1))
    c2, _ = vault.put_capture(make_capture(2))
    first = vault.replace_records(c1, [{"kind": "lab_result", "n": i} for i in range(3)])
    other = vault.replace_records(c2, [{"kind": "allergy", "n": 9}])
    second = vault.replace_records(c1, [{"kind": "lab_result", "n": 10}])
    assert not set(second) & set(first) and second[0] > other[0]
    assert [r.data["n"] for r in vault.iter_records()] == [9, 10]
    assert vault.replace_records(c1, []) == []
    assert [r.capture_id for r in vault.iter_records()] == [c2]


@pytest.mark.parametrize(
    "record",
    [{"v": 1}, {"kind": "Lab Result"}, {"kind": "Zyxwandria Quillfeather"}, {"kind": 3}, "not a dict"],
)
def test_record_kind_must_be_a_category(vault: Vault, record: Any) -> None:
    cid, _ = vault.put_capture(make_capture())
    vault.replace_records(cid, [{"kind": "lab_result"}])
    with pytest.raises(InvalidInput):
        vault.replace_records(cid, [{"kind": "lab_result"}, record])
    assert len(vault.records_for(cid)) == 1  # nothing changed


@pytest.mark.parametrize(
    ("collection", "key"),
    [
        ("Members", "m1"),
        ("members", ""),
        ("members", "a\0b"),
        ("a b", "m1"),
    ],
)
def test_doc_identifiers_are_checked(vault: Vault, collection: str, key: str) -> None:
    with pytest.raises(InvalidInput):
        vault.put_doc(collection, key, {"x": 1})
    with pytest.raises(InvalidInput):
        vault.get_doc(collection, key)


def test_transaction_is_atomic(vault: Vault) -> None:
    cid, _ = vault.put_capture(make_capture())
    with pytest.raises(RuntimeError), vault.transaction():
        vault.put_doc("members", "m1", {"name": "A"})
        vault.replace_records(cid, [{"kind": "lab_result"}])
        raise RuntimeError("boom")
    assert vault.get_doc("members", "m1") is None and vault.records_for(cid) == []
    with vault.transaction():
        vault.put_doc("members", "m1", {"name": "A"})
        with pytest.raises(InvalidInput):
            vault.put_doc("Bad Collection", "k", {})  # inner failure: outer continues
        with pytest.raises(RuntimeError), vault.transaction():
            vault.put_doc("members", "m2", {"name": "B"})
            raise RuntimeError("inner")
    assert set(vault.list_docs("members")) == {"m1"}


def test_threads_share_a_vault(vault: Vault) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                cid, _ = vault.put_capture(make_capture(n * 100 + i))
                vault.replace_records(cid, [{"kind": "lab_result", "n": i}])
                vault.put_doc("members", f"m{n}-{i}", {"n": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(vault.list_captures()) == 40 and len(list(vault.iter_records())) == 40


# ---------------------------------------------------------------- backup, damage, migrations


def _fill(v: Vault) -> None:
    for n in range(3):
        cid, _ = v.put_capture(make_capture(n))
        v.set_capture_meta(cid, {"n": n})
        v.replace_records(cid, [{"kind": "lab_result", "n": n}, {"kind": "vital", "n": -n}])
    v.put_doc("members", "m1", {"name": "A"})
    v.put_doc("portal_accounts", "acc-1", {"vendor": "epic_mychart"})


def _snapshot(v: Vault) -> Any:
    caps = v.list_captures()
    return (
        [(c.id, c.seq, c.stored_at, c.size, c.meta, v.get_capture(c.id)) for c in caps],
        [(r.id, r.capture_id, r.kind, r.data) for r in v.iter_records()],
        v.list_docs("members"),
        v.list_docs("portal_accounts"),
    )


@pytest.mark.parametrize("into_dir", [True, False])
def test_backup_then_restore_is_identical(vault: Vault, tmp_path: Path, into_dir: bool) -> None:
    _fill(vault)
    dest = tmp_path / "backups"
    dest.mkdir()
    target = vault.backup(dest if into_dir else dest / "kinchart-backup.db")
    assert target == (dest / DB_NAME if into_dir else dest / "kinchart-backup.db")
    assert [p.name for p in dest.iterdir()] == [target.name]  # no partial or journal left behind
    vault.put_doc("members", "m2", {"name": "after the backup"})
    restored = Vault.restore(target if not into_dir else dest, tmp_path / "restored")
    assert not restored.unlocked
    restored.unlock(PASS)
    expected = _snapshot(vault)
    got = _snapshot(restored)
    assert got[:2] == expected[:2] and got[3] == expected[3]
    assert got[2] == {"m1": {"name": "A"}}  # the copy is of the moment of the backup
    restored.put_capture(make_capture(77))  # a restored vault is a working vault
    restored.close()


def test_backup_works_locked_and_never_overwrites(vault: Vault, tmp_path: Path) -> None:
    _fill(vault)
    vault.lock()
    target = vault.backup(tmp_path / "b.db")
    before = target.read_bytes()
    with pytest.raises(VaultExists):
        vault.backup(tmp_path / "b.db")
    assert target.read_bytes() == before
    with vault.transaction(), pytest.raises(VaultError):
        vault.backup(tmp_path / "c.db")


def test_restore_refuses_to_overwrite(vault: Vault, vault_dir: Path, tmp_path: Path) -> None:
    _fill(vault)
    target = vault.backup(tmp_path / "b.db")
    other = Vault.create(tmp_path / "other", "x", FAST)
    other.close()
    before = dir_digest(tmp_path / "other")
    with pytest.raises(VaultExists):
        Vault.restore(target, tmp_path / "other")
    assert dir_digest(tmp_path / "other") == before
    with pytest.raises(VaultNotFound):
        Vault.restore(tmp_path / "missing.db", tmp_path / "new")


def _corruptions(good: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "garbage": bytes(range(256)) * 64,
        "truncated": good[:100],
        "zeroed_pages": good[:100] + b"\0" * (len(good) - 100),
        "scrambled": good[:1024] + bytes(b ^ 0x5A for b in good[1024:]),
    }


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "zeroed_pages", "scrambled"])
def test_corrupted_vault_raises_and_is_never_replaced(
    vault: Vault, vault_dir: Path, kind: str, tmp_path: Path
) -> None:
    _fill(vault)
    vault.close()
    db = vault_dir / DB_NAME
    bad = _corruptions(db.read_bytes())[kind]
    db.write_bytes(bad)
    with pytest.raises(VaultError) as err:
        v = Vault.open(vault_dir)
        v.unlock(PASS)
        v.check()
    assert not isinstance(err.value, VaultNotFound)
    assert db.read_bytes() == bad  # untouched, not re-created
    with pytest.raises(VaultExists):
        Vault.create(vault_dir, PASS, FAST)
    assert db.read_bytes() == bad
    with pytest.raises(VaultError):
        Vault.restore(vault_dir, tmp_path / "restored")
    assert not Vault.exists(tmp_path / "restored")


def test_a_foreign_sqlite_file_is_not_a_vault(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    db = sqlite3.connect(tmp_path / "v" / DB_NAME)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = dir_digest(tmp_path / "v")
    with pytest.raises(VaultError, match="not a Kinchart vault"):
        Vault.open(tmp_path / "v")
    assert dir_digest(tmp_path / "v") == before


def test_check_passes_on_a_good_vault(vault: Vault) -> None:
    _fill(vault)
    vault.check()


@pytest.mark.parametrize("stop_before", ["m002_records_by_capture", "m003_docs"])
def test_migrations_run_on_an_older_schema(tmp_path: Path, stop_before: str) -> None:
    old = Vault.create(tmp_path / "v", PASS, FAST, _stop_before=stop_before)
    cid, _ = old.put_capture(make_capture())
    old.replace_records(cid, [{"kind": "lab_result", "n": 1}])
    old.close()
    db = raw(tmp_path / "v")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert "docs" not in tables
    db.close()

    v = Vault.open(tmp_path / "v")
    v.unlock(PASS)
    assert v.get_capture(cid) == make_capture()
    assert [r.data for r in v.records_for(cid)] == [{"kind": "lab_result", "n": 1}]
    v.put_doc("members", "m1", {"name": "A"})
    assert v.get_doc("members", "m1") == {"name": "A"}
    v.close()
    db = raw(tmp_path / "v")
    applied = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == known_names()
    assert "records_by_capture" in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    db.close()


def test_a_newer_schema_is_refused(vault: Vault, vault_dir: Path) -> None:
    vault.close()
    db = raw(vault_dir)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('kinchart.vault', 'm999_future', '2030-01-01')"
    )
    db.close()
    with pytest.raises(VaultError, match="newer version"):
        Vault.open(vault_dir)


def test_default_vault_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KINCHART_VAULT", str(tmp_path / "x"))
    assert default_vault_dir() == tmp_path / "x"
    monkeypatch.delenv("KINCHART_VAULT")
    d = default_vault_dir()
    assert d.name == "vault" and "kinchart" in str(d).lower()
    assert not d.exists() or d.is_dir()


def test_open_or_create(tmp_path: Path) -> None:
    v, created = Vault.open_or_create(tmp_path / "v", PASS, FAST)
    assert created and v.unlocked
    cid, _ = v.put_capture(make_capture())
    v.close()
    v, created = Vault.open_or_create(tmp_path / "v", PASS, FAST)
    assert not created and v.get_capture(cid) == make_capture()
    v.close()
    with pytest.raises(WrongPassphrase):
        Vault.open_or_create(tmp_path / "v", "wrong", FAST)
    (tmp_path / "v" / DB_NAME).write_bytes(b"garbage" * 100)
    with pytest.raises(VaultError):
        Vault.open_or_create(tmp_path / "v", PASS, FAST)
    assert (tmp_path / "v" / DB_NAME).read_bytes() == b"garbage" * 100


def test_restore_from_a_live_vault_directory(vault: Vault, vault_dir: Path, tmp_path: Path) -> None:
    _fill(vault)  # still open: the -wal holds recent commits, which the copy must include
    restored = Vault.restore(vault_dir, tmp_path / "copy")
    restored.unlock(PASS)
    assert _snapshot(restored) == _snapshot(vault)
    restored.close()


def test_create_where_a_file_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(VaultError):
        Vault.create(tmp_path / "file", PASS, FAST)
    assert (tmp_path / "file").read_text() == "x"


def test_unlock_twice_and_wrong_passphrase_while_unlocked(vault: Vault) -> None:
    cid, _ = vault.put_capture(make_capture())
    with pytest.raises(WrongPassphrase):
        vault.unlock("nope")
    assert vault.unlocked  # a failed attempt changes nothing, not even the unlocked state
    vault.unlock(PASS)
    assert vault.get_capture(cid) == make_capture()


def test_a_backup_in_progress_is_never_readable_by_others(vault: Vault, tmp_path: Path) -> None:
    """Issue 13: the `.partial` copy was 0644 until it was complete. Its mode is watched while a real
    backup of a vault of some 16 MB is written."""
    for n in range(32):
        vault.put_capture(make_capture(n, html=os.urandom(256 * 1024).hex()))
    dest = tmp_path / "backup.db"
    partial = tmp_path / "backup.db.partial"
    modes: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                modes.add(stat.S_IMODE(os.stat(partial).st_mode))

    watcher = threading.Thread(target=watch)
    old_umask = os.umask(0o022)
    watcher.start()
    try:
        vault.backup(dest)
    finally:
        done.set()
        watcher.join()
        os.umask(old_umask)
    assert modes, "the watcher never saw the partial file"
    assert modes == {0o600}
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
