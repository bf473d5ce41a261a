"""The API decodes request bodies with orjson, and with the standard library wherever orjson refuses one:
every body must get the answer the standard library gave it (the value, or the same kind of error), and
a body orjson decoded holds no lone surrogate (validation then skips looking for one)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from api_client import ApiClient, apair
from bridge_helpers import EXT_ORIGIN, capture, make_config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.capture import validate_capture
from bridge.server import init_app
from bridge.server.api import decode_json
from bridge.server.pairing import Pairing
from bridge.vault import Vault

# ----------------------------------------------------------------- decode_json against the stdlib


def stdlib(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))


def outcome(decode: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", comparable(decode(raw))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return "error", type(exc)


def comparable(value: Any) -> Any:
    """The value with types made visible and NaN equal to itself."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, list):
        return ["list", *(comparable(v) for v in value)]
    if isinstance(value, dict):
        return {"dict": [(k, comparable(v)) for k, v in value.items()]}
    return (type(value).__name__, value)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    return []


def within_64_bits(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | list | dict):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    items = value.values() if isinstance(value, dict) else value
    return all(within_64_bits(v) for v in items)


any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates too
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()  # NaN and infinities too: the standard library writes and reads them
    | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate unescaped: not UTF-8
    for _ in range(draw(st.integers(0, 2))):  # and some damage
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=3)) + raw[at + draw(st.integers(0, 2)) :]
    return raw


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=bodies())
def test_every_body_gets_the_standard_librarys_answer(raw: bytes) -> None:
    expected = outcome(stdlib, raw)
    # integers beyond 64 bits are the documented difference (orjson reads them as floats)
    assume(expected[0] == "error" or within_64_bits(stdlib(raw)))
    assume(not re.search(rb"\d{20}", raw))
    assert outcome(lambda r: decode_json(r)[0], raw) == expected


@settings(max_examples=300, deadline=None)
@given(raw=bodies())
def test_a_body_orjson_decoded_holds_no_lone_surrogate(raw: bytes) -> None:
    try:
        value, by_orjson = decode_json(raw)
    except (ValueError, RecursionError):
        return
    if by_orjson:
        assert not any(re.search("[\ud800-\udfff]", s) for s in strings(value))


@pytest.mark.parametrize(
    ("raw", "expected", "by_orjson"),
    [
        (b'"broken \\ud800 pair \\udfff"', "broken \ud800 pair \udfff", False),  # lone surrogate escapes
        (b'"\\ud83d\\ude00"', "\U0001f600", True),  # a pair is one character
        (b'{"url": NaN, "n": -Infinity}', {"url": math.nan, "n": -math.inf}, False),
        (b"1e400", math.inf, False),
        (b"[" * 1100 + b"]" * 1100, None, False),  # deeper than orjson's 1,024: the stdlib's answer
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}, True),
    ],
)
def test_bodies_orjson_refuses(raw: bytes, expected: Any, by_orjson: bool) -> None:
    if expected is None:  # as deep as that, the standard library either decodes it or says it is too deep
        assert outcome(lambda r: decode_json(r)[0], raw) == outcome(stdlib, raw)
        return
    value, used_orjson = decode_json(raw)
    assert comparable(value) == comparable(expected)
    assert used_orjson is by_orjson


def test_the_documented_difference_integers_beyond_64_bits() -> None:
    assert decode_json(b"18446744073709551615") == (18446744073709551615, True)
    value, by_orjson = decode_json(b"18446744073709551616")  # the stdlib: an int; no endpoint reads numbers
    assert (value, type(value), by_orjson) == (2.0**64, float, True)


def test_errors_are_the_standard_librarys() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_json(b'{"url": "\xff\xfe"}')
    with pytest.raises(json.JSONDecodeError):
        decode_json(b'{"url": ')
    with pytest.raises(RecursionError):
        decode_json(b"[" * 100_000 + b"]" * 100_000)


def test_validation_looks_for_lone_surrogates_unless_told_there_are_none() -> None:
    body = stdlib(json.dumps(capture("<p>broken \ud800 pair</p>")).encode())
    assert validate_capture(body)["frames"][0]["html"] == "<p>broken \ufffd pair</p>"
    clean = capture("<p>caf\u00e9 \u2014 \U0001f600</p>")
    assert validate_capture(clean) == validate_capture(clean, text_well_formed=True)


# ----------------------------------------------------------------- the same over HTTP


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str, ApiClient, Path]]:
    port = unused_port()
    vault_dir = tmp_path / "vault"
    server = TestServer(init_app(make_config(vault_dir, port)), host="127.0.0.1", port=port)
    await server.start_server()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        client = await apair(session, base, Pairing(vault_dir).new_code(), EXT_ORIGIN, "t")
        yield session, base, client, vault_dir
    await server.close()


async def test_bodies_orjson_refuses_get_their_old_answers_over_http(
    api: tuple[aiohttp.ClientSession, str, ApiClient, Path],
) -> None:
    session, base, client, vault_dir = api

    async def post(
        raw: bytes,
    ) -> tuple[int, Any]:  # the body is sealed as sent: the bridge decodes these bytes
        return await client.acall(session, base, "POST", "/api/captures", raw)

    surrogate = json.dumps(capture("<main><p>broken \ud800 pair \udfff</p></main>")).encode()
    status, answer = await post(surrogate)
    assert status == 201, answer
    capture_id = answer["capture_id"]
    status, answer = await post(b'{"url": NaN, "frames": []}')
    assert (status, answer["error"]) == (400, "bad_capture")
    status, answer = await post(b"[" * 100_000 + b"]" * 100_000)
    assert (status, answer["error"]) == (400, "bad_json")
    assert "nested too deeply" in answer["message"]
    status, answer = await post(b'{"url": "\xff"}')
    assert (status, answer["error"]) == (400, "bad_json")
    assert "not UTF-8" in answer["message"]
    await session.close()
    vault = Vault.open(vault_dir)
    try:
        vault.unlock("correct horse battery staple")
        assert (
            vault.get_capture(capture_id)["frames"][0]["html"]
            == "<main><p>broken \ufffd pair \ufffd</p></main>"
        )
    finally:
        vault.close()
