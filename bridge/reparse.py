"""Reparse, the one service behind `kinchart reparse` and the dashboard's "Reparse" button: every record
rebuilt from the stored captures with today's parsers, then the timeline re-filed and compared.

It blocks for as long as the parsers run: the bridge calls it in a worker thread, and it takes the
family's lock one capture at a time (see `bridge.ingest.reparse_all`), so saves are acknowledged and
pages served while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.ingest import reparse_all

if TYPE_CHECKING:
    from bridge.family import Family
    from bridge.family.models import ReparseReport
    from bridge.vault import Vault


@dataclass(frozen=True)
class ReparseOutcome:
    counts: dict[str, int]  # captures, changed, unchanged, failed, damaged
    timeline: ReparseReport  # the timeline's difference with what it was before


def reparse(vault: Vault, family: Family, progress: Callable[[], object] | None = None) -> ReparseOutcome:
    """Rebuild the records, refresh the family's index and report both; `progress` is called once per
    capture done."""
    before = family.snapshot()  # the timeline as it was, to report what changed
    counts = reparse_all(vault, progress=progress, family=family)
    family.refresh()
    return ReparseOutcome(counts, family.after_reparse(before))
