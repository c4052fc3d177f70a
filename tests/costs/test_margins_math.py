"""The pure arithmetic of margins (hypothesis): proration by overlap, sums of prorated parts, margin and margin %
(none without revenue), minor to major units, the period rules."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.common.exceptions import DomainError
from apps.costs.margins import (
    MarginReport,
    MarginRow,
    margin_amount,
    margin_percent,
    margin_period,
    overlap_fraction,
    to_major,
)
from apps.costs.margins_api import decimal_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)
seconds = st.integers(min_value=0, max_value=400 * 86400)
money = st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False)


@given(length=st.integers(min_value=1, max_value=400 * 86400), cuts=st.lists(seconds, max_size=6))
def test_prorated_parts_of_a_line_add_up_to_the_whole(length, cuts):
    line_end = T0 + timedelta(seconds=length)
    edges = sorted({T0, line_end, *(T0 + timedelta(seconds=c % length) for c in cuts)})
    parts = [
        overlap_fraction(line_start=T0, line_end=line_end, start=a, end=b)
        for a, b in itertools.pairwise(edges)
    ]
    assert all(Decimal(0) <= p <= 1 for p in parts)
    assert abs(sum(parts) - 1) < Decimal("1e-20")


@given(start=seconds, length=st.integers(min_value=1, max_value=86400 * 40), offset=seconds, span=seconds)
def test_overlap_is_between_zero_and_one_and_zero_when_apart(start, length, offset, span):
    line_start = T0 + timedelta(seconds=start)
    line_end = line_start + timedelta(seconds=length)
    window_start = T0 + timedelta(seconds=offset)
    window_end = window_start + timedelta(seconds=span + 1)
    share = overlap_fraction(line_start=line_start, line_end=line_end, start=window_start, end=window_end)
    assert Decimal(0) <= share <= 1
    if window_end <= line_start or window_start >= line_end:
        assert share == 0
    if window_start <= line_start and window_end >= line_end:
        assert share == 1


def test_overlap_examples_and_lines_without_duration():
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    mid = datetime(2026, 1, 16, 12, tzinfo=UTC)
    assert overlap_fraction(line_start=T0, line_end=feb, start=T0, end=mid) == Decimal("0.5")
    assert overlap_fraction(line_start=T0, line_end=T0, start=T0, end=mid) == 1  # a one-time fee, inside
    assert overlap_fraction(line_start=mid, line_end=mid, start=T0, end=mid) == 0  # half-open: `end` is out
    assert overlap_fraction(line_start=T0, line_end=None, start=T0, end=mid) == 1


@given(revenue=money, cost=money)
def test_margin_is_revenue_minus_cost_and_percent_of_revenue(revenue, cost):
    assert margin_amount(revenue=revenue, cost=cost) + cost == revenue
    percent = margin_percent(revenue=revenue, cost=cost)
    if revenue == 0:
        assert percent is None
    else:
        assert percent * revenue / 100 == pytest.approx(revenue - cost)


def test_margin_examples():
    assert margin_percent(revenue=Decimal("0.70"), cost=Decimal("0.30")).quantize(Decimal("0.01")) == Decimal(
        "57.14"
    )
    assert margin_percent(revenue=Decimal(0), cost=Decimal(5)) is None
    assert margin_percent(revenue=Decimal(10), cost=Decimal(15)) == Decimal(-50)


@given(rows=st.lists(st.tuples(st.sampled_from(["USD", "EUR"]), money, money, money), max_size=8))
def test_totals_are_sums_per_currency(rows):
    report = MarginReport(group_by="customer", start=T0, end=T0 + timedelta(days=1))
    for i, (currency, fees, usage, cost) in enumerate(rows):
        report.rows.append(
            MarginRow(
                key=str(i), label="", currency=currency, fee_revenue=fees, usage_revenue=usage, cost=cost
            )
        )
    totals = {t.currency: t for t in report.totals()}
    for currency in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == currency]
        assert totals[currency].revenue == sum(r[1] + r[2] for r in mine)
        assert totals[currency].margin == sum(r[1] + r[2] - r[3] for r in mine)
    ranked = report.ranked()
    assert [r.margin for r in ranked] == sorted((r.margin for r in ranked), reverse=True)


def test_minor_to_major_and_decimal_text():
    assert to_major(50010, "USD") == Decimal("500.10")
    assert to_major(500, "JPY") == Decimal(500)
    assert to_major(1234, "KWD") == Decimal("1.234")
    assert decimal_text(Decimal("1.5")) == "1.50"
    assert decimal_text(Decimal("0.000123000")) == "0.000123"
    assert decimal_text(Decimal(0)) == "0.00"
    assert decimal_text(Decimal("-2")) == "-2.00"
    assert decimal_text(Decimal("1E+3")) == "1000.00"


def test_margin_period_defaults_and_refusals():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert margin_period(start=None, end=None, now=now) == (now - timedelta(days=30), now)
    with pytest.raises(DomainError):
        margin_period(start=now, end=now, now=now)
    with pytest.raises(DomainError):
        margin_period(start=now - timedelta(days=800), end=now, now=now)
