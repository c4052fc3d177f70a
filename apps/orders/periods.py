"""Billing periods of order lines (invoices) and allocation periods of credit benefits: pure date arithmetic,
no database (docs/orders.md, docs/credits.md).

Periods are half-open `[start, end)` in UTC. They begin at the order line's start and turn over on the
order's billing anchor day (clamped to short months, at the start's time of day): with the anchor on the
start's day there is no stub; otherwise a first stub period runs to the first anchor date."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

# PricingInput `billingFrequency` and the order's `billingFrequencyOverride.frequency`, in months.
PRICING_MONTHS = {"Monthly": 1, "Quarterly": 3, "Semi-Annually": 6, "Annual": 12}
OVERRIDE_MONTHS = {"monthly": 1, "quarterly": 3, "semiAnnually": 6, "annual": 12}


def add_months(moment: datetime, months: int, *, day: int | None = None) -> datetime:
    """`moment` moved by whole months, on `day` (default: its own day) clamped to the target month's length."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return moment.replace(year=year, month=month, day=min(day or moment.day, monthrange(year, month)[1]))


def shift(moment: datetime, amount: int, unit: str) -> datetime:
    """`moment` + `amount` days or months (a rollover window)."""
    if unit == "days":
        return moment + timedelta(days=amount)
    return add_months(moment, amount)


def billing_months(
    *, pricing: dict[str, Any], override: str | None = None, override_custom_months: int | None = None
) -> int | None:
    """Months per billing period of a priced line: the order's override, else the pricing's billing frequency,
    else monthly; None for a one-time charge (it has no periods)."""
    if pricing.get("charge_type") == "oneTime" or str(pricing.get("pricing_type", "")).startswith("OneTime"):
        return None
    if override:
        return override_custom_months if override == "custom" else OVERRIDE_MONTHS[override]
    frequency = pricing.get("billing_frequency")
    if frequency == "Custom":
        return int(pricing.get("billing_frequency_custom_months") or 1)
    return PRICING_MONTHS.get(frequency or "Monthly", 1)


def _boundaries(start: datetime, anchor_day: int, months: int) -> Iterator[datetime]:
    yield start
    first = start.replace(day=min(anchor_day, monthrange(start.year, start.month)[1]))
    if first == start:  # starts on its anchor: full periods from the start
        step = 1
        while True:
            yield add_months(start, step * months, day=anchor_day)
            step += 1
    if first < start:  # past this month's anchor: the stub runs to next month's
        first = add_months(first, 1, day=anchor_day)
    step = 0
    while True:
        yield add_months(first, step * months, day=anchor_day)
        step += 1


def period_at(
    *, start: datetime, anchor_day: int, months: int | None, at: datetime, end: datetime | None = None
) -> tuple[datetime, datetime | None] | None:
    """The allocation period containing `at` (`end` truncates the last one), or None before `start` or from
    `end` on. `months=None` is a single period from `start` that never ends (one-time charges)."""
    if at < start or (end is not None and at >= end):
        return None
    if months is None:
        return start, end
    boundaries = _boundaries(start, anchor_day, months)
    current = next(boundaries)
    for following in boundaries:
        if following > at:
            return current, following if end is None else min(following, end)
        current = following
    raise AssertionError("unreachable: boundaries never end")
