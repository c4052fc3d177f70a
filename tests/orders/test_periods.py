"""Allocation periods: anchored months, stubs, clamping to short months, truncation by the end date."""

from datetime import UTC, datetime

import pytest

from apps.orders.periods import add_months, billing_months, period_at, shift


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_add_months_clamps_to_the_month_and_keeps_the_anchor_day():
    assert add_months(at(2026, 1, 31), 1) == at(2026, 2, 28)
    assert add_months(at(2026, 1, 31), 2) == at(2026, 3, 31)
    assert add_months(at(2026, 2, 28), 1, day=31) == at(2026, 3, 31)
    assert add_months(at(2026, 11, 15, 9, 30), 3) == at(2027, 2, 15, 9, 30)
    assert add_months(at(2024, 1, 31), 1) == at(2024, 2, 29)  # leap year


def test_shift_by_days_or_months():
    assert shift(at(2026, 1, 31), 10, "days") == at(2026, 2, 10)
    assert shift(at(2026, 1, 31), 1, "months") == at(2026, 2, 28)


def test_monthly_periods_from_a_start_on_its_anchor():
    start = at(2026, 1, 31, 12)
    assert period_at(start=start, anchor_day=31, months=1, at=start) == (start, at(2026, 2, 28, 12))
    assert period_at(start=start, anchor_day=31, months=1, at=at(2026, 2, 28, 12)) == (
        at(2026, 2, 28, 12),
        at(2026, 3, 31, 12),
    )
    # Half-open: the instant before the boundary is still the old period.
    assert period_at(start=start, anchor_day=31, months=1, at=at(2026, 3, 31, 11, 59))[0] == at(
        2026, 2, 28, 12
    )
    assert period_at(start=start, anchor_day=31, months=1, at=at(2026, 4, 30, 12))[0] == at(2026, 4, 30, 12)


def test_a_start_off_its_anchor_gets_a_stub_period_first():
    start = at(2026, 1, 10)
    assert period_at(start=start, anchor_day=1, months=1, at=at(2026, 1, 20)) == (start, at(2026, 2, 1))
    assert period_at(start=start, anchor_day=1, months=3, at=at(2026, 3, 5)) == (
        at(2026, 2, 1),
        at(2026, 5, 1),
    )
    assert period_at(start=start, anchor_day=20, months=1, at=at(2026, 1, 15)) == (start, at(2026, 1, 20))
    assert period_at(start=start, anchor_day=20, months=12, at=at(2026, 6, 1)) == (
        at(2026, 1, 20),
        at(2027, 1, 20),
    )


def test_no_period_before_the_start_or_from_the_end_on_and_the_end_truncates():
    start, end = at(2026, 1, 1), at(2026, 2, 15)
    assert period_at(start=start, anchor_day=1, months=1, at=at(2025, 12, 31)) is None
    assert period_at(start=start, anchor_day=1, months=1, at=end, end=end) is None
    assert period_at(start=start, anchor_day=1, months=1, at=at(2026, 2, 3), end=end) == (at(2026, 2, 1), end)


def test_one_time_charges_have_one_open_period():
    start = at(2026, 1, 1)
    assert period_at(start=start, anchor_day=1, months=None, at=at(2030, 1, 1)) == (start, None)


@pytest.mark.parametrize(
    ("pricing", "override", "expected"),
    [
        ({"pricing_type": "RecurringPerUnit", "billing_frequency": "Monthly"}, None, 1),
        ({"pricing_type": "RecurringPerUnit", "billing_frequency": "Quarterly"}, None, 3),
        ({"pricing_type": "RecurringPerUnit", "billing_frequency": "Semi-Annually"}, None, 6),
        ({"pricing_type": "RecurringPerUnit", "billing_frequency": "Annual"}, None, 12),
        ({"billing_frequency": "Custom", "billing_frequency_custom_months": 2}, None, 2),
        ({"pricing_type": "UsagePrepaidCredits"}, None, 1),
        ({"pricing_type": "RecurringPerUnit", "billing_frequency": "Monthly"}, "annual", 12),
        ({"pricing_type": "OneTimePerUnit", "charge_type": "oneTime"}, "annual", None),
    ],
)
def test_billing_months(pricing, override, expected):
    assert billing_months(pricing=pricing, override=override) == expected
