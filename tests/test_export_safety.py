"""Plaintext exports stay private on disk (issue 13, item 7), and CSV cells never run as formulas.

Every export writer, through `export_to` and `kinchart export`, on a real encrypted vault filled
through bridge.ingest.ingest: a replaced file is a new 0600 inode (its old mode, owner and other links
are left behind), a symbolic link at the target is refused with or without --force (dangling or not)
and its destination is untouched, and a file someone else made ready in a shared folder never
receives the export."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from test_export import PASSPHRASE, SHARE, fixture_capture

from bridge.exports import (
    FORMATS,
    ExportOptions,
    SymlinkRefused,
    components_path,
    csv_format,
    export_to,
    pdf,
)
from bridge.family import Family
from bridge.ingest import ingest
from bridge.vault import Vault

PAGES = ["epic_mychart/test_result_a1c_px.html", "oracle_health/allergy_list.html"]
#: Every way a cell may start that a spreadsheet could evaluate, each led into a DDE payload.
FORMULA_LEADS = [
    "=",
    "+",
    "-",
    "@",
    "|",
    "\t",
    "\r",
    "\n",
    "\uff1d",  # ＝ full-width equals
    "\uff0b",  # ＋ full-width plus
    "\uff0d",  # － full-width hyphen-minus
    "\uff20",  # ＠ full-width at
    "\uff5c",  # ｜ full-width vertical line
    "\ufe66",  # ﹦ small equals
    "\ufe62",  # ﹢ small plus
    "\ufe63",  # ﹣ small hyphen-minus
    "\ufe6b",  # ﹫ small at
    " =",
    "\u00a0=",
    "\u3000\uff1d",
]
PAYLOAD = "cmd|' /C calc'!A0"
SECRET_BEFORE = b"someone else's file\n"


class Vaulted:
    def __init__(self, path: Path) -> None:
        self.vault = Vault.create(path, PASSPHRASE)
        self.family = Family(self.vault)
        member = self.family.create_member("Ana Synthetic", "1950-02-03", "mother")
        for rel in PAGES:
            receipt = ingest(self.vault, fixture_capture(rel), self.family)
            if receipt.needs_assignment:
                self.family.assign(receipt.capture_id, member.id)
        for i, lead in enumerate(FORMULA_LEADS):
            url = f"https://portal.unknown.example/letters/{i}"
            page = f"<html><body><main><h1>{lead}{PAYLOAD}</h1><p>{lead}SUM(1,2)</p></main></body></html>"
            capture = {
                "url": url,
                "title": "letter",
                "frames": [{"url": url, "html": page}],
                "captured_at": "2025-10-01T09:00:00Z",
                "extension_version": "test",
            }
            self.family.assign(ingest(self.vault, capture, self.family).capture_id, member.id, only_this=True)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vaulted]:
    v = Vaulted(tmp_path_factory.mktemp("export-safety") / "vault")
    yield v
    v.vault.close()


def _formats() -> list[Any]:
    marks = {"pdf": pytest.mark.browser}
    return [pytest.param(f, marks=marks.get(f, ())) for f in FORMATS]


def _export(v: Vaulted, fmt: str, path: Path, **kw: Any) -> list[Path]:
    if fmt == "pdf" and not pdf.chromium_executable():
        pytest.skip("no Chromium to print with")
    written = export_to(fmt, v.family, v.vault, ExportOptions(), path, passphrase=SHARE, **kw)
    return [w.path for w in written]


def _targets(fmt: str, path: Path) -> list[Path]:
    return [path, components_path(path)] if fmt == "csv" else [path]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


# ---------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("fmt", _formats())
def test_force_onto_a_0666_file_leaves_a_new_private_inode(filled: Vaulted, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"family{FORMATS[fmt].suffix}"
    keep = tmp_path / "kept"
    keep.mkdir()
    before: dict[Path, int] = {}
    for i, p in enumerate(_targets(fmt, out)):
        p.write_bytes(SECRET_BEFORE)
        p.chmod(0o666)
        os.link(p, keep / str(i))  # another name for the old inode, as someone else may hold
        before[p] = p.stat().st_ino
    with pytest.raises(FileExistsError):
        _export(filled, fmt, out)
    assert all(p.read_bytes() == SECRET_BEFORE and _mode(p) == 0o666 for p in before)  # untouched
    assert _export(filled, fmt, out, overwrite=True) == _targets(fmt, out)
    for i, p in enumerate(_targets(fmt, out)):
        assert _mode(p) == 0o600, oct(_mode(p))
        assert p.stat().st_ino != before[p]
        assert p.read_bytes() != SECRET_BEFORE and p.stat().st_size > 0
        assert (keep / str(i)).read_bytes() == SECRET_BEFORE  # the old inode never saw the export
        assert _mode(keep / str(i)) == 0o666
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(["kept", *(p.name for p in before)])


@pytest.mark.parametrize("fmt", _formats())
@pytest.mark.parametrize("dangling", [True, False], ids=["dangling", "to-a-file"])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_symlink_target_is_refused_and_its_destination_untouched(
    filled: Vaulted, tmp_path: Path, fmt: str, dangling: bool, force: bool
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out" / f"family{FORMATS[fmt].suffix}"
    out.parent.mkdir()
    # for csv, the link is at the components table only: the first file must not be left behind either
    link = components_path(out) if fmt == "csv" else out
    dest = elsewhere / "readable-by-others"
    if not dangling:
        dest.write_bytes(SECRET_BEFORE)
        dest.chmod(0o644)
    link.symlink_to(dest)
    with pytest.raises(SymlinkRefused, match="symbolic link"):
        _export(filled, fmt, out, overwrite=force)
    assert link.is_symlink() and os.readlink(link) == str(dest)
    if dangling:
        assert not dest.exists()
    else:
        assert dest.read_bytes() == SECRET_BEFORE and _mode(dest) == 0o644
    assert sorted(x.name for x in out.parent.iterdir()) == [link.name]  # no export, no partial file
    assert [x.name for x in elsewhere.iterdir()] == ([] if dangling else [dest.name])


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_symlink_planted_while_exporting_is_never_written_through(
    filled: Vaulted, tmp_path: Path, force: bool
) -> None:
    """The check before writing is made again when the file is put in place, and the placing itself
    (a hard link, or a rename) never follows a link: planting one mid-export gains nothing."""
    out = tmp_path / "family.json"
    dest = tmp_path / "theirs"

    def plant(done: int, total: int) -> None:
        if not out.is_symlink():
            out.symlink_to(dest)

    with pytest.raises(FileExistsError):
        export_to("json", filled.family, filled.vault, ExportOptions(), out, plant, overwrite=force)
    assert out.is_symlink() and not dest.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["family.json"]


def test_a_file_made_ready_in_a_shared_folder_never_receives_the_export(
    filled: Vaulted, tmp_path: Path
) -> None:
    """Someone with write access to a shared folder (here: sticky, world-writable, like /tmp) creates
    the file the caregiver will name, world-readable, and keeps it open to read what lands in it."""
    shared = tmp_path / "common"
    shared.mkdir()
    shared.chmod(0o1777)
    out = shared / "family.csv"
    seen_modes: list[int] = []

    def watch(done: int, total: int) -> None:  # every file in the folder while the export is written
        seen_modes.extend(_mode(p) for p in shared.iterdir() if p.name.endswith(".partial"))

    for p in _targets("csv", out):
        p.touch()
        p.chmod(0o666)
    with out.open("rb") as theirs, components_path(out).open("rb") as theirs_too:
        with pytest.raises(FileExistsError, match="already exists"):
            export_to("csv", filled.family, filled.vault, ExportOptions(), out, watch)
        export_to("csv", filled.family, filled.vault, ExportOptions(), out, watch, overwrite=True)
        assert theirs.read() == b"" and theirs_too.read() == b""  # nothing written through their handle
    assert seen_modes and set(seen_modes) == {0o600}  # private while being written, too
    for p in _targets("csv", out):
        assert _mode(p) == 0o600 and p.stat().st_size > 0


def test_a_failed_export_leaves_no_file_and_keeps_the_one_it_would_replace(
    filled: Vaulted, tmp_path: Path
) -> None:
    out = tmp_path / "family.json"
    out.write_bytes(SECRET_BEFORE)

    def fail(done: int, total: int) -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        export_to("json", filled.family, filled.vault, ExportOptions(), out, fail, overwrite=True)
    assert out.read_bytes() == SECRET_BEFORE
    assert [x.name for x in tmp_path.iterdir()] == ["family.json"]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_cli_refuses_a_dangling_symlink_in_one_line(filled: Vaulted, tmp_path: Path, force: bool) -> None:
    vault_dir = tmp_path / "vault"
    Vault.create(vault_dir, PASSPHRASE).close()
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSPHRASE + "\n")
    out, dest = tmp_path / "family.json", tmp_path / "theirs.json"
    out.symlink_to(dest)
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "export", "-o", str(out), "-f", "json", "--vault", str(vault_dir)]
        + (["--force"] if force else []),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "KINCHART_PASSPHRASE_FILE": str(pw), "KINCHART_KDF": "fast"},
    )
    assert proc.returncode != 0
    assert "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert not dest.exists() and out.is_symlink()


# ---------------------------------------------------------------------------------------------- csv


def _cells(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _evaluable(cell: str) -> bool:
    """What a spreadsheet may evaluate: the same rule csv_format documents, written out again here
    so the test does not trust the code under test."""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    rest = cell.lstrip()
    if not rest or re.fullmatch(r"-[0-9]+(\.[0-9]+)?", cell):
        return False
    return unicodedata.normalize("NFKC", rest[0]) in ("=", "+", "-", "@", "|")


@pytest.mark.parametrize("lead", FORMULA_LEADS, ids=[repr(x) for x in FORMULA_LEADS])
def test_every_formula_lead_is_neutralised(lead: str) -> None:
    for text in (f"{lead}{PAYLOAD}", f"{lead}1+1", lead + "A1"):
        assert csv_format.neutralise(text) == "'" + text
        assert _evaluable(text) and not _evaluable(csv_format.neutralise(text))


def test_csv_files_have_no_evaluable_cell(filled: Vaulted, tmp_path: Path) -> None:
    out = tmp_path / "family.csv"
    export_to("csv", filled.family, filled.vault, ExportOptions(), out)
    rows = _cells(out.read_bytes())
    header = rows[0]
    titles = {dict(zip(header, r, strict=True))["title"] for r in rows[1:]}
    for lead in FORMULA_LEADS:
        cleaned = lead.replace("\r", "").replace("\n", "").replace("\t", "").strip()
        if cleaned:  # a page's whitespace is collapsed by the parser; the printable leads survive
            assert any(t.startswith("'") and cleaned + PAYLOAD in t for t in titles), lead
    for path in (out, components_path(out)):
        for row in _cells(path.read_bytes()):
            for cell in row:
                assert not _evaluable(cell), (path.name, cell)


def test_negative_numbers_stay_numbers_and_signed_grades_stay_text() -> None:
    """`-5` is a number literal a spreadsheet reads as minus five: nothing to evaluate, and an
    apostrophe would show. `+1` (a dipstick grade) would lose its sign, so it is kept as text."""
    for text in ("-5", "-0.25", "-120"):
        assert csv_format.neutralise(text) == text
    for text in ("+1", "-5+1", "-5 - 5", "-1e9", "-5%", "-", "-\uff15", "-5;=1"):
        assert csv_format.neutralise(text) == "'" + text
    assert csv_format.neutralise(-2.5) == -2.5 and csv_format.neutralise(3) == 3
    assert csv_format.neutralise("Hemoglobin") == "Hemoglobin" and csv_format.neutralise("") == ""


@settings(max_examples=2000, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            "=+-@|\t\r\n \u00a0\u3000\uff1d\uff0b\uff0d\uff20\uff5c\ufe66\ufe62\ufe63\ufe6b\u22120123456789.Ae(),"
        )
    )
)
def test_no_text_comes_out_evaluable(text: str) -> None:
    cell = csv_format.neutralise(text)
    assert cell in (text, "'" + text)
    assert not _evaluable(cell)
