"""The repository stands alone: nothing in it reads or points to a `../shared` folder beside it.

A caregiver or contributor who clones the project has no such folder, so a test reading pages from it
would fail or skip for them, and a README link to it would lead nowhere. Pages the tests need live in
fixtures/, documents the README links to live in docs/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from conftest import FIXTURES, REPO
from reference_pages import REFERENCE_PAGES

#: A path into the folder beside the repository: `../shared`, an absolute path to it, one of its
#: sub-folders named as a path, or a path joined in code (`parent / "shared"`).
REFERENCE = re.compile(
    r"\.\./shared\b"
    r"|/work/shared\b"
    r"|\bshared/(?:design|portal-reference|ccda-reference|hooks|tools)\b"
    r"|/\s*[\"']shared[\"']|[\"']shared[\"']\s*/"
)
ROOTS = ["bridge", "tests", "bench", "scripts", "docs", "extension", "fixtures", ".ci"]
TOP_FILES = ["README.md", "SECURITY.md", "pyproject.toml", "package.json"]
SKIP_DIRS = {"__pycache__", "node_modules", ".venv", ".git", ".mypy_cache", ".ruff_cache"}


def _text_files() -> Iterator[Path]:
    for name in TOP_FILES:
        if (REPO / name).is_file():
            yield REPO / name
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*")):
            if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
                yield path


def test_no_file_reads_or_links_to_the_folder_beside_the_repo() -> None:
    found: list[str] = []
    scanned = 0
    for path in _text_files():
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary fixtures (a v1 vault) cannot hold a path a reader would follow
        scanned += 1
        for n, line in enumerate(text.splitlines(), 1):
            if REFERENCE.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert scanned > 200  # the scan did reach the tree
    assert not found, "references to ../shared:\n" + "\n".join(found)


def test_the_pattern_catches_each_form_of_reference() -> None:
    caught = [
        "see ../shared/design/record-contract.md",
        'REFERENCE = Path(__file__).parent.parent.parent / "shared" / "portal-reference"',
        "cp -r /work/shared/portal-reference fixtures/",
        "Follows shared/design/browser-testing.md",
    ]
    innocent = ['"shared",  # a capture id', "helpers shared by the parsers", "a shared document"]
    assert all(REFERENCE.search(x) for x in caught)
    assert not any(REFERENCE.search(x) for x in innocent)


def test_the_reference_pages_and_the_linked_documents_are_in_the_repo() -> None:
    assert len(REFERENCE_PAGES) == 49
    for page in REFERENCE_PAGES:
        assert page.with_name(page.name + ".html").is_file(), page
        assert page.with_name(page.name + ".expected.json").is_file(), page
    assert (FIXTURES / "README.md").is_file()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for link in re.findall(r"`(docs/[\w./-]+\.md)`", readme):
        assert (REPO / link).is_file(), link
    assert {"docs/record-contract.md", "docs/architecture.md"} <= set(
        re.findall(r"`(docs/[\w./-]+)`", readme)
    )
