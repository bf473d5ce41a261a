"""The `kinchart` command line (typer + rich). Each command is a thin wrapper over the bridge's modules.

Passphrases come from KINCHART_PASSPHRASE_FILE when it is set (scripts, tests), else from a prompt.
Nothing here prints record content except `parse`, whose job it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bridge import export_formats
from bridge.config import (
    PASSPHRASE_FILE_VAR,
    PassphraseFileError,
    ServerConfig,
    env_port,
    read_passphrase_file,
)
from bridge.parsers import parse_html

app = typer.Typer(
    help="Kinchart: the family medical record on your own machine.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: a path or an error is never broken across lines (it is copied, or grepped for)
err = Console(stderr=True, soft_wrap=True)
out = Console()

VaultOpt = typer.Option(
    None, "--vault", envvar="KINCHART_VAULT", help="The vault folder (default: your data folder)"
)


def _vault_dir(vault: Path | None) -> Path:
    from bridge.vault import default_vault_dir

    return vault or default_vault_dir()


def _passphrase_from_file(variable: str = PASSPHRASE_FILE_VAR) -> str | None:
    """The passphrase in the file `variable` names, or None when it is not set; a file that cannot be
    used is a one-line error."""
    try:
        return read_passphrase_file(variable=variable)
    except PassphraseFileError as exc:
        _fail(str(exc))
        raise  # not reached: _fail exits


def _passphrase(prompt: str = "Passphrase", confirm: bool = False) -> str:
    from_file = _passphrase_from_file()
    if from_file is not None:
        return from_file
    if not sys.stdin.isatty():
        raise typer.BadParameter("no passphrase: set KINCHART_PASSPHRASE_FILE or run in a terminal")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


def _open_unlocked(vault_dir: Path) -> Any:
    from bridge.vault import Vault, VaultError, VaultNotFound

    try:
        vault = Vault.open(vault_dir)
    except VaultNotFound:
        _fail(f"No vault at {vault_dir}. Create one with `kinchart init` (or start the dashboard).")
    except VaultError as exc:
        _fail(str(exc))
    try:
        vault.unlock(_passphrase())
    except VaultError as exc:
        _fail(str(exc))
    return vault


def _family(vault: Any) -> Any:
    from bridge.family import Family

    return Family(vault)


@app.callback()
def _root() -> None:
    """Kinchart: the family medical record on your own machine."""


@app.command()
def init(vault: Path | None = VaultOpt) -> None:
    """Create a new encrypted vault (the passphrase from KINCHART_PASSPHRASE_FILE, else asked twice)."""
    from bridge.vault import Vault, VaultError

    folder = _vault_dir(vault)
    if Vault.exists(folder):
        _fail(f"A vault already exists at {folder}; nothing was changed.")
    try:
        Vault.create(folder, _passphrase("New passphrase", confirm=True)).close()
    except VaultError as exc:
        _fail(str(exc))
    out.print(f"Created an encrypted vault at {folder}.")
    out.print("Keep the passphrase safe: it cannot be recovered.")


@app.command()
def serve(
    vault: Path | None = VaultOpt,
    port: int = typer.Option(None, "--port", help="Port on 127.0.0.1 (default 47213, or KINCHART_PORT)"),
    idle_lock: float = typer.Option(30, "--idle-lock", help="Lock after this many idle minutes"),
) -> None:
    """Start the bridge and the dashboard on 127.0.0.1."""
    from bridge.server import PortTaken, run
    from bridge.vault import Vault, VaultError, WrongPassphrase

    folder = _vault_dir(vault)
    passphrase = _passphrase_from_file()
    if passphrase is not None and not Vault.exists(folder):
        Vault.create(folder, passphrase).close()
        out.print(f"Created an encrypted vault at {folder}.")
    config = ServerConfig(
        vault_dir=folder, port=port or env_port(), passphrase=passphrase, idle_lock_minutes=idle_lock
    )
    first_run = passphrase is None and not Vault.exists(folder)

    def announce() -> None:  # only once the port is bound: "running" is then true
        out.print(
            f"Kinchart is running: open http://127.0.0.1:{config.port}/ (Ctrl+C stops it)", soft_wrap=True
        )
        if first_run:
            out.print(
                "First visit: the dashboard asks you to create the passphrase that protects the vault.",
                soft_wrap=True,
            )
        elif passphrase is None:
            out.print("The vault starts locked: unlock it in the dashboard.", soft_wrap=True)

    try:
        run(config, on_ready=announce)
    except PortTaken as exc:
        _fail(str(exc), code=2)
    except WrongPassphrase:
        _fail("The passphrase in KINCHART_PASSPHRASE_FILE does not open this vault.")
    except VaultError as exc:  # a damaged vault: said in one line, and the file is left as it is
        _fail(str(exc))


@app.command()
def parse(
    page: Path = typer.Argument(..., exists=True, dir_okay=False, help="A saved portal page (.html)"),
    url: str = typer.Option("", "--url", help="The page's address in the portal"),
) -> None:
    """Print the record-contract JSON for one saved page, without touching any vault."""
    from bridge.capture import url_of_saved_page

    html = page.read_bytes().decode("utf-8", errors="replace")
    _, result = parse_html(html, url or url_of_saved_page(html) or "")
    sys.stdout.write(json.dumps(result.to_contract(), ensure_ascii=False, indent=2) + "\n")


def _input_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in {".html", ".htm", ".json"}
                    and not p.name.endswith(".expected.json")
                )
            )
        else:
            files.append(path)
    return files


class _Skipped(Exception):
    def __init__(self, file: Path, why: str) -> None:
        super().__init__(why)
        self.file, self.why = file, why


@app.command("import")
def import_(
    paths: list[Path] = typer.Argument(
        ..., exists=True, help="Saved .html pages or capture .json files, or folders"
    ),
    url: str = typer.Option(None, "--url", help="The portal address of a single saved page"),
    vault: Path | None = VaultOpt,
) -> None:
    """Import saved pages and captures through the same path as the extension."""
    from bridge.capture import BadCapture, capture_from_html_file, validate_capture
    from bridge.ingest import ingest_many
    from bridge.vault import VaultError

    files = _input_files(paths)
    store = _open_unlocked(_vault_dir(vault))
    family = _family(store)
    stored = duplicates = 0
    bad: list[tuple[Path, str]] = []
    not_read: list[tuple[Path, str, bool]] = []  # (file, why, a fault to fix?)
    position = 0

    def read(file: Path) -> dict[str, Any] | Exception:
        try:
            if file.suffix.lower() == ".json":
                return validate_capture(json.loads(file.read_text(encoding="utf-8")))
            return capture_from_html_file(file, url if len(files) == 1 else None)
        except (BadCapture, ValueError, OSError) as exc:
            return _Skipped(file, str(exc))

    with Progress(
        TextColumn("Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=len(files))

        def done(result: Any) -> None:
            nonlocal stored, duplicates, position
            file = files[position]  # results come back in the order of the files
            position += 1
            if isinstance(result, _Skipped):
                bad.append((result.file, result.why))
            else:
                duplicates += result.duplicate
                stored += not result.duplicate
                why = _not_read_why(result)
                if why is not None:
                    not_read.append((file, *why))
            progress.advance(task)

        _follow_index(family)
        try:
            ingest_many(store, (read(f) for f in files), family, on_result=done)
        except VaultError as exc:
            progress.stop()
            _fail(f"{exc} Captures reported before this point were saved.")
    _keep_index(family)
    store.close()
    out.print(f"Imported {stored} new capture(s); {duplicates} already in the vault; {len(bad)} skipped.")
    for file, why in bad:
        err.print(f"  skipped {file}: {why}")
    faults = [(f, why) for f, why, fault in not_read if fault]
    if faults:
        err.print(f"{len(faults)} page(s) were kept as documents because they could not be read:")
        for file, why in faults:
            err.print(f"  {file}: {why}")
    for file, why, fault in not_read:
        if not fault:
            err.print(f"  note, {file}: {why}")
    if bad and not stored and not duplicates:
        raise typer.Exit(1)


def _not_read_why(receipt: Any) -> tuple[str, bool] | None:
    """Why a stored page was not read as its portal's page, and whether that is a fault to fix (a
    parser crash, a page over the parse budget, markup that changed) rather than a page that simply
    shows nothing its parser reads; None when it was read."""
    from bridge.parsers import Fallback

    if receipt.error:
        return str(receipt.error), True
    if receipt.fallback:
        fallback = Fallback(**receipt.fallback)
        return fallback.describe(), fallback.category == "markup_changed"
    return None


def _follow_index(family: Any) -> None:
    """Before an import: note the current timeline index cache, so that the import files its pages
    without building the whole index and `_keep_index` applies only what it changed to the cache."""
    try:
        family.follow_cache()
    except Exception as exc:  # the cache only saves time: without it the next unlock builds the index
        err.print(f"(the timeline index cache will not be updated: {type(exc).__name__})")


def _keep_index(family: Any) -> None:
    """Write the timeline index cache (after an import, the cache it followed brought up to date), so
    the dashboard's next unlock does not rebuild it."""
    try:
        family.save_cache(build=True)
    except Exception as exc:  # the import itself succeeded: the cache only saves time
        err.print(f"(the timeline index cache was not written: {type(exc).__name__})")


@app.command()
def reparse(vault: Path | None = VaultOpt) -> None:
    """Rebuild every record from the stored captures with today's parsers."""
    from bridge.reparse import reparse as rebuild

    store = _open_unlocked(_vault_dir(vault))
    total = store.capture_count()
    family = _family(store)
    with Progress(
        TextColumn("Reparsing"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("reparse", total=total)
        outcome = rebuild(store, family, progress=lambda: progress.advance(task))
    _keep_index(family)
    store.close()
    report = outcome.counts
    out.print(
        f"Reparsed {report['captures']} capture(s): {report['changed']} changed, "
        f"{report['unchanged']} unchanged, {report['failed']} kept as documents after a parser error"
        f"; timeline: {outcome.timeline}."
    )
    if report["damaged"]:
        err.print(
            f"{report['damaged']} saved page(s) are damaged and were left as they were: "
            "run `kinchart check` to see which."
        )


@app.command()
def passwd(vault: Path | None = VaultOpt) -> None:
    """Change the passphrase (rewraps the data key; the records are not re-encrypted)."""
    from bridge.vault import Vault, VaultError

    folder = _vault_dir(vault)
    store = Vault.open(folder)
    old = _passphrase("Current passphrase")
    new = _passphrase_from_file("KINCHART_NEW_PASSPHRASE_FILE") or typer.prompt(
        "New passphrase", hide_input=True, confirmation_prompt=True
    )
    try:
        store.change_passphrase(old, new)
    except VaultError as exc:
        _fail(str(exc))
    store.close()
    out.print("Passphrase changed.")


@app.command()
def backup(
    dest: Path = typer.Argument(..., help="Where to write the encrypted copy"), vault: Path | None = VaultOpt
) -> None:
    """Write a consistent, still-encrypted copy of the vault."""
    from bridge.vault import Vault, VaultError

    try:
        store = Vault.open(_vault_dir(vault))
        store.backup(dest)
    except VaultError as exc:
        _fail(str(exc))
    store.close()
    out.print(f"Backed up the vault (still encrypted) to {dest}.")


@app.command()
def restore(
    backup_path: Path = typer.Argument(..., exists=True, help="A backup written by `kinchart backup`"),
    vault: Path | None = VaultOpt,
) -> None:
    """Restore a backup into a new vault folder (never over an existing vault)."""
    from bridge.vault import Vault, VaultError

    try:
        Vault.restore(backup_path, _vault_dir(vault)).close()
    except VaultError as exc:
        _fail(str(exc))
    out.print(f"Restored into {_vault_dir(vault)}.")


@app.command("pair-code")
def pair_code(vault: Path | None = VaultOpt) -> None:
    """Print a one-time pairing code for the extension (needs the passphrase, like the dashboard)."""
    from bridge.server.pairing import Pairing

    folder = _vault_dir(vault)
    _open_unlocked(folder).close()
    out.print(Pairing(folder).new_code())


def _bundle_passphrase(prompt: str, confirm: bool) -> str:
    """The share bundle's passphrase: KINCHART_BUNDLE_PASSPHRASE_FILE (scripts), else asked."""
    from_file = _passphrase_from_file("KINCHART_BUNDLE_PASSPHRASE_FILE")
    if from_file is not None:
        return from_file
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            "no bundle passphrase: set KINCHART_BUNDLE_PASSPHRASE_FILE or run in a terminal"
        )
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


def _iso_date(value: str | None, name: str) -> str | None:
    from datetime import date, datetime

    if not value:
        return None
    try:
        (date.fromisoformat if len(value) == 10 else datetime.fromisoformat)(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2025-03-14") from None
    return value


@app.command()
def export(
    fmt: str = typer.Option(
        ...,
        "--format",
        "-f",
        help=export_formats.cli_help(),
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="The file to write (csv also writes NAME-components.csv)"
    ),
    member: list[str] | None = typer.Option(
        None, "--member", "-m", help="A member's name or id; repeat for several (default: everyone)"
    ),
    since: str | None = typer.Option(None, "--since", help="From this date (YYYY-MM-DD), inclusive"),
    until: str | None = typer.Option(None, "--until", help="To this date (YYYY-MM-DD), inclusive"),
    kind: list[str] | None = typer.Option(
        None, "--kind", "-k", help="Only this kind of record (test_result, message, ...); repeat for several"
    ),
    past: bool = typer.Option(False, "--past", help="ics: past appointments too"),
    timeline_limit: int = typer.Option(
        150, "--timeline-limit", help="html/pdf: the most recent timeline items per member (0: all)"
    ),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists"),
    vault: Path | None = VaultOpt,
) -> None:
    """Export records (plaintext formats leave the vault's protection; `bundle` stays encrypted)."""
    from bridge.exports import (
        FORMATS,
        PLAINTEXT,
        PLAINTEXT_WARNING,
        ExportOptions,
        export_to,
        resolve_members,
    )
    from bridge.exports.bundle import BundleError
    from bridge.exports.pdf import PdfUnavailable
    from bridge.records import RECORD_KINDS

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    bad = [k for k in kind or [] if k not in RECORD_KINDS]
    if bad:
        raise typer.BadParameter(f"unknown kind {bad[0]!r} (one of {', '.join(RECORD_KINDS)})")
    since, until = _iso_date(since, "--since"), _iso_date(until, "--until")
    if output.exists() and not force:
        _fail(f"{output} already exists; nothing was written (use --force to replace it).")
    passphrase = (
        _bundle_passphrase("Passphrase for the share bundle", confirm=True) if fmt == "bundle" else None
    )
    store = _open_unlocked(_vault_dir(vault))
    family = _family(store)
    try:
        member_ids = resolve_members(family, member) if member else None
    except ValueError as exc:
        store.close()
        _fail(str(exc))
    opts = ExportOptions(
        member_ids=member_ids,
        kinds=list(kind) if kind else None,
        since=since,
        until=until,
        include_past=past,
        timeline_limit=timeline_limit or None,
    )
    if fmt in PLAINTEXT:
        err.print(f"[bold yellow]Warning:[/] {PLAINTEXT_WARNING}")
    try:
        with Progress(
            TextColumn(f"Exporting {fmt}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("export", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None)

            written = export_to(
                fmt, family, store, opts, output, tick, passphrase=passphrase, overwrite=force
            )
    except (BundleError, PdfUnavailable, OSError, ValueError) as exc:
        _fail(str(exc))
    finally:
        store.close()
    for w in written:
        out.print(f"Wrote {w.count} {w.what} to {w.path}" + (" (encrypted)" if fmt == "bundle" else ""))


@app.command("import-bundle")
def import_bundle(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A share bundle from `kinchart export --format bundle`"
    ),
    vault: Path | None = VaultOpt,
) -> None:
    """Merge another caregiver's share bundle into this vault (no duplicates, provenance kept)."""
    from bridge.share_format import BundleError
    from bridge.share_import import import_bundle as merge

    data = path.read_bytes()
    passphrase = _bundle_passphrase("The share bundle's passphrase", confirm=False)
    store = _open_unlocked(_vault_dir(vault))
    family = _family(store)
    try:
        with Progress(
            TextColumn("Importing bundle"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("import", total=None)
            report = merge(
                store,
                family,
                data,
                passphrase,
                lambda done, total: progress.update(task, completed=done, total=total or None),
            )
        _keep_index(family)
    except BundleError as exc:
        _fail(str(exc))
    finally:
        store.close()
    out.print(f"Imported the bundle: {report.describe()}.")
    for why in report.failed:
        err.print(f"  skipped capture {why}")


@app.command()
def check(
    vault: Path | None = VaultOpt,
    accept: bool = typer.Option(
        False, "--accept", help="After reading the report: list the rows as they are now in the manifest"
    ),
) -> None:
    """Check the vault: its file, which rows it should hold (its manifest) and every encrypted item.
    Names each missing, older, damaged or extra item (never its content); exits 1 if any."""
    from bridge.vault import VaultError

    store = _open_unlocked(_vault_dir(vault))
    try:
        report = store.inspect()
        for line in report.lines():
            out.print(f"- {line}", markup=False, highlight=False)
        if not report.ok and accept:
            store.accept_current_state()
            out.print("The manifest now lists the rows as they are; damaged items stay reported.")
            report = store.inspect()
    except VaultError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if not report.ok:
        err.print(f"[bold red]The vault has problems:[/] {report.summary()}.", highlight=False)
        raise typer.Exit(1)
    out.print("The vault is intact: every item is present, current and readable.")


def main() -> None:
    app()
