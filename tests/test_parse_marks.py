"""A frame skips a selector walk only when its class and id names cannot be in the tree
(bridge/parsers/marks.py): whatever the markup, `Frame.css_first` and `Frame.css` give what Lexbor's own
walk gives. The cases are the ways a name reaches the tree other than as written: quirks mode (class and
id names match in any case), numeric and named character references, and pseudo-class arguments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from bridge.parsers.marks import required_names
from bridge.parsers.page import Frame

STANDARDS = "<!DOCTYPE html>"


def _same_as_lexbor(html: str, selector: str) -> None:
    walked = LexborHTMLParser(html)
    frame = Frame(url="https://portal.test/", html=html)
    first, every = walked.css_first(selector), walked.css(selector)
    got_first, got_every = frame.css_first(selector), frame.css(selector)
    assert (got_first is None) == (first is None)
    assert len(got_every) == len(every)
    if first is not None and got_first is not None:
        assert got_first.html == first.html


def test_an_absent_name_in_a_standards_page_is_answered_without_parsing() -> None:
    frame = Frame(url="https://portal.test/", html=f"{STANDARDS}<div class='other'>x</div>")
    assert frame.css_first("#TestResultsDetailPage, div.ba-card") is None
    assert frame.css(".ba-card") == []
    assert "tree" not in frame.__dict__  # not even parsed: nothing could match


def test_a_present_name_is_walked() -> None:
    frame = Frame(url="https://portal.test/", html=f"{STANDARDS}<div class='ba-card'>x</div>")
    node = frame.css_first(".ba-card")
    assert node is not None and node.text() == "x"


def test_quirks_mode_matches_names_in_any_case() -> None:
    _same_as_lexbor("<div class='BA-CARD'>x</div>", ".ba-card")
    _same_as_lexbor("<div id='HOMEPAGE'>x</div>", "#HomePage")
    assert Frame(url="", html="<div class='BA-CARD'>x</div>").css_first(".ba-card") is not None


def test_character_references_can_spell_a_name() -> None:
    _same_as_lexbor(f"{STANDARDS}<div class='ba&#45;card'>x</div>", ".ba-card")
    _same_as_lexbor(f"{STANDARDS}<div class='ba&#x2d;card'>x</div>", ".ba-card")
    _same_as_lexbor(f"{STANDARDS}<div class='ba&lowbar;card'>x</div>", ".ba_card")
    _same_as_lexbor(f"{STANDARDS}<div class='&fjlig;ord'>x</div>", ".fjord")
    assert Frame(url="", html=f"{STANDARDS}<p class='a&#98;c'>x</p>").css_first(".abc") is not None


def test_names_a_match_need_not_carry_are_not_required() -> None:
    assert required_names("li:not(.done)") is None
    assert required_names("main, [role=main], #main") is None
    assert required_names("a[href$='.pdf']") is None
    assert required_names("a.proxySubjectLink, span.proxy-name") == ("proxySubjectLink", "proxy-name")
    _same_as_lexbor(f"{STANDARDS}<ul><li>x</li></ul>", "li:not(.done)")
    _same_as_lexbor(f"{STANDARDS}<a href='/x.pdf'>x</a>", "a[href$='.pdf']")


NAMES = st.sampled_from(["ba-card", "BA-card", "TRPName", "trpname", "x1", "ba_card", "fjord"])
SPELLINGS = st.sampled_from(["plain", "upper", "numeric", "hex", "lowbar"])


def _spell(name: str, how: str) -> str:
    if how == "upper":
        return name.upper()
    if how == "numeric":
        return "".join(f"&#{ord(c)};" if i == 1 else c for i, c in enumerate(name))
    if how == "hex":
        return name[:-1] + f"&#x{ord(name[-1]):x};"
    if how == "lowbar":
        return name.replace("_", "&lowbar;")
    return name


@settings(max_examples=300, deadline=None)
@given(
    doctype=st.sampled_from(
        ["", STANDARDS, "<!doctype html>", "  <!DOCTYPE html>", "<!DOCTYPE html PUBLIC>"]
    ),
    written=NAMES,
    how=SPELLINGS,
    attribute=st.sampled_from(["class", "id"]),
    wanted=NAMES,
    sigil=st.sampled_from([".", "#"]),
    tag=st.sampled_from(["", "div", "span"]),
)
def test_skipping_never_changes_an_answer(
    doctype: str, written: str, how: str, attribute: str, wanted: str, sigil: str, tag: str
) -> None:
    html = (
        f"{doctype}<body><{tag or 'div'} {attribute}='{_spell(written, how)} other'>x</{tag or 'div'}></body>"
    )
    _same_as_lexbor(html, f"{tag}{sigil}{wanted}")
    _same_as_lexbor(html, f"p, {tag}{sigil}{wanted}")
