"""A capture's id must never change between versions: the fast canonical JSON is byte for byte the
standard library's sorted, compact, UTF-8 form."""

from __future__ import annotations

import hmac
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.vault.capture import CanonicalCapture, canonical_json, capture_hash, identity_form

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]))


def stdlib(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@settings(max_examples=500, deadline=None)
@given(url=TEXT, html=TEXT, title=st.none() | TEXT)
def test_canonical_json_matches_the_standard_library(url: str, html: str, title: str | None) -> None:
    capture = {"url": url, "title": title, "frames": [{"url": url, "html": html}], "extension_version": "1"}
    assert canonical_json(capture) == stdlib(capture)


def test_every_character_escapes_the_same_way() -> None:
    text = "".join(chr(i) for i in range(0x3000) if not 0xD800 <= i < 0xE000)
    value = {"url": text, "frames": [{"url": "", "html": text}]}
    assert canonical_json(value) == stdlib(value)


def test_a_known_capture_keeps_its_id() -> None:
    capture = {
        "url": "https://portal.example/a",
        "frames": [{"url": "https://portal.example/a", "html": "<p>é\n</p>"}],
    }
    assert (
        capture_hash(capture)
        == __import__("hashlib")
        .sha256(stdlib({"url": capture["url"], "frames": [{"url": capture["url"], "html": "<p>é\n</p>"}]}))
        .hexdigest()
    )


captures = st.fixed_dictionaries(
    {
        "url": TEXT,
        "frames": st.lists(
            st.fixed_dictionaries(
                {"html": TEXT}, optional={"url": TEXT, "extra": st.integers(-(2**63), 2**63 - 1) | TEXT}
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "title": st.none() | TEXT,
        "captured_at": st.none() | TEXT,
        "extension_version": TEXT,
        "other": st.dictionaries(TEXT, TEXT, max_size=2),
    },
)


@settings(max_examples=500, deadline=None)
@given(capture=captures)
def test_the_vaults_one_pass_form_is_the_canonical_json_and_the_id(capture: dict[str, object]) -> None:
    """The vault serializes the frames once for both its stored form and the id (frames with just a url
    and the HTML), or falls back to serializing each; either way the very same bytes and id."""
    canonical = CanonicalCapture(capture)
    assert canonical.body == canonical_json(capture) == stdlib(capture)
    assert canonical.capture_id(None) == capture_hash(capture)
    key = b"k" * 32
    assert canonical.capture_id(key) == hmac.new(key, stdlib(identity_form(capture)), "sha256").hexdigest()
