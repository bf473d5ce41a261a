"""What is wrong with a vault, item by item, in words that name the item but never its content."""

from __future__ import annotations

from dataclasses import dataclass, field

from .manifest import ManifestCheck, describe

#: Problem kinds, in the order a report lists them.
KINDS = ("file", "manifest", "rolled_back", "missing", "older", "damaged", "extra")

_SAYS = {
    "missing": "is missing: it was deleted from the vault file",
    "older": "is older than the manifest says: an earlier copy was written back",
    "damaged": "is damaged: it fails its integrity check and cannot be read",
    "extra": "is not in the manifest: it was added to the vault file by something other than Kinchart",
}


@dataclass(frozen=True, order=True)
class Problem:
    kind: str  # one of KINDS
    table: str  # captures, record_sets, docs, or "" for the file or the manifest as a whole
    what: str  # e.g. "members document 3fa2c1d0e9b8", "capture 0d1e2f3a4b5c"
    item: str = ""  # the manifest item, when there is one

    def sentence(self) -> str:
        if self.kind in _SAYS:
            return f"{self.what} ({self.table}) {_SAYS[self.kind]}."
        return self.what


def item_problem(kind: str, item: str) -> Problem:
    table, what = describe(item)
    return Problem(kind, table, what, item)


@dataclass
class IntegrityReport:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (KINDS.index(p.kind), p.table, p.what))

    def lines(self) -> list[str]:
        return [p.sentence() for p in self.sorted()]

    def summary(self) -> str:
        if self.ok:
            return "no problems"
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))


def manifest_problems(check: ManifestCheck, authentic: dict[str, bool]) -> list[Problem]:
    """The manifest check in problems; ``authentic[item]`` says whether a changed item's current blobs
    still authenticate (an older copy written back) or not (damaged)."""
    out: list[Problem] = []
    if check.absent:
        out.append(
            Problem(
                "manifest",
                "",
                "The vault's manifest is missing: which rows should exist cannot be checked "
                "(run `kinchart check --accept` to list the rows as they are now).",
            )
        )
        return out
    if check.altered:
        out.append(
            Problem(
                "manifest",
                "",
                "The vault's manifest does not match its keyed digest: rows were removed, added or "
                "rolled back together with their manifest entries.",
            )
        )
    if check.rolled_back:
        out.append(
            Problem(
                "rolled_back",
                "",
                f"The vault file is older than the copy this computer last opened (version {check.counter} "
                f"< {check.seen_counter}): it was replaced by an earlier copy.",
            )
        )
    out += [item_problem("missing", item) for item in check.missing]
    out += [item_problem("older" if authentic.get(item) else "damaged", item) for item in check.changed]
    out += [item_problem("extra", item) for item in check.extra]
    return out
