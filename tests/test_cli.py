"""The command line, run as a caregiver or a script would: real processes, a real vault on disk."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import live_bridge
import pytest
from conftest import REPO
from golden import fixtures

from bridge.cli import app

PASSPHRASE = "a long synthetic passphrase"


def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    pw = tmp_path / "pass.txt"
    pw.write_text(PASSPHRASE + "\n")
    return {
        **os.environ,
        "KINCHART_VAULT": str(tmp_path / "vault"),
        "KINCHART_PASSPHRASE_FILE": str(pw),
        "KINCHART_KDF": "fast",
    }


def test_parse_prints_the_contract_json(tmp_path: Path, env: dict[str, str]) -> None:
    page = tmp_path / "p.html"
    page.write_text("<html><body><main><p>Hello letter</p></main></body></html>")
    result = json.loads(run(["parse", str(page), "--url", "https://x.example/a"], env).stdout)
    assert set(result) >= {"vendor", "page_kind", "patient", "organization", "records", "warnings"}
    assert not (tmp_path / "vault").exists()  # parse never touches a vault


def test_init_import_reparse_backup(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    again = run(["init"], env, check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "letter.html").write_text(
        "<!-- saved from url=(0033)https://portal.unknown.example/x -->\n<html><body><p>A letter</p></body></html>"
    )
    (folder / "broken.json").write_text("{ this is not json")
    (folder / "capture.json").write_text(
        json.dumps(
            {
                "url": "https://portal.unknown.example/y",
                "frames": [{"url": "", "html": "<p>Second letter</p>"}],
            }
        )
    )
    out = run(["import", str(folder)], env)
    assert "Imported 2 new capture(s)" in out.stdout
    assert "broken.json" in out.stderr
    cache = tmp_path / "vault" / "timeline.cache"  # the next unlock reads the index instead of rebuilding it
    assert cache.exists()
    from bridge.family import Family
    from bridge.vault import Vault

    with Vault.open(tmp_path / "vault") as v:
        v.unlock(PASSPHRASE)
        family = Family(v)
        assert len(family.unassigned()) == 2  # (no member yet: both wait for "who is this?")
        assert family.from_cache
        family.wait_full()
    out = run(["import", str(folder)], env)
    assert "2 already in the vault" in out.stdout
    out = run(["reparse"], env)
    assert "Reparsed 2 capture(s)" in out.stdout
    run(["backup", str(tmp_path / "backup")], env)
    restored = {**env, "KINCHART_VAULT": str(tmp_path / "restored")}
    run(["restore", str(tmp_path / "backup")], restored)
    assert "Reparsed 2 capture(s)" in run(["reparse"], restored).stdout


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    bad = tmp_path / "bad.txt"
    bad.write_text("not the passphrase")
    proc = run(["reparse"], {**env, "KINCHART_PASSPHRASE_FILE": str(bad)}, check=False)
    assert proc.returncode != 0
    assert "passphrase" in proc.stderr.lower()


def test_passwd_keeps_everything_readable(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    page = tmp_path / "a.html"
    page.write_text("<p>Some letter</p>")
    run(["import", str(page), "--url", "https://portal.unknown.example/a"], env)
    new = tmp_path / "new.txt"
    new.write_text("another synthetic passphrase")
    run(["passwd"], {**env, "KINCHART_NEW_PASSPHRASE_FILE": str(new)})
    assert "Reparsed 1 capture(s)" in run(["reparse"], {**env, "KINCHART_PASSPHRASE_FILE": str(new)}).stdout
    assert run(["reparse"], env, check=False).returncode != 0


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    for name in names:
        name = name.rstrip("_").replace("_", "-")
        assert re.search(rf"`kinchart {re.escape(name)}\b", readme), f"README lacks `kinchart {name}`"


# Distinctive strings from the fixture pages: names, values, sentences.
SENTINELS_FROM_EXPECTED = ("name", "title", "body", "text", "narrative")


def _distinctive_strings() -> set[str]:
    found: set[str] = set()
    for fx in fixtures():
        exp = fx.spec()["expected"]
        if exp.get("patient") and exp["patient"].get("name"):
            found.add(exp["patient"]["name"])
        for rec in exp["records"]:
            for key in ("body", "text", "narrative"):
                if isinstance(rec.get(key), str) and len(rec[key]) > 30:
                    found.add(rec[key][:30])
    return {s for s in found if len(s) >= 8}


def test_no_plaintext_on_disk_after_importing_every_fixture(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    captures = tmp_path / "captures"
    captures.mkdir()
    for i, fx in enumerate(fixtures()):
        url = fx.spec()["url"]
        (captures / f"{i}.json").write_text(
            json.dumps({"url": url, "title": fx.id, "frames": [{"url": url, "html": fx.html()}]})
        )
    assert len(list(captures.iterdir())) >= 10
    run(["import", str(captures)], env)
    strings = _distinctive_strings()
    assert len(strings) >= 10
    vault = Path(env["KINCHART_VAULT"])
    files = [p for p in vault.rglob("*") if p.is_file()]
    assert files
    for file in files:
        data = file.read_bytes()
        for s in strings:
            for encoded in {s.encode("utf-8"), s.encode("utf-16-le")}:
                assert encoded not in data, f"{s!r} readable in {file.name}"


# ---------------------------------------------------------------------------------------------- one-line errors


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Error" in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# Every command that reads a passphrase file, and its arguments (the vault exists: each gets that far).
PASSPHRASE_COMMANDS: list[list[str]] = [
    ["init", "--vault", "{tmp}/another"],
    ["serve", "--port", "{port}"],
    ["import", "{tmp}/page.html", "--url", "https://portal.unknown.example/a"],
    ["reparse"],
    ["passwd"],
    ["pair-code"],
    ["export", "-o", "{tmp}/out.json", "-f", "json"],
    ["import-bundle", "{tmp}/page.html"],
]


EXTRA_FILE = {"passwd": "KINCHART_NEW_PASSPHRASE_FILE", "import-bundle": "KINCHART_BUNDLE_PASSPHRASE_FILE"}


@pytest.mark.parametrize("command", PASSPHRASE_COMMANDS, ids=[c[0] for c in PASSPHRASE_COMMANDS])
def test_a_missing_passphrase_file_is_a_one_line_error(
    tmp_path: Path, env: dict[str, str], command: list[str]
) -> None:
    run(["init"], env)
    (tmp_path / "page.html").write_text("<p>A letter</p>")
    share = tmp_path / "share.txt"
    share.write_text("a synthetic share passphrase\n")
    env = {**env, "KINCHART_BUNDLE_PASSPHRASE_FILE": str(share)}
    args = [a.format(tmp=tmp_path, port=live_bridge.free_port()) for a in command]
    missing = tmp_path / "no-such-file.txt"
    for variable in (
        "KINCHART_PASSPHRASE_FILE",
        "KINCHART_NEW_PASSPHRASE_FILE",
        "KINCHART_BUNDLE_PASSPHRASE_FILE",
    ):
        if variable != "KINCHART_PASSPHRASE_FILE" and EXTRA_FILE.get(command[0]) != variable:
            continue
        proc = run(args, {**env, variable: str(missing)}, check=False)
        line = _one_line_error(proc)
        assert variable in line and str(missing) in line and "does not exist" in line
        assert "running" not in proc.stdout


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "is a folder"), (b"\xff\xfe\x00bad", "not UTF-8"), (b"\n", "is empty")],
    ids=["folder", "not-utf8", "empty"],
)
def test_an_unusable_passphrase_file_is_a_one_line_error(
    tmp_path: Path, env: dict[str, str], content: bytes | None, why: str
) -> None:
    bad = tmp_path / "bad"
    if content is None:
        bad.mkdir()
    else:
        bad.write_bytes(content)
    for command in (["init"], ["serve", "--port", str(live_bridge.free_port())]):
        proc = run(command, {**env, "KINCHART_PASSPHRASE_FILE": str(bad)}, check=False)
        assert why in _one_line_error(proc)
    assert not (tmp_path / "vault").exists()


def test_a_taken_port_is_one_line_and_never_claims_to_run(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = run(["serve", "--port", str(port)], env, check=False)
    assert proc.returncode == 2
    assert f"Port {port}" in _one_line_error(proc)
    assert "running" not in proc.stdout


def test_a_wrong_passphrase_never_claims_to_run(tmp_path: Path, env: dict[str, str]) -> None:
    run(["init"], env)
    bad = tmp_path / "bad.txt"
    bad.write_text("not the passphrase")
    proc = run(
        ["serve", "--port", str(live_bridge.free_port())],
        {**env, "KINCHART_PASSPHRASE_FILE": str(bad)},
        check=False,
    )
    assert "does not open this vault" in _one_line_error(proc)
    assert "running" not in proc.stdout


def test_serve_says_running_only_once_the_port_answers(tmp_path: Path, env: dict[str, str]) -> None:
    """The vault is made with the real key derivation, so unlocking takes a noticeable moment before the
    port is bound: a "running" line printed before binding would be caught by the connect below."""
    real_kdf = {k: v for k, v in env.items() if k != "KINCHART_KDF"}
    run(["init"], real_kdf)
    port = live_bridge.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
        cwd=REPO,
        env=real_kdf,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        with socket.socket() as s:
            s.settimeout(2)
            bound = s.connect_ex(("127.0.0.1", port)) == 0
        assert line.startswith("Kinchart is running") and f":{port}/" in line, line
        assert bound, "said running before the port was bound"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_importing_a_page_keeps_the_index_cache_current(tmp_path: Path, env: dict[str, str]) -> None:
    """`kinchart import` of a page into a vault whose timeline index cache is current applies the
    page to the cache (bridge/family/index_cache.update), so the dashboard's next unlock reads it."""
    from bridge.family import Family, index_cache
    from bridge.vault import Vault

    run(["init"], env)
    pages = []
    for n, word in enumerate(("knee", "ankle")):
        page = tmp_path / f"letter{n}.html"
        page.write_text(f"<html><body><main><p>A synthetic letter about a {word}.</p></main></body></html>")
        pages.append(page)
    run(["import", str(pages[0]), "--url", "https://portal.unknown.example/a"], env)
    with Vault.open(tmp_path / "vault") as v:
        v.unlock(PASSPHRASE)
        family = Family(v)
        member = family.create_member("Synthetic Person")
        family.assign(family.unassigned()[0].capture_id, member.id)
        assert family.save_cache() is True
    run(["import", str(pages[1]), "--url", "https://portal.unknown.example/b"], env)
    with Vault.open(tmp_path / "vault") as v:
        v.unlock(PASSPHRASE)
        assert index_cache.stamp_of(v.read_cache(index_cache.NAME) or b"") == v.content_stamp()
        family = Family(v)
        waiting = [u.capture_id for u in family.unassigned()]
        knee = family.timeline(text="knee", limit=None).total
        assert family.from_cache
        family.wait_full()
        assert [u.capture_id for u in family.unassigned()] == waiting and len(waiting) == 1
        assert family.timeline(text="knee", limit=None).total == knee == 1
