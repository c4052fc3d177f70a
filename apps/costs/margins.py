"""Margins: revenue against cost per customer, product, event name and signal over a period (docs/costs.md,
"Margins").

Everything here is Decimal in MAJOR units of its currency (revenue arrives in minor units from billing and is
divided once); nothing is rounded except for display. Revenue and cost in different currencies are never
converted: every row is one (group, currency) pair.

Revenue, per view:
- customer / product: what was invoiced for the period: the lines of draft, pending and posted invoices,
  each prorated by how much of its period `[period_start, period_end)` overlaps `[start, end)`; a line
  without duration (a one-time fee) counts whole when it starts inside. `usage` lines are usage revenue,
  every other kind (recurring, seat, overage, one-time, percent, cost-plus, manual) fee revenue. Credits
  burned are shown beside it (valued as below) but NOT added: the fee that bought them is already revenue.
- event name / signal: what the signals themselves earned: each usage record's quantity times the average
  unit price of the `usage` invoice line that billed it (line amount / line quantity; not yet invoiced:
  no revenue, counted as `uninvoicedQuantity`), plus the credits each signal burned (spent + overage) at
  their effective price: the benefit's overage unit price (`overageUnitPrice`, the price of one more credit);
  credits whose benefit has none are counted as `unpricedCredits` and valued at nothing.
Cost: cost records whose `timestamp` is in the period (signal view: the records linked to the signal), with
an amount; unknown-model records have none and are counted as `unpricedCosts`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDay

from apps.billing.selectors import invoice_lines_overlapping
from apps.catalog.selectors import product_list
from apps.common.currencies import MINOR_UNITS
from apps.common.exceptions import DomainError
from apps.costs.models import CostRecord
from apps.credits.selectors import credit_burns_in_window
from apps.customers.selectors import customer_list
from apps.rating.selectors import usage_records_in_window
from apps.signals.selectors import signal_queryset

if TYPE_CHECKING:
    from apps.accounts.models import Organization

GROUPS = ("customer", "product", "eventName")
USAGE_KINDS = frozenset({"usage"})
ZERO = Decimal(0)
_TICK = timedelta(microseconds=1)


# --- pure arithmetic -----------------------------------------------------------------------------------------


def overlap_fraction(
    *, line_start: datetime, line_end: datetime | None, start: datetime, end: datetime
) -> Decimal:
    """The share of `[line_start, line_end)` inside `[start, end)`, exactly; a line without duration is all
    in (1) when it starts inside, else out (0)."""
    if line_end is None or line_end <= line_start:
        return Decimal(1) if start <= line_start < end else ZERO
    inside = (min(line_end, end) - max(line_start, start)).total_seconds()
    if inside <= 0:
        return ZERO
    return Decimal(int(inside * 1_000_000)) / Decimal(
        int((line_end - line_start).total_seconds() * 1_000_000)
    )


def to_major(minor: Decimal | int, currency: str) -> Decimal:
    """Minor units (cents) to major units (dollars), exactly."""
    return Decimal(minor).scaleb(-MINOR_UNITS.get(currency, 2))


def margin_amount(*, revenue: Decimal, cost: Decimal) -> Decimal:
    return revenue - cost


def margin_percent(*, revenue: Decimal, cost: Decimal) -> Decimal | None:
    """(revenue - cost) / revenue * 100; None without revenue (no percentage of nothing)."""
    if revenue == 0:
        return None
    return (revenue - cost) / revenue * 100


# --- rows --------------------------------------------------------------------------------------------------------


@dataclass
class MarginRow:
    """One group in one currency. `key` is the customer/product display id or the event name; None = the
    costs (or revenue) that have no such group (unattributed customer, no product, no linked signal)."""

    key: str | None
    label: str
    currency: str
    fee_revenue: Decimal = ZERO
    usage_revenue: Decimal = ZERO
    credit_revenue: Decimal = ZERO  # event name / signal views: part of revenue
    credits_burned: Decimal = ZERO
    credits_value: Decimal = ZERO  # customer / product views: shown, not added
    unpriced_credits: Decimal = ZERO
    uninvoiced_quantity: Decimal = ZERO
    cost: Decimal = ZERO
    cost_records: int = 0
    unpriced_costs: int = 0

    @property
    def revenue(self) -> Decimal:
        return self.fee_revenue + self.usage_revenue + self.credit_revenue

    @property
    def margin(self) -> Decimal:
        return margin_amount(revenue=self.revenue, cost=self.cost)

    @property
    def margin_percent(self) -> Decimal | None:
        return margin_percent(revenue=self.revenue, cost=self.cost)


@dataclass
class MarginReport:
    group_by: str
    start: datetime
    end: datetime
    rows: list[MarginRow] = field(default_factory=list)

    def totals(self) -> list[MarginRow]:
        """One row per currency: the sums of every row."""
        by_currency: dict[str, MarginRow] = {}
        for row in self.rows:
            total = by_currency.setdefault(
                row.currency, MarginRow(key=None, label="Total", currency=row.currency)
            )
            _add(total, row)
        return [by_currency[c] for c in sorted(by_currency)]

    def ranked(self) -> list[MarginRow]:
        """Attributed rows, most profitable first (by margin, then key for a stable order)."""
        rows = [r for r in self.rows if r.key is not None]
        return sorted(rows, key=lambda r: (-r.margin, r.currency, r.key or ""))


_SUMMED = (
    "fee_revenue",
    "usage_revenue",
    "credit_revenue",
    "credits_burned",
    "credits_value",
    "unpriced_credits",
    "uninvoiced_quantity",
    "cost",
    "cost_records",
    "unpriced_costs",
)


def _add(total: MarginRow, row: MarginRow) -> None:
    for name in _SUMMED:
        setattr(total, name, getattr(total, name) + getattr(row, name))


# --- queries -----------------------------------------------------------------------------------------------------


def _credit_value(burn: dict) -> tuple[Decimal, Decimal, Decimal]:
    """(credits burned, their value in minor units, credits without a price) of one consumption row."""
    credits = Decimal(burn["spent"]) + Decimal(burn["overage"])
    price = burn["overage_unit_price"]
    if price is None:
        return credits, ZERO, credits
    return credits, credits * Decimal(price), ZERO


def _usage_revenue(records: list[dict], lines: list[dict]) -> list[tuple[dict, Decimal | None, str | None]]:
    """Each usage record with its revenue in minor units and currency: quantity * the average unit price of the
    `usage` line of its order line attribute whose period holds its timestamp; (record, None, None) when no
    invoice line billed it yet."""
    by_attribute: dict[int, list[dict]] = defaultdict(list)
    for line in lines:
        if line["kind"] in USAGE_KINDS and line["order_line_attribute_id"] is not None:
            by_attribute[line["order_line_attribute_id"]].append(line)
    out = []
    for record in records:
        found = None
        for line in by_attribute.get(record["order_line_attribute_id"], ()):
            if line["period_start"] <= record["timestamp"] < line["period_end"]:
                found = line
                break
        if found is None:
            out.append((record, None, None))
            continue
        quantity = Decimal(found["quantity"])
        price = Decimal(found["amount"]) / quantity if quantity else ZERO
        out.append((record, Decimal(record["quantity"]) * price, found["currency"]))
    return out


def _costs(qs, key_field: str) -> Iterable[dict]:
    return (
        qs.values(key_field, "currency")
        .annotate(total=Sum("amount"), records=Count("pk"), unpriced=Count("pk", filter=_unpriced()))
        .order_by()
    )


def _unpriced() -> Q:
    return Q(amount__isnull=True)


def _cost_records(organization: Organization, start: datetime, end: datetime):
    return CostRecord.objects.filter(organization=organization, timestamp__gte=start, timestamp__lt=end)


def margin_report(
    *, organization: Organization, start: datetime, end: datetime, group_by: str
) -> MarginReport:
    """Revenue against cost over `[start, end)`, grouped by customer, product or eventName (module docstring)."""
    if group_by not in GROUPS:
        raise ValueError(group_by)
    rows: dict[tuple[object, str], MarginRow] = {}

    def row(key: object, currency: str) -> MarginRow:
        if (key, currency) not in rows:
            rows[(key, currency)] = MarginRow(
                key=None if key is None else str(key), label="", currency=currency
            )
        return rows[(key, currency)]

    if group_by == "eventName":
        records = usage_records_in_window(organization=organization, start=start, end=end)
        attribute_ids = sorted({r["order_line_attribute_id"] for r in records})
        lines = invoice_lines_overlapping(
            organization=organization, start=start, end=end, order_line_attribute_ids=attribute_ids
        )
        for record, revenue, currency in _usage_revenue(records, lines):
            if revenue is None:
                # not invoiced yet: no revenue and no currency known; kept on the row of its order's currency
                row(record["event_name"], _record_currency(record, lines)).uninvoiced_quantity += Decimal(
                    record["quantity"]
                )
            else:
                row(record["event_name"], currency).usage_revenue += to_major(revenue, currency)
        for burn in credit_burns_in_window(organization=organization, start=start, end=end):
            credits, value, unpriced = _credit_value(burn)
            target = row(burn["event_name"] or None, burn["currency"])
            target.credits_burned += credits
            target.credit_revenue += to_major(value, burn["currency"])
            target.unpriced_credits += unpriced
        signal_events = _signal_event_names(organization, _cost_records(organization, start, end))
        for cost in _costs(_cost_records(organization, start, end), "signal_id"):
            event = signal_events.get(cost["signal_id"]) if cost["signal_id"] is not None else None
            _add_cost(row(event, cost["currency"]), cost)
    else:
        key = "customer_id" if group_by == "customer" else "product_id"
        for line in invoice_lines_overlapping(organization=organization, start=start, end=end):
            share = overlap_fraction(
                line_start=line["period_start"], line_end=line["period_end"], start=start, end=end
            )
            if not share:
                continue
            amount = to_major(Decimal(line["amount"]) * share, line["currency"])
            target = row(line[key], line["currency"])
            if line["kind"] in USAGE_KINDS:
                target.usage_revenue += amount
            else:
                target.fee_revenue += amount
        for burn in credit_burns_in_window(organization=organization, start=start, end=end):
            credits, value, unpriced = _credit_value(burn)
            target = row(burn[key], burn["currency"])
            target.credits_burned += credits
            target.credits_value += to_major(value, burn["currency"])
            target.unpriced_credits += unpriced
        for cost in _costs(_cost_records(organization, start, end), key):
            _add_cost(row(cost[key], cost["currency"]), cost)

    report = MarginReport(group_by=group_by, start=start, end=end, rows=list(rows.values()))
    _label(organization, report)
    return report


def _record_currency(record: dict, lines: list[dict]) -> str:
    for line in lines:
        if line["order_line_attribute_id"] == record["order_line_attribute_id"]:
            return line["currency"]
    return "USD"


def _add_cost(target: MarginRow, cost: dict) -> None:
    target.cost += Decimal(cost["total"] or 0)
    target.cost_records += cost["records"]
    target.unpriced_costs += cost["unpriced"]


def _signal_event_names(organization: Organization, costs) -> dict[int, str]:
    ids = {pk for pk in costs.exclude(signal_id=None).values_list("signal_id", flat=True).distinct()}
    if not ids:
        return {}
    return dict(signal_queryset(organization=organization).filter(pk__in=ids).values_list("pk", "event_name"))


def _label(organization: Organization, report: MarginReport) -> None:
    """Turn pks into display ids and names; None keys get a plain-words label."""
    pks = [int(r.key) for r in report.rows if r.key is not None and report.group_by != "eventName"]
    names: dict[int, tuple[str, str]] = {}
    if pks and report.group_by == "customer":
        names = {
            c.pk: (c.display_id, c.name) for c in customer_list(organization=organization).filter(pk__in=pks)
        }
    elif pks and report.group_by == "product":
        names = {
            p.pk: (p.display_id, p.name) for p in product_list(organization=organization).filter(pk__in=pks)
        }
    for r in report.rows:
        if r.key is None:
            r.label = {
                "customer": "Unattributed (no customer)",
                "product": "No product",
                "eventName": "Not linked to a signal",
            }[report.group_by]
        elif report.group_by == "eventName":
            r.label = r.key
        else:
            display_id, name = names.get(int(r.key), (r.key, r.key))
            r.key, r.label = display_id, name
    report.rows.sort(key=lambda r: (r.key is None, r.label.lower(), r.currency))


# --- one customer / product: cost over time ---------------------------------------------------------------------


@dataclass(frozen=True)
class CostPoint:
    day: datetime
    currency: str
    cost: Decimal
    records: int


def cost_over_time(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    product_id: int | None = None,
) -> list[CostPoint]:
    """Cost per UTC day in `[start, end)` for one customer or product (days without cost are absent)."""
    qs = _cost_records(organization, start, end)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    rows = (
        qs.annotate(day=TruncDay("timestamp"))
        .values("day", "currency")
        .annotate(total=Sum("amount"), records=Count("pk"))
        .order_by("day", "currency")
    )
    return [CostPoint(r["day"], r["currency"], Decimal(r["total"] or 0), r["records"]) for r in rows]


# --- one signal ----------------------------------------------------------------------------------------------------


@dataclass
class SignalMargin:
    signal_id: int
    currency: str | None  # the revenue's (None: nothing invoiced yet)
    usage_revenue: Decimal = ZERO
    credit_revenue: Decimal = ZERO
    credits_burned: Decimal = ZERO
    unpriced_credits: Decimal = ZERO
    uninvoiced_quantity: Decimal = ZERO
    costs: dict[str, Decimal] = field(default_factory=dict)  # currency → Σ amount
    unpriced_costs: int = 0
    records: list[CostRecord] = field(default_factory=list)
    breakdown: list[dict] = field(default_factory=list)  # per vendor, model, currency

    @property
    def revenue(self) -> Decimal:
        return self.usage_revenue + self.credit_revenue

    @property
    def cost(self) -> Decimal:
        """The cost in the revenue's currency (costs in others stay apart in `costs`)."""
        return self.costs.get(self.currency or "USD", ZERO)

    @property
    def margin(self) -> Decimal:
        return margin_amount(revenue=self.revenue, cost=self.cost)

    @property
    def margin_percent(self) -> Decimal | None:
        return margin_percent(revenue=self.revenue, cost=self.cost)


def signal_margin(*, organization: Organization, signal_pk: int) -> SignalMargin:
    """What one signal earned (its usage at its invoice lines' price, its credits at their effective price)
    against the costs linked to it, with those costs broken down by vendor and model."""
    records = usage_records_in_window(organization=organization, start=None, end=None, signal_ids=[signal_pk])
    lines = []
    if records:
        times = [r["timestamp"] for r in records]
        lines = invoice_lines_overlapping(
            organization=organization,
            start=min(times),
            end=max(times) + _TICK,
            order_line_attribute_ids=sorted({r["order_line_attribute_id"] for r in records}),
        )
    result = SignalMargin(signal_id=signal_pk, currency=None)
    for record, revenue, currency in _usage_revenue(records, lines):
        if revenue is None:
            result.uninvoiced_quantity += Decimal(record["quantity"])
            continue
        result.currency = result.currency or currency
        result.usage_revenue += to_major(revenue, currency)
    for burn in credit_burns_in_window(
        organization=organization, start=None, end=None, signal_ids=[signal_pk]
    ):
        credits, value, unpriced = _credit_value(burn)
        result.currency = result.currency or burn["currency"]
        result.credits_burned += credits
        result.credit_revenue += to_major(value, burn["currency"])
        result.unpriced_credits += unpriced
    result.records = list(
        CostRecord.objects.filter(organization=organization, signal_id=signal_pk).order_by("timestamp", "pk")
    )
    breakdown: dict[tuple[str, str, str], dict] = {}
    for rec in result.records:
        if rec.amount is None:
            result.unpriced_costs += 1
        else:
            result.costs[rec.currency] = result.costs.get(rec.currency, ZERO) + rec.amount
        item = breakdown.setdefault(
            (rec.vendor, rec.model, rec.currency),
            {
                "vendor": rec.vendor,
                "model": rec.model,
                "currency": rec.currency,
                "amount": ZERO,
                "records": 0,
                "unpriced": 0,
                "inputTokens": 0,
                "outputTokens": 0,
            },
        )
        item["records"] += 1
        item["amount"] += rec.amount or ZERO
        item["unpriced"] += rec.amount is None
        item["inputTokens"] += (
            (rec.input_tokens or 0) + (rec.cache_read_tokens or 0) + (rec.cache_creation_tokens or 0)
        )
        item["outputTokens"] += rec.output_tokens or 0
    result.breakdown = sorted(breakdown.values(), key=lambda i: (-i["amount"], i["vendor"], i["model"]))
    if result.currency is None and result.costs:
        result.currency = sorted(result.costs)[0]
    return result


# --- the period ----------------------------------------------------------------------------------------------------

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 2


def margin_period(
    *, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The half-open period asked for: `to` defaults to now, `from` to 30 days before `to`; `from` must come
    before `to`, at most two years apart (a margin report reads every line and cost of the period)."""
    end = end or now
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise DomainError("`from` must be before `to`.", field="from")
    if end - start > timedelta(days=MAX_DAYS):
        raise DomainError(f"The period may be at most {MAX_DAYS} days long.", field="to")
    return start, end
