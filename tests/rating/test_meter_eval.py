"""The Python evaluation of a meter (used by rating, one signal at a time) gives the answers of the SQL one (used by
previews): the same table of cases, without a database."""

from decimal import Decimal

import pytest

from apps.meters.definition import MeterDefinition
from tests.meters.test_semantics import CASES, NO_DATA, SUM_CASES, _id


@pytest.mark.parametrize(("data", "field", "op", "value", "expected"), CASES, ids=[_id(c) for c in CASES])
def test_filter_semantics_match_the_sql(data, field, op, value, expected):
    flt = {"field": field, "op": op} | ({} if op in ("exists", "not exists") else {"value": value})
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="count", filters=[flt])
    assert definition.matches(event_name="phone_call", data=None if data is NO_DATA else data) is expected


@pytest.mark.parametrize(("data", "exact", "skipped"), SUM_CASES, ids=[repr(c[0]) for c in SUM_CASES])
def test_sum_contribution_reads_only_numbers(data, exact, skipped):
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="sum", field="m")
    expected = None if skipped else Decimal(str(exact))
    assert definition.contribution(data) == expected


def test_event_name_must_match_and_count_adds_one():
    definition = MeterDefinition.from_wire(event_name="phone_call", operation="count")
    assert not definition.matches(event_name="sms", data={})
    assert definition.matches(event_name="phone_call", data=None)
    assert definition.contribution(None) == 1
