"""The arithmetic of invoices (docs/billing.md): which charge periods an invoice carries, proration, rounding,
tax and totals. Pure functions over datetimes, Decimals and Fractions: no database, no Django.

Prices come from `apps.catalog.pricing` (every pricing model); this module only decides *which* period a charge
belongs to and *how much of it* an invoice bills. Amounts are in minor units. Every line is computed exactly
(Decimal, Fraction) and rounded once, half up (ties away from zero), to an int of minor units."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from apps.orders.periods import add_months, period_at

Exact = int | Decimal | Fraction

_MICROSECOND = timedelta(microseconds=1)


# --- rounding, tax, totals --------------------------------------------------------------------------------------


def round_half_up(value: Exact) -> int:
    """An exact amount as an int, half up (ties away from zero, like Decimal's ROUND_HALF_UP): 2.5 → 3,
    -2.5 → -3. Used once per line."""
    exact = Fraction(value)
    magnitude = abs(exact)
    rounded = int(magnitude + Fraction(1, 2))  # floor(|x| + 1/2)
    return rounded if exact >= 0 else -rounded


def line_tax(*, amount: int, rate_percent: Decimal, exempt: bool) -> int:
    """Tax of one line: round(amount * rate / 100), half up; 0 for a tax-exempt customer or a zero rate."""
    if exempt or not rate_percent:
        return 0
    return round_half_up(Fraction(amount) * Fraction(rate_percent) / 100)


def tax_status(*, rate_percent: Decimal, exempt: bool) -> str:
    """`calculated` when a rate applies, else `not_applicable` (§3.8 taxStatus)."""
    return "calculated" if rate_percent and not exempt else "not_applicable"


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax: int
    total: int


def invoice_totals(lines: Iterable[tuple[int, int]]) -> Totals:
    """Σ of (amount, tax) pairs: an invoice's subtotal, tax and total are sums of its rounded lines, so they
    always add up on paper."""
    subtotal = tax = 0
    for amount, line_tax_amount in lines:
        subtotal += amount
        tax += line_tax_amount
    return Totals(subtotal=subtotal, tax=tax, total=subtotal + tax)


# --- proration --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargePeriod:
    """One billing period of a priced line: what it covers `[start, end)` and the full period it is part of
    `[full_start, full_end)`. They differ for a first stub (the line starts off its anchor day) and for a last
    period cut short by the line's or the order's end."""

    start: datetime
    end: datetime
    full_start: datetime
    full_end: datetime

    @property
    def factor(self) -> Fraction:
        return proration_factor(
            start=self.start, end=self.end, full_start=self.full_start, full_end=self.full_end
        )

    @property
    def is_partial(self) -> bool:
        return (self.start, self.end) != (self.full_start, self.full_end)


def proration_factor(*, start: datetime, end: datetime, full_start: datetime, full_end: datetime) -> Fraction:
    """The share of a full period a partial one bills: covered time / full period length, by the second
    (exactly: microseconds as a Fraction). 1 for a full period."""
    full = (full_end - full_start) // _MICROSECOND
    covered = (end - start) // _MICROSECOND
    if full <= 0:
        raise ValueError("a billing period must have a positive length")
    if covered < 0 or covered > full:
        raise ValueError("the covered part must lie within the full period")
    return Fraction(covered, full)


def prorate(amount: Exact, factor: Fraction) -> Fraction:
    """`amount` (exact, minor units) * `factor`, exactly; the caller rounds the line once."""
    return Fraction(amount) * factor


def charge_periods(
    *, start: datetime, anchor_day: int, months: int, end: datetime | None = None, until: datetime
) -> Iterator[ChargePeriod]:
    """The billing periods of a line from `start` (turning over on `anchor_day`, every `months`), truncated by
    `end`, for as long as they begin before `until`."""
    at = start
    while at < until and (end is None or at < end):
        natural = period_at(start=start, anchor_day=anchor_day, months=months, at=at)
        assert natural is not None and natural[1] is not None
        period_start, natural_end = natural
        full_start = add_months(natural_end, -months, day=anchor_day)
        covered_end = natural_end if end is None else min(natural_end, end)
        yield ChargePeriod(
            start=period_start,
            end=covered_end,
            full_start=min(full_start, period_start),
            full_end=natural_end,
        )
        at = natural_end


def periods_starting_in(
    *,
    start: datetime,
    anchor_day: int,
    months: int,
    end: datetime | None,
    window_start: datetime,
    window_end: datetime | None,
) -> list[ChargePeriod]:
    """Periods of a line that begin in `[window_start, window_end)` (billed in advance on that invoice)."""
    if window_end is None:
        return []
    return [
        period
        for period in charge_periods(
            start=start, anchor_day=anchor_day, months=months, end=end, until=window_end
        )
        if period.start >= window_start
    ]


def periods_ending_in(
    *,
    start: datetime,
    anchor_day: int,
    months: int,
    end: datetime | None,
    window_start: datetime,
    window_end: datetime,
) -> list[ChargePeriod]:
    """Periods of a line that close in `(window_start, window_end]` (billed in arrears on that invoice)."""
    return [
        period
        for period in charge_periods(
            start=start, anchor_day=anchor_day, months=months, end=end, until=window_end
        )
        if window_start < period.end <= window_end
    ]


# --- invoice cycles -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    """One invoice of an order: it opens at `start` and bills the order's advance charges for periods beginning
    in `[start, end)` and its arrears charges for periods closing in `(previous_start, start]`. The final
    invoice after the order's end has `start` = the order's end, no `end` and carries only arrears."""

    start: datetime
    end: datetime | None
    previous_start: datetime | None
    is_first: bool
    is_final: bool


def order_cycles(
    *, start: datetime, anchor_day: int, months: int, end: datetime | None, until: datetime
) -> list[Cycle]:
    """The invoices of an order that are due at `until`: every billing cycle that has begun (`start` ≤ until),
    then the final one once the order's end has passed."""
    cycles: list[Cycle] = []
    previous: datetime | None = None
    for period in charge_periods(
        start=start, anchor_day=anchor_day, months=months, end=end, until=until + _MICROSECOND
    ):
        cycles.append(Cycle(period.start, period.end, previous, is_first=previous is None, is_final=False))
        previous = period.start
    if end is not None and end <= until and previous is not None:
        cycles.append(Cycle(end, None, previous, is_first=False, is_final=True))
    return cycles


# --- payment terms ----------------------------------------------------------------------------------------------

_TERMS = re.compile(r"^\s*(?:net\s*[-_ ]?\s*)?(\d{1,4})\s*(?:days?)?\s*$", re.IGNORECASE)
_ON_RECEIPT = re.compile(r"^\s*(due\s+(on|upon)\s+receipt|on\s+receipt|immediate(ly)?)\s*$", re.IGNORECASE)


def payment_terms_days(terms: str | None) -> int | None:
    """Days until an invoice is due from an order's `paymentTerms`: "Net 30", "net30", "NET-45", "30",
    "30 days" → the number; "Due on receipt" → 0; anything else (or nothing) → None (use the default)."""
    if not terms:
        return None
    if _ON_RECEIPT.match(terms):
        return 0
    match = _TERMS.match(terms)
    return int(match.group(1)) if match else None
