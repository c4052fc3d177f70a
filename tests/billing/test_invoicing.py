"""The pure invoice arithmetic (apps/billing/invoicing.py): rounding, tax, totals, proration, charge periods,
invoice cycles and payment terms. Hypothesis checks the properties invoices rely on: every billing period of
a line is billed exactly once across an order's invoices (in advance and in arrears), prorated parts of a
period add up to the whole, and each line is rounded once, half up."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.billing import invoicing

T0 = datetime(2026, 1, 1, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


# --- rounding, tax, totals -------------------------------------------------------------------------------------


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False))
def test_round_half_up_matches_decimal_half_up(value):
    assert invoicing.round_half_up(value) == int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(49, 10), 5),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
    ],
)
def test_round_half_up_examples(value, expected):
    assert invoicing.round_half_up(value) == expected


@given(
    amount=st.integers(min_value=-(10**10), max_value=10**10),
    rate=st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False),
)
def test_line_tax_is_the_rounded_rate_share_and_zero_when_exempt(amount, rate):
    tax = invoicing.line_tax(amount=amount, rate_percent=rate, exempt=False)
    assert abs(Fraction(tax) - Fraction(amount) * Fraction(rate) / 100) <= Fraction(1, 2)
    assert (
        invoicing.line_tax(amount=-amount, rate_percent=rate, exempt=False) == -tax
    )  # credits mirror charges
    assert invoicing.line_tax(amount=amount, rate_percent=rate, exempt=True) == 0


def test_tax_examples_and_status():
    assert invoicing.line_tax(amount=50000, rate_percent=Decimal("8.25"), exempt=False) == 4125
    assert invoicing.line_tax(amount=30, rate_percent=Decimal("8.25"), exempt=False) == 2  # 2.475
    assert invoicing.line_tax(amount=6, rate_percent=Decimal("25"), exempt=False) == 2  # 1.5 → 2
    assert invoicing.tax_status(rate_percent=Decimal("8.25"), exempt=False) == "calculated"
    assert invoicing.tax_status(rate_percent=Decimal("8.25"), exempt=True) == "not_applicable"
    assert invoicing.tax_status(rate_percent=Decimal(0), exempt=False) == "not_applicable"


@given(st.lists(st.tuples(st.integers(-(10**9), 10**9), st.integers(-(10**8), 10**8)), max_size=30))
def test_totals_are_the_sums_of_the_rounded_lines(lines):
    totals = invoicing.invoice_totals(lines)
    assert totals.subtotal == sum(a for a, _ in lines) and totals.tax == sum(t for _, t in lines)
    assert totals.total == totals.subtotal + totals.tax


# --- proration -------------------------------------------------------------------------------------------------


@given(
    full_start=moments,
    length=st.integers(min_value=1, max_value=400 * 86400),
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=6),
    amount=st.decimals(min_value=0, max_value=10**8, places=6, allow_nan=False, allow_infinity=False),
)
def test_prorated_parts_of_a_period_add_up_to_the_whole(full_start, length, cuts, amount):
    full_end = full_start + timedelta(seconds=length)
    points = sorted({full_start, full_end, *(full_start + timedelta(seconds=int(length * c)) for c in cuts)})
    parts = [
        invoicing.proration_factor(start=a, end=b, full_start=full_start, full_end=full_end)
        for a, b in pairwise(points)
    ]
    assert sum(parts) == 1 and all(0 <= part <= 1 for part in parts)
    exact = [invoicing.prorate(amount, part) for part in parts]
    assert sum(exact) == Fraction(amount)
    rounded = [invoicing.round_half_up(value) for value in exact]
    assert all(abs(r - e) <= Fraction(1, 2) for r, e in zip(rounded, exact, strict=True))


def test_proration_example_and_refusals():
    assert invoicing.proration_factor(
        start=datetime(2026, 1, 15, tzinfo=UTC),
        end=datetime(2026, 2, 1, tzinfo=UTC),
        full_start=T0,
        full_end=datetime(2026, 2, 1, tzinfo=UTC),
    ) == Fraction(17, 31)
    with pytest.raises(ValueError, match="positive length"):
        invoicing.proration_factor(start=T0, end=T0, full_start=T0, full_end=T0)
    with pytest.raises(ValueError, match="within"):
        invoicing.proration_factor(
            start=T0, end=T0 + timedelta(days=2), full_start=T0, full_end=T0 + timedelta(days=1)
        )


# --- charge periods and invoice cycles ----------------------------------------------------------------------------


def _periods(start, anchor, months, end, until):
    return list(invoicing.charge_periods(start=start, anchor_day=anchor, months=months, end=end, until=until))


@settings(max_examples=150, deadline=None)
@given(
    start=moments,
    anchor=st.integers(min_value=1, max_value=31),
    months=st.sampled_from([1, 2, 3, 6, 12]),
    days=st.integers(min_value=1, max_value=900),
)
def test_charge_periods_tile_the_line_and_only_the_ends_are_partial(start, anchor, months, days):
    end = start + timedelta(days=days)
    periods = _periods(start, anchor, months, end, end)
    assert periods[0].start == start and periods[-1].end == end
    for before, after in pairwise(periods):
        assert before.end == after.start
    for period in periods:
        assert period.full_start <= period.start < period.end <= period.full_end
        assert 0 < period.factor <= 1
    for period in periods[1:-1]:
        assert not period.is_partial


@settings(max_examples=150, deadline=None)
@given(
    start=moments,
    order_anchor=st.integers(min_value=1, max_value=31),
    cycle_months=st.sampled_from([1, 3]),
    line_months=st.sampled_from([1, 3, 12]),
    line_offset=st.integers(min_value=0, max_value=90),
    days=st.integers(min_value=1, max_value=800),
)
def test_every_period_of_a_line_is_billed_exactly_once_in_advance_and_in_arrears(
    start, order_anchor, cycle_months, line_months, line_offset, days
):
    """Across all of an order's invoices (every cycle and the final one), a line's periods are each billed once:
    in advance on the invoice whose cycle they begin in, in arrears on the one that opens when they close."""
    end = start + timedelta(days=days)
    line_start = min(start + timedelta(days=line_offset), end - timedelta(seconds=1))
    months = min(cycle_months, line_months)
    cycles = invoicing.order_cycles(start=start, anchor_day=order_anchor, months=months, end=end, until=end)
    assert cycles[0].is_first and cycles[0].previous_start is None and cycles[-1].is_final
    assert [c.previous_start for c in cycles[1:]] == [c.start for c in cycles[:-1]]
    expected = _periods(line_start, order_anchor, line_months, end, end)
    line = {"start": line_start, "anchor_day": order_anchor, "months": line_months, "end": end}
    advance = [
        p
        for c in cycles
        for p in invoicing.periods_starting_in(**line, window_start=c.start, window_end=c.end)
    ]
    arrears = [
        p
        for c in cycles
        if c.previous_start is not None
        for p in invoicing.periods_ending_in(**line, window_start=c.previous_start, window_end=c.start)
    ]
    assert advance == expected
    assert arrears == expected


def test_cycles_without_an_end_stop_at_until():
    cycles = invoicing.order_cycles(
        start=T0, anchor_day=1, months=1, end=None, until=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert [c.start.month for c in cycles] == [1, 2, 3]  # a cycle that begins exactly at `until` is due
    assert not any(c.is_final for c in cycles)
    before = invoicing.order_cycles(
        start=T0, anchor_day=1, months=1, end=None, until=T0 - timedelta(seconds=1)
    )
    assert before == []


# --- payment terms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "days"),
    [
        ("Net 30", 30),
        ("net30", 30),
        ("NET-45", 45),
        ("net_60", 60),
        ("30", 30),
        (" 15 days ", 15),
        ("Net 30 days", 30),
        ("Due on receipt", 0),
        ("due upon receipt", 0),
        ("", None),
        (None, None),
        ("when you can", None),
    ],
)
def test_payment_terms(terms, days):
    assert invoicing.payment_terms_days(terms) == days
