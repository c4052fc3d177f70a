"""Meter filter semantics as a table: (signal data, filter, matches?). Runs on the real database, so CI checks
SQLite and PostgreSQL give the same answers. `NO_DATA` is a signal sent without `data`."""

import pytest

from apps.meters.definition import MeterDefinition
from apps.meters.selectors import meter_signals

pytestmark = pytest.mark.django_db

NO_DATA = object()

CASES = [
    # = : JSON type and value
    ({"n": 12}, "n", "=", 12, True),
    ({"n": 12.0}, "n", "=", 12, True),
    ({"n": 12}, "n", "=", 12.0, True),
    ({"n": "12"}, "n", "=", 12, False),
    ({"n": 12}, "n", "=", "12", False),
    ({"n": "12"}, "n", "=", "12", True),
    ({"n": 0.5}, "n", "=", 0.5, True),
    ({"b": True}, "b", "=", True, True),
    ({"b": 1}, "b", "=", True, False),
    ({"b": True}, "b", "=", 1, False),
    ({"b": False}, "b", "=", False, True),
    ({"b": 0}, "b", "=", False, False),
    ({"b": False}, "b", "=", 0, False),
    ({"b": "true"}, "b", "=", True, False),
    ({"x": None}, "x", "=", None, True),
    ({"x": 0}, "x", "=", None, False),
    ({"x": ""}, "x", "=", None, False),
    ({}, "x", "=", None, False),
    ({}, "n", "=", 12, False),
    (NO_DATA, "n", "=", 12, False),
    ({"s": "Ab"}, "s", "=", "ab", False),
    ({"s": "é"}, "s", "=", "é", True),
    ({"s": ""}, "s", "=", "", True),
    ({"key with space": 1}, "key with space", "=", 1, True),
    ({"l": [1, 2]}, "l", "=", 1, False),
    ({"o": {"k": 1}}, "o", "=", 1, False),
    # nested paths
    ({"a": {"b": "x"}}, "a.b", "=", "x", True),
    ({"a": {"b": {"c": 3}}}, "a.b.c", "=", 3, True),
    ({"a.b": "x"}, "a.b", "=", "x", False),
    ({"a": "x"}, "a.b", "=", "x", False),
    ({"a": [{"b": "x"}]}, "a.b", "=", "x", False),
    ({"a": None}, "a.b", "=", None, False),
    ({"a": {"b": "x", "c": 1}}, "a.b", "=", "x", True),
    ({"a": {"b": None}}, "a.b", "=", None, True),
    ({"a": {"b": [None]}}, "a.b", "=", None, False),
    ({"n": 1e3}, "n", "=", 1000, True),
    # segments are object keys, never array indexes, even when they parse as a number with a sign or a space
    ({"a": [5, 6]}, "a. 1", "=", 6, False),
    ({"a": [5, 6]}, "a.+1", "=", 6, False),
    ({"a": [5, 6]}, "a. 1", "exists", None, False),
    ({"a": [5, 6]}, "a.+1", "!=", 5, False),
    ({"a": {" 1": 6}}, "a. 1", "=", 6, True),
    ({"a": {"+1": 6}}, "a.+1", ">", 5, True),
    # != : present and different (in type or value); a missing field never matches
    ({"n": 12}, "n", "!=", 12, False),
    ({"n": 13}, "n", "!=", 12, True),
    ({"n": "12"}, "n", "!=", 12, True),
    ({"b": 1}, "b", "!=", True, True),
    ({"b": False}, "b", "!=", True, True),
    ({"b": True}, "b", "!=", True, False),
    ({"n": None}, "n", "!=", 12, True),
    ({"x": None}, "x", "!=", None, False),
    ({"x": 1}, "x", "!=", None, True),
    ({"l": [1]}, "l", "!=", 1, True),
    ({}, "n", "!=", 12, False),
    (NO_DATA, "n", "!=", 12, False),
    ({"a": {}}, "a.b", "!=", "x", False),
    # > >= < <= : numbers against a number
    ({"n": 5}, "n", ">", 4, True),
    ({"n": 5}, "n", ">", 5, False),
    ({"n": 5}, "n", ">=", 5, True),
    ({"n": 5}, "n", "<", 6, True),
    ({"n": 5}, "n", "<=", 4.5, False),
    ({"n": 4.5}, "n", "<", 5, True),
    ({"n": -3}, "n", "<", 0, True),
    ({"n": 10}, "n", ">", 9, True),
    ({"n": 1e3}, "n", ">", 999, True),
    ({"n": "5"}, "n", ">", 4, False),
    ({"n": True}, "n", ">", 0, False),
    ({"n": False}, "n", "<", 1, False),
    ({"n": None}, "n", "<", 1, False),
    ({"n": [5]}, "n", ">", 4, False),
    ({}, "n", "<", 1, False),
    ({"a": {"b": 3}}, "a.b", ">=", 3, True),
    # … and strings against a string, by code point
    ({"s": "b"}, "s", ">", "a", True),
    ({"s": "10"}, "s", ">", "9", False),
    ({"s": "B"}, "s", "<", "a", True),
    ({"s": "é"}, "s", ">", "z", True),
    ({"s": 5}, "s", ">", "a", False),
    ({"d": "2026-03-01"}, "d", ">=", "2026-03-01", True),
    ({"d": "2026-02-28T23:59:59Z"}, "d", "<", "2026-03-01", True),
    ({"s": None}, "s", "<", "a", False),
    # in : any of the listed values, each compared as `=`
    ({"c": "us"}, "c", "in", ["us", "eu"], True),
    ({"c": "fr"}, "c", "in", ["us", "eu"], False),
    ({"n": 1}, "n", "in", ["1", 2], False),
    ({"n": 2}, "n", "in", ["1", 2], True),
    ({"n": 2.0}, "n", "in", [2], True),
    ({"x": None}, "x", "in", [None, 1], True),
    ({"b": True}, "b", "in", [1], False),
    ({"b": True}, "b", "in", [True], True),
    ({}, "c", "in", ["us"], False),
    ({}, "c", "in", [None], False),
    ({"a": {"c": "eu"}}, "a.c", "in", ["eu"], True),
    # exists / not exists : presence of the key; JSON null is present
    ({"x": 1}, "x", "exists", None, True),
    ({"x": None}, "x", "exists", None, True),
    ({"x": False}, "x", "exists", None, True),
    ({"x": ""}, "x", "exists", None, True),
    ({"x": []}, "x", "exists", None, True),
    ({}, "x", "exists", None, False),
    (NO_DATA, "x", "exists", None, False),
    ({"a": {"b": 1}}, "a.b", "exists", None, True),
    ({"a": {"b": None}}, "a.b", "exists", None, True),
    ({"a": {}}, "a.b", "exists", None, False),
    ({"a": 1}, "a.b", "exists", None, False),
    ({"x": 1}, "x", "not exists", None, False),
    ({"x": None}, "x", "not exists", None, False),
    ({}, "x", "not exists", None, True),
    (NO_DATA, "x", "not exists", None, True),
    ({"a": 1}, "a.b", "not exists", None, True),
    ({"a": {"b": 0}}, "a.b", "not exists", None, False),
]


def _id(case):
    data, field, op, value, expected = case
    shown = "no data" if data is NO_DATA else repr(data)
    return f"{shown} {field} {op} {value!r} -> {expected}"


@pytest.mark.parametrize(("data", "field", "op", "value", "expected"), CASES, ids=[_id(c) for c in CASES])
def test_filter_semantics(organization, product, ingest, data, field, op, value, expected):
    ingest(None if data is NO_DATA else data)
    flt = {"field": field, "op": op} | ({} if op in ("exists", "not exists") else {"value": value})
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="count", filters=[flt])
    matched = meter_signals(organization=organization, product=product, definition=definition).exists()
    assert matched is expected


SUM_CASES = [
    ({"m": 3}, 3, 0),
    ({"m": 2.5}, 2.5, 0),
    ({"m": "3"}, 0, 1),
    ({"m": True}, 0, 1),
    ({"m": None}, 0, 1),
    ({"m": [3]}, 0, 1),
    ({}, 0, 1),
]


@pytest.mark.parametrize(("data", "exact", "skipped"), SUM_CASES, ids=[repr(c[0]) for c in SUM_CASES])
def test_sum_reads_only_numbers(organization, product, ingest, data, exact, skipped):
    from decimal import Decimal

    from apps.meters.selectors import meter_preview_compute

    from .conftest import NOW

    ingest(data)
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="sum", field="m")
    preview = meter_preview_compute(
        organization=organization, product=product, definition=definition, window_to=NOW.replace(day=16)
    )
    assert preview.exact_quantity == Decimal(str(exact))
    assert preview.skipped == skipped
    assert preview.signal_count == 1 - skipped


SUM_PATH_CASES = [
    ({"u": {"m": 2.5}}, "u.m", "2.5", 0),
    ({"u": [{"m": 2}]}, "u.m", "0", 1),
    ({"u": {"m": {"n": 1}}}, "u.m", "0", 1),
    ({"a": [5, 6]}, "a. 1", "0", 1),
    ({"a": {" 1": 6}}, "a. 1", "6", 0),
]


@pytest.mark.parametrize(
    ("data", "field", "exact", "skipped"),
    SUM_PATH_CASES,
    ids=[c[1] + " in " + repr(c[0]) for c in SUM_PATH_CASES],
)
def test_sum_follows_object_keys_only(organization, product, ingest, data, field, exact, skipped):
    from decimal import Decimal

    from apps.meters.selectors import meter_preview_compute

    from .conftest import NOW

    ingest(data)
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="sum", field=field)
    preview = meter_preview_compute(
        organization=organization, product=product, definition=definition, window_to=NOW.replace(day=16)
    )
    assert (preview.exact_quantity, preview.skipped) == (Decimal(exact), skipped)


def test_filters_combine_with_and(organization, product, ingest):
    ingest({"call_completed": True, "duration_minutes": 4})
    ingest({"call_completed": True, "duration_minutes": 0})
    ingest({"call_completed": False, "duration_minutes": 9})
    definition = MeterDefinition.from_wire(
        event_name="phone_call",
        operation="count",
        filters=[
            {"field": "call_completed", "op": "=", "value": True},
            {"field": "duration_minutes", "op": ">", "value": 0},
        ],
    )
    assert meter_signals(organization=organization, product=product, definition=definition).count() == 1


def test_event_name_must_match(organization, product, ingest):
    ingest({"x": 1}, event="sms")
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="count")
    assert not meter_signals(organization=organization, product=product, definition=definition).exists()
