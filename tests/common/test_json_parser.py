"""`JsonParser`: orjson where its answer is `json.loads`'s, `json.loads` for everything else."""

import io
import json
import math
import random
import re
import types

import pytest
from rest_framework.exceptions import ParseError

from apps.common import api as common_api
from apps.common.api import JsonParser, PayloadTooLarge


def parse(raw: bytes):
    return JsonParser().parse(io.BytesIO(raw), "application/json", {})


@pytest.fixture
def standard_calls(monkeypatch):
    """The bodies handed to `json.loads` (the fallback), as the parser sees it."""
    calls = []

    def loads(raw, *args, **kwargs):
        calls.append(raw)
        return json.loads(raw, *args, **kwargs)

    monkeypatch.setattr(common_api, "json", types.SimpleNamespace(loads=loads))
    return calls


def same(a, b) -> bool:
    """Equal values of the same types all the way down (1 is not 1.0, -0.0 is not 0.0, nan is nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


PLAIN = [
    b'{"signals": [{"eventName": "x", "data": {"n": 12, "f": 0.1, "t": true, "z": null, "l": [1, "a"]}}]}',
    b'{"a": 1, "a": 2}',
    '{"text": "héllo \\u00e9 \\ud83d\\ude00 \\u0000 \\n"}'.encode(),
    b'{"max": 9223372036854775807}',  # 19 digits: the fallback, though it fits
    b'{"n": 123456789012345678, "m": -123456789012345678}',  # 18 digits: orjson
    b"[-0, -0.0, 0.0, 1E2, 1e-400, 2.5e+3, 123456789012345678e10]",
    b"  \r\n\t{}  ",
    b'"a string"',
    b"42",
]


@pytest.mark.parametrize("raw", PLAIN)
def test_same_values_and_types_as_json_loads(raw):
    assert same(parse(raw), json.loads(raw))


def test_a_plain_body_does_not_reach_json_loads(standard_calls):
    assert parse(PLAIN[0]) == json.loads(PLAIN[0])
    assert parse(b'{"n": 123456789012345678}') == {"n": 123456789012345678}
    assert standard_calls == []


BIG = [
    2**64,
    2**64 - 1,  # fits orjson's u64, but has 20 digits: the fallback
    2**63,
    -(2**63) - 1,
    -(2**64) - 5,
    10**18,  # 19 digits
    int("9" * 300),
    -int("12345678901234567890123"),
]


@pytest.mark.parametrize("number", BIG)
def test_integers_of_19_digits_or_more_stay_exact_integers(standard_calls, number):
    raw = json.dumps({"data": {"n": number, "nested": [number]}}).encode()
    parsed = parse(raw)
    assert same(parsed, {"data": {"n": number, "nested": [number]}})
    assert standard_calls == [raw]


def test_a_long_digit_run_inside_a_string_only_costs_the_fallback(standard_calls):
    raw = b'{"key": "order-12345678901234567890", "n": 1.5}'
    assert same(parse(raw), {"key": "order-12345678901234567890", "n": 1.5})
    assert standard_calls == [raw]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b'{"a": Infinity, "b": -Infinity}',
        b'{"a": 1e400, "b": -1e400}',  # past the float range: json.loads says inf, orjson refuses
        b'{"a": "\\ud800", "b": "x\\udfff"}',  # lone surrogates
        b'\xef\xbb\xbf{"bom": 1}',  # UTF-8 with a byte order mark
        '{"utf16": "é"}'.encode("utf-16"),
        '{"utf32": 1}'.encode("utf-32-le"),
    ],
)
def test_what_orjson_refuses_is_parsed_by_json_loads(standard_calls, raw):
    parsed = parse(raw)
    assert same(parsed, json.loads(raw))
    assert standard_calls == [raw]


@pytest.mark.parametrize(
    "raw", [b'{"name": ', b"{'name': 1}", b"\xff\xfe not utf-8", b'{"a": 1} trailing', b"[1,]", b'{"a": 01}']
)
def test_malformed_json_keeps_json_loads_message(raw):
    with pytest.raises(ParseError) as raised:
        parse(raw)
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        expected = f"Malformed JSON: {exc}"
    else:
        pytest.fail("json.loads accepted it")
    assert str(raised.value.detail) == expected


def test_empty_body_is_an_empty_object():
    assert parse(b"") == {}
    assert parse(b" \n ") == {}


def test_the_byte_limit_still_applies(settings):
    settings.API_MAX_BODY_BYTES = 100
    assert parse(b'{"a": "' + b"x" * 80 + b'"}') == {"a": "x" * 80}
    with pytest.raises(PayloadTooLarge):
        parse(b'{"a": "' + b"x" * 100 + b'"}')


def test_random_numbers_parse_as_json_loads_does(standard_calls):
    """Floats as Python writes them, and number texts with up to 18 digits, exponents and signs: orjson reads
    them bit for bit as `json.loads` does."""
    rng = random.Random(4)
    numbers = []
    for _ in range(20_000):
        choice = rng.random()
        if choice < 0.4:
            numbers.append(repr(rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-300, 300)))
        elif choice < 0.7:
            numbers.append(repr(rng.random()))
        else:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18))).lstrip("0") or "0"
            text = rng.choice(["", "-"]) + digits
            if rng.random() < 0.5:
                text += "." + "".join(
                    rng.choice("0123456789") for _ in range(rng.randint(1, 18 - min(17, len(digits))))
                )
            if rng.random() < 0.3:
                text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 280))
            numbers.append(text)
    # Python writes some small floats with 19+ digits ("0.0004680587088061639"): those take the fallback.
    numbers = [text for text in numbers if not re.search(r"[0-9]{19}", text)]
    assert len(numbers) > 19_000
    raw = ("[" + ",".join(numbers) + "]").encode()
    parsed = parse(raw)
    assert standard_calls == []  # all of it went through orjson
    expected = json.loads(raw)
    assert len(parsed) == len(expected)
    assert all(same(a, b) for a, b in zip(parsed, expected, strict=True))


def test_long_digit_run_detection():
    assert common_api._has_long_digit_run(b"x1234567890123456789y")
    assert common_api._has_long_digit_run(b"1234567890123456789")
    assert not common_api._has_long_digit_run(b"123456789012345678 123456789012345678")
    assert not common_api._has_long_digit_run(b"123456789.0123456789")
    assert not common_api._has_long_digit_run("١٢٣٤٥٦٧٨٩١٢٣٤٥٦٧٨٩١٢".encode())  # not ASCII digits
