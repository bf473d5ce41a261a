"""Telling, without walking the tree, that a selector cannot match: its class or id names are not in
the markup.

A selector walk over a whole page costs as much as reading much of it, and most of the questions
parsers ask a page ("is this the results page?", "is there a proxy menu?") are about class and id
names the page does not carry. Such a name can only be in the tree if it is in the markup, except
when the parser changes it on the way:

- a numeric character reference (`&#95;`) can spell any character, so a markup with one is walked;
- a named reference spells no letter, digit or `-` (`&fjlig;` aside), so names of those only are
  checked (a name with `_` is not: `&lowbar;`);
- in quirks mode class and id names match case-insensitively, so only a markup that starts with
  `<!DOCTYPE html>` (standards mode) is checked.
"""

from __future__ import annotations

import re
from functools import lru_cache

_BRACKETS = re.compile(r"\[[^\]]*\]")
_PARENS = re.compile(r"\([^()]*\)")
_NAME = re.compile(r"[#.]([A-Za-z0-9_-]+)")
_CHECKABLE = re.compile(r"^[A-Za-z0-9-]+$")


@lru_cache(maxsize=1024)  # selectors are the parsers' own constants, never page content
def required_names(selector: str) -> tuple[str, ...] | None:
    """Class or id names one of which every match of `selector` carries (one per alternative of the
    group), or None when some alternative needs none that can be checked."""
    if "\\" in selector:
        return None
    rest = _BRACKETS.sub("", selector)
    while True:  # arguments of pseudo-classes (`:not(.x)`) require nothing
        stripped = _PARENS.sub("", rest)
        if stripped == rest:
            break
        rest = stripped
    if any(c in rest for c in "()[]\"'"):
        return None
    names: list[str] = []
    for alternative in rest.split(","):
        usable = [n for n in _NAME.findall(alternative) if _CHECKABLE.match(n) and "fj" not in n.lower()]
        if not usable:
            return None
        names.append(max(usable, key=len))
    return tuple(names)


def checkable(html: str) -> bool:
    """Whether names in this markup are spelled as in the tree: standards mode, no numeric reference."""
    return html.lstrip()[:15].lower() == "<!doctype html>" and "&#" not in html


def cannot_match(html: str, selector: str) -> bool:
    """True only when no element of the markup's tree can match `selector` (callers check `checkable`
    once per markup)."""
    names = required_names(selector)
    return names is not None and not any(name in html for name in names)
