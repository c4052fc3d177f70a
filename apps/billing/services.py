"""Billing writes (docs/billing.md): settings, invoice generation from orders, the invoice lifecycle (draft →
posted → voided, reissue), manual payments and their allocation to invoice lines.

Each action is one `@transaction.atomic` entry point. Invoice generation builds each invoice in its own
transaction; the partial unique constraint (organization, order, period_start) makes a concurrent second build
fail, and the loser returns the winner's invoice. Rows are locked in pk order: payment, then invoices."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from apps.billing import invoicing
from apps.billing.exceptions import IdempotencyKeyReused, InvoiceStateError, OrderNotBillable, OverAllocation
from apps.billing.models import (
    BillingSettings,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    PaymentCounter,
)
from apps.billing.selectors import (
    billing_settings_get,
    invoice_get_for_update,
    invoice_line_list,
    invoice_lines_for_allocation,
    invoice_live_for_period,
    invoice_period_starts,
    invoices_for_update,
    payment_allocations_by_key,
    payment_find_by_key,
    payment_get_for_update,
)
from apps.catalog.pricing import (
    cost_plus_amount,
    package_amount,
    per_unit_amount,
    percent_of_total_amount,
    price_point_amount,
)
from apps.catalog.services import price_point_of
from apps.common.currencies import normalize_currency
from apps.common.db import next_number
from apps.common.exceptions import DomainError, NotFound
from apps.credits.selectors import credit_overage_totals
from apps.credits.services import credit_grants_release
from apps.meters.definition import round_quantity
from apps.meters.selectors import meter_definition, meter_get
from apps.orders.periods import billing_months
from apps.orders.selectors import order_line_attributes, order_list, order_seat_list
from apps.rating.selectors import usage_quantity_total

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer
    from apps.orders.models import Order, OrderLineAttribute

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
UNIT_PLACES = Decimal("0.000001")


# --- cost-plus costs: a provider the costs app (above billing) connects ----------------------------------------


class CostPlusCosts:
    """Where cost-plus lines get their AI costs. The costs app sits above billing in the layers, so it connects
    a provider here from its `AppConfig.ready()`:

        cost_plus_costs.connect(lambda *, attribute, start, end: Decimal(...))  # minor units, may be fractional

    Without a provider, `cost` answers None and the line is built from a zero cost, saying so."""

    def __init__(self) -> None:
        self._providers: list[Callable[..., Decimal | None]] = []

    def connect(self, provider: Callable[..., Decimal | None]) -> None:
        if provider not in self._providers:
            self._providers.append(provider)

    def disconnect(self, provider: Callable[..., Decimal | None]) -> None:
        if provider in self._providers:
            self._providers.remove(provider)

    def cost(self, *, attribute: OrderLineAttribute, start: datetime, end: datetime) -> Decimal | None:
        """The attribute's AI costs in `[start, end)`, minor units of the order currency; None when no provider
        is connected (or none knows)."""
        for provider in self._providers:
            value = provider(attribute=attribute, start=start, end=end)
            if value is not None:
                return Decimal(value)
        return None


cost_plus_costs = CostPlusCosts()


# --- outbound webhook events --------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def invoice_event_data(invoice: Invoice) -> dict[str, Any]:
    """The payload of billing-invoice-* events: the invoice's identity, state and money (minor units)."""
    return {
        "id": invoice.display_id,
        "displayNumber": invoice.display_number,
        "orderId": invoice.order.display_id if invoice.order_id else None,
        "customerId": invoice.customer.display_id,
        "status": invoice.status,
        "paymentStatus": invoice.payment_status,
        "currency": invoice.currency,
        "startDate": _iso(invoice.period_start),
        "endDate": _iso(invoice.period_end),
        "issueDate": _iso(invoice.issue_date),
        "postedDate": _iso(invoice.posted_at),
        "dueDate": _iso(invoice.due_at),
        "invoiceTotalExcludingTax": invoice.subtotal_amount,
        "taxAmount": invoice.tax_amount,
        "invoiceTotal": invoice.total_amount,
        "amountPaid": invoice.amount_paid,
        "amountRemaining": invoice.amount_remaining,
    }


def _publish(invoice: Invoice, name: str) -> None:
    """Hand one billing-invoice-* event to the outbound webhooks (in the caller's transaction, so the event
    exists exactly when the change does). A no-op until `apps.webhooks.services.webhook_event_publish` exists."""
    try:
        from apps.webhooks import services as webhook_services  # optional until webhooks lands
    except ImportError:
        return
    publish = getattr(webhook_services, "webhook_event_publish", None)
    if publish is None:
        return
    publish(
        organization=invoice.organization,
        name=name,
        data=invoice_event_data(invoice),
        idempotency_key=f"{name}:{invoice.display_id}",
    )


# --- settings -----------------------------------------------------------------------------------------------

_SETTINGS_FIELDS = (
    "legal_name",
    "address",
    "tax_id",
    "tax_rate",
    "payment_terms_days",
    "stripe_secret_key",
    "stripe_publishable_key",
    "stripe_webhook_secret",
)
ADDRESS_KEYS = ("line1", "line2", "city", "state", "postalCode", "country")


@transaction.atomic
def billing_settings_update(*, organization: Organization, **changes: Any) -> BillingSettings:
    """Save the organization's billing settings (creating the row on first save). `tax_rate` is a percent
    in [0, 100]; `address` keeps only the known keys."""
    unknown = set(changes) - set(_SETTINGS_FIELDS)
    if unknown:
        raise DomainError(f"unknown billing settings: {', '.join(sorted(unknown))}")
    if "tax_rate" in changes:
        rate = Decimal(str(changes["tax_rate"] if changes["tax_rate"] is not None else 0))
        if not rate.is_finite() or rate < 0 or rate > 100:
            raise DomainError("must be a percent between 0 and 100", field="tax_rate")
        if rate != rate.quantize(Decimal("0.0001")):
            raise DomainError("at most 4 decimal places", field="tax_rate")
        changes["tax_rate"] = rate
    if "payment_terms_days" in changes:
        days = changes["payment_terms_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            raise DomainError("must be a whole number of days between 0 and 3650", field="payment_terms_days")
    if "address" in changes:
        address = changes["address"] or {}
        changes["address"] = {key: str(address[key]) for key in ADDRESS_KEYS if address.get(key)}
    settings, _ = BillingSettings.objects.select_for_update().get_or_create(organization=organization)
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.save()
    return settings


# --- generation: planning lines (reads only) ---------------------------------------------------------------


@dataclass
class PlannedLine:
    kind: str
    description: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    unit_price: Decimal
    amount: int
    attribute: OrderLineAttribute | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _months(order: Order, attribute: OrderLineAttribute) -> int | None:
    return billing_months(
        pricing=attribute.pricing,
        override=order.billing_frequency_override,
        override_custom_months=order.billing_frequency_custom_months,
    )


def _cycle_months(order: Order, attributes: list[OrderLineAttribute]) -> int:
    """Months per invoice: the order's frequency override, else the shortest billing period of its lines,
    else monthly."""
    if order.billing_frequency_override:
        return (
            billing_months(
                pricing={},
                override=order.billing_frequency_override,
                override_custom_months=order.billing_frequency_custom_months,
            )
            or 1
        )
    months = [m for attribute in attributes if (m := _months(order, attribute)) is not None]
    return min(months, default=1)


def _line_bounds(order: Order, attribute: OrderLineAttribute) -> tuple[datetime, datetime | None]:
    """When a line attribute bills: from the later of the order's and the line's start to the earlier end."""
    line = attribute.order_line
    start = max(order.start_date, line.start_date)
    ends = [moment for moment in (order.end_date, line.end_date) if moment is not None]
    return start, min(ends) if ends else None


def _price_point(attribute: OrderLineAttribute, currency: str) -> dict[str, Any] | None:
    return next(
        (point for point in attribute.pricing.get("price_points") or () if point.get("currency") == currency),
        None,
    )


def _label(attribute: OrderLineAttribute) -> str:
    line_name = attribute.order_line.name
    return attribute.name if attribute.name == line_name else f"{line_name}: {attribute.name}"


def _proration_note(period: invoicing.ChargePeriod) -> str:
    covered, full = period.end - period.start, period.full_end - period.full_start
    day = timedelta(days=1)
    if covered % day == timedelta(0) and full % day == timedelta(0):
        return f"prorated: {covered // day} of {full // day} days"
    return f"prorated: {float(period.factor) * 100:.2f}% of the period"


def _exact_fee(*, model: str, point: dict[str, Any], quantity: int | Decimal) -> Decimal:
    return price_point_amount(model=model, price_point=price_point_of(point), quantity=quantity)


_FEE_MODELS = {"PerUnit": "PerUnit", "GraduatedPricing": "GraduatedPricing", "VolumePricing": "VolumePricing"}


def _fee_lines(
    *,
    attribute: OrderLineAttribute,
    periods: list[invoicing.ChargePeriod],
    point: dict[str, Any],
    quantity: int,
    kind: str,
) -> list[PlannedLine]:
    """Recurring and seat fees: one line per billing period, prorated by the second for partial periods."""
    pricing = attribute.pricing
    model = _FEE_MODELS.get(pricing.get("pricing_model", ""), "PerUnit")  # PrepaidCredits seats: per unit
    full = _exact_fee(model=model, point=point, quantity=quantity)
    lines = []
    for period in periods:
        factor = period.factor
        amount = invoicing.round_half_up(invoicing.prorate(full, factor))
        unit_price = (
            Decimal(str(point.get("unit_price", 0))) if model == "PerUnit" else _average(full, quantity)
        )
        description = _label(attribute)
        details: dict[str, Any] = {"pricingType": pricing.get("pricing_type"), "fullAmount": str(full)}
        if period.is_partial:
            description = f"{description} ({_proration_note(period)})"
            details.update(
                prorationFactor=f"{factor.numerator}/{factor.denominator}",
                fullPeriodStart=_iso(period.full_start),
                fullPeriodEnd=_iso(period.full_end),
            )
        lines.append(
            PlannedLine(
                kind=kind,
                description=description,
                period_start=period.start,
                period_end=period.end,
                quantity=Decimal(quantity),
                unit_price=unit_price,
                amount=amount,
                attribute=attribute,
                details=details,
            )
        )
    return lines


def _average(amount: Decimal | Fraction, quantity: int | Decimal) -> Decimal:
    """An effective unit price for display (amount / quantity, 6 places); 0 for no quantity."""
    if not quantity:
        return ZERO
    exact = Fraction(amount) / Fraction(quantity)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(UNIT_PLACES)


def _usage_quantity(
    *, order: Order, attribute: OrderLineAttribute, start: datetime, end: datetime
) -> Decimal:
    total = usage_quantity_total(
        organization=order.organization, order_line_attribute_id=attribute.pk, start=start, end=end
    )
    meter_id = attribute.pricing.get("meter_id")
    if meter_id and total:
        try:
            definition = meter_definition(meter=meter_get(organization=order.organization, meter_id=meter_id))
        except NotFound:
            return total
        return Decimal(round_quantity(total, definition.rounding))
    return total


def _usage_amount(*, pricing: dict[str, Any], point: dict[str, Any], quantity: Decimal) -> Decimal:
    """Exact usage amount: package pricing (`package_size`: unitPrice per started package) or the price point's
    model. A usage quantity above maxQuantity is billed, not refused (the maximum limits what is ordered)."""
    if pricing.get("package_size"):
        return package_amount(
            quantity=quantity,
            package_size=int(pricing["package_size"]),
            package_price=Decimal(str(point.get("unit_price", 0))),
        )
    model = _FEE_MODELS.get(pricing.get("pricing_model", ""), "PerUnit")
    return price_point_amount(
        model=model, price_point=price_point_of({**point, "max_quantity": None}), quantity=quantity
    )


def _usage_lines(
    *,
    order: Order,
    attribute: OrderLineAttribute,
    periods: list[invoicing.ChargePeriod],
    point: dict[str, Any],
) -> list[PlannedLine]:
    pricing = attribute.pricing
    lines = []
    for period in periods:
        quantity = _usage_quantity(order=order, attribute=attribute, start=period.start, end=period.end)
        if not quantity:
            continue
        exact = _usage_amount(pricing=pricing, point=point, quantity=quantity)
        per_unit = pricing.get("pricing_model") == "PerUnit" and not pricing.get("package_size")
        details = {"pricingType": pricing.get("pricing_type"), "exactAmount": str(exact)}
        for key in ("event_name", "meter_id", "package_size", "signal_type"):
            if pricing.get(key) is not None:
                details[key] = pricing[key]
        lines.append(
            PlannedLine(
                kind=InvoiceLine.Kind.USAGE,
                description=_label(attribute),
                period_start=period.start,
                period_end=period.end,
                quantity=quantity,
                unit_price=Decimal(str(point.get("unit_price", 0)))
                if per_unit
                else _average(exact, quantity),
                amount=invoicing.round_half_up(exact),
                attribute=attribute,
                details=details,
            )
        )
    return lines


def _cost_plus_lines(
    *, attribute: OrderLineAttribute, periods: list[invoicing.ChargePeriod]
) -> list[PlannedLine]:
    multiplier = Decimal(str(attribute.pricing.get("cost_plus_multiplier", 1)))
    lines = []
    for period in periods:
        cost = cost_plus_costs.cost(attribute=attribute, start=period.start, end=period.end)
        description = f"{_label(attribute)}: AI costs x {multiplier.normalize():f}"
        if cost is None:
            description += " (AI cost tracking is not connected yet: billed at zero cost)"
        exact = cost_plus_amount(cost=cost or ZERO, cost_plus_multiplier=multiplier)
        lines.append(
            PlannedLine(
                kind=InvoiceLine.Kind.COST_PLUS,
                description=description,
                period_start=period.start,
                period_end=period.end,
                quantity=Decimal(1),
                unit_price=exact.quantize(UNIT_PLACES),
                amount=invoicing.round_half_up(exact),
                attribute=attribute,
                details={
                    "cost": str(cost or ZERO),
                    "costPlusMultiplier": str(multiplier),
                    "costKnown": cost is not None,
                },
            )
        )
    return lines


def _percent_lines(
    *, attribute: OrderLineAttribute, periods: list[invoicing.ChargePeriod], base: int
) -> list[PlannedLine]:
    percentage = Decimal(str(attribute.pricing.get("percentage_value", 0)))
    if not base or not periods:
        return []
    exact = percent_of_total_amount(base_amount=abs(base), percentage_value=percentage)
    amount = invoicing.round_half_up(exact) * (1 if base > 0 else -1)
    period = periods[0]
    return [
        PlannedLine(
            kind=InvoiceLine.Kind.PERCENT,
            description=f"{_label(attribute)} ({percentage.normalize():f}% of {base / 100:,.2f})",
            period_start=period.start,
            period_end=period.end,
            quantity=Decimal(1),
            unit_price=Decimal(amount),
            amount=amount,
            attribute=attribute,
            details={"percentageValue": str(percentage), "baseAmount": base},
        )
    ]


def _overage_lines(*, order: Order, start: datetime, end: datetime) -> list[PlannedLine]:
    lines = []
    for total in credit_overage_totals(
        organization=order.organization, order_id=order.pk, start=start, end=end
    ):
        exact = per_unit_amount(quantity=total.overage, unit_price=total.overage_unit_price)
        lines.append(
            PlannedLine(
                kind=InvoiceLine.Kind.OVERAGE,
                description=f"{total.currency_name}: credit overage",
                period_start=start,
                period_end=end,
                quantity=total.overage,
                unit_price=Decimal(total.overage_unit_price),
                amount=invoicing.round_half_up(exact),
                details={"creditsCurrencyId": total.credits_currency_id, "overage": str(total.overage)},
            )
        )
    return lines


def _seat_counts(order: Order) -> dict[int, int]:
    counts: dict[int, int] = {}
    for seat in order_seat_list(order=order):
        counts[seat.order_line_attribute_id] = counts.get(seat.order_line_attribute_id, 0) + 1
    return counts


def _plan(*, order: Order, attributes: list[OrderLineAttribute], cycle: invoicing.Cycle) -> list[PlannedLine]:
    """The lines of one invoice of the order (docs/billing.md "What an invoice carries"). Reads only."""
    anchor, currency = order.billing_anchor, order.currency
    seats = _seat_counts(order)
    planned: list[PlannedLine] = []
    percent: list[tuple[OrderLineAttribute, list[invoicing.ChargePeriod]]] = []

    def advance(attribute, months) -> list[invoicing.ChargePeriod]:
        start, end = _line_bounds(order, attribute)
        periods = invoicing.periods_starting_in(
            start=start,
            anchor_day=anchor,
            months=months,
            end=end,
            window_start=cycle.start,
            window_end=cycle.end,
        )
        if order.paused_at is not None:  # a paused order bills nothing from its pause on
            periods = [p for p in periods if p.start < order.paused_at]
        return periods

    def arrears(attribute, months) -> list[invoicing.ChargePeriod]:
        if cycle.previous_start is None:
            return []
        start, end = _line_bounds(order, attribute)
        return invoicing.periods_ending_in(
            start=start,
            anchor_day=anchor,
            months=months,
            end=end,
            window_start=cycle.previous_start,
            window_end=cycle.start,
        )

    for attribute in attributes:
        pricing = attribute.pricing
        charge, model = pricing.get("charge_type"), pricing.get("pricing_model")
        point = _price_point(attribute, currency)
        months = _months(order, attribute)
        if charge == "oneTime":
            start, _ = _line_bounds(order, attribute)
            in_cycle = cycle.start <= start and (cycle.end is None or start < cycle.end)
            paused = order.paused_at is not None and start >= order.paused_at
            if point is not None and in_cycle and not cycle.is_final and not paused:
                amount = _exact_fee(model="PerUnit", point=point, quantity=attribute.quantity)
                planned.append(
                    PlannedLine(
                        kind=InvoiceLine.Kind.ONE_TIME,
                        description=_label(attribute),
                        period_start=start,
                        period_end=cycle.end or start,
                        quantity=Decimal(attribute.quantity),
                        unit_price=Decimal(str(point.get("unit_price", 0))),
                        amount=invoicing.round_half_up(amount),
                        attribute=attribute,
                        details={
                            "pricingType": pricing.get("pricing_type"),
                            "feeType": pricing.get("fee_type"),
                        },
                    )
                )
            continue
        if months is None:
            continue
        in_arrears = pricing.get("billing_type") == "Arrears"
        if charge == "recurring" and model == "PercentOfTotal":
            percent.append(
                (attribute, arrears(attribute, months) if in_arrears else advance(attribute, months))
            )
        elif charge in ("recurring", "seatBased"):
            if point is None:
                continue
            periods = arrears(attribute, months) if in_arrears else advance(attribute, months)
            if charge == "seatBased":
                quantity, kind = seats.get(attribute.pk, attribute.quantity), InvoiceLine.Kind.SEAT
            else:
                quantity, kind = attribute.quantity, InvoiceLine.Kind.RECURRING
            planned += _fee_lines(
                attribute=attribute, periods=periods, point=point, quantity=quantity, kind=kind
            )
        elif charge == "usage" and model == "CostPlus":
            planned += _cost_plus_lines(attribute=attribute, periods=arrears(attribute, months))
        elif charge == "usage" and model in _FEE_MODELS and point is not None:
            planned += _usage_lines(
                order=order, attribute=attribute, periods=arrears(attribute, months), point=point
            )
        # Prepaid-credit usage burns credits (credits app); only its priced overage is invoiced, below.

    if cycle.previous_start is not None:
        planned += _overage_lines(order=order, start=cycle.previous_start, end=cycle.start)
    base = sum(line.amount for line in planned)
    for attribute, periods in percent:
        planned += _percent_lines(attribute=attribute, periods=periods, base=base)
    return planned


# --- generation: writing invoices ----------------------------------------------------------------------------


def _billed_customer(order: Order) -> Customer:
    return order.billing_customer or order.customer


def _tax_context(*, organization: Organization, customer: Customer) -> tuple[Decimal, bool]:
    settings = billing_settings_get(organization=organization)
    return Decimal(settings.tax_rate or 0), bool(customer.tax_exempt)


def _cycles(order: Order, attributes: list[OrderLineAttribute], until: datetime) -> list[invoicing.Cycle]:
    return invoicing.order_cycles(
        start=order.start_date,
        anchor_day=order.billing_anchor,
        months=_cycle_months(order, attributes),
        end=order.end_date,
        until=until,
    )


def _check_billable(order: Order) -> None:
    if order.creation_state != order.CreationState.ACTIVE:
        raise OrderNotBillable(order.display_id, "it is a draft (activate it first)")


def _build(
    *,
    order: Order,
    attributes: list[OrderLineAttribute],
    cycle: invoicing.Cycle,
    now: datetime,
    reissued_from: Invoice | None = None,
    auto_post: bool,
) -> Invoice | None:
    """Build (and, with `auto_post`, post) the invoice of one cycle in its own transaction. Returns the existing
    live invoice when there is one or a concurrent build wins; None when the cycle has nothing to bill."""
    if (existing := invoice_live_for_period(order=order, period_start=cycle.start)) is not None:
        return existing
    planned = _plan(order=order, attributes=attributes, cycle=cycle)
    if not planned:
        return None
    customer = _billed_customer(order)
    rate, exempt = _tax_context(organization=order.organization, customer=customer)
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                organization=order.organization,
                customer=customer,
                order=order,
                source=Invoice.Source.ORDER_BASED,
                status=Invoice.Status.DRAFT,
                period_start=cycle.start,
                period_end=cycle.end,
                issue_date=now,
                currency=order.currency,
                tax_rate=rate,
                tax_exempt=exempt,
                tax_status=invoicing.tax_status(rate_percent=rate, exempt=exempt),
                billing_contact_id=(order.billing_contact_ids or [None])[0],
                purchase_order_reference=order.purchase_order_reference,
                reissued_from=reissued_from,
            )
            lines = [
                InvoiceLine(
                    organization=order.organization,
                    invoice=invoice,
                    position=position,
                    kind=line.kind,
                    order=order,
                    order_line=line.attribute.order_line if line.attribute else None,
                    order_line_attribute=line.attribute,
                    description=line.description[:500],
                    period_start=line.period_start,
                    period_end=line.period_end,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                    tax_rate=rate,
                    tax_amount=invoicing.line_tax(amount=line.amount, rate_percent=rate, exempt=exempt),
                    details=line.details,
                )
                for position, line in enumerate(planned)
            ]
            InvoiceLine.objects.bulk_create(lines)
            _set_totals(invoice, lines)
            invoice.save(update_fields=["subtotal_amount", "tax_amount", "total_amount", "updated_at"])
            _publish(invoice, "billing-invoice-created")
            if auto_post:
                _post(invoice=invoice, now=now)
    except IntegrityError:
        existing = invoice_live_for_period(order=order, period_start=cycle.start)
        if existing is None:
            raise
        return existing
    return invoice


def _set_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    totals = invoicing.invoice_totals((line.amount, line.tax_amount) for line in lines)
    invoice.subtotal_amount, invoice.tax_amount, invoice.total_amount = (
        totals.subtotal,
        totals.tax,
        totals.total,
    )


def invoice_generate_for_order(*, order: Order, at: datetime | None = None) -> list[Invoice]:
    """Build every invoice of the order due at `at` (default now) that does not exist yet: one per billing
    cycle that has begun, and the final one once the order has ended. Idempotent: a period that has an invoice
    (even a voided one) is not rebuilt, and concurrent runs build each once. Returns the order's live invoices
    of those periods, oldest first. Orders with autoPostInvoices post what they build."""
    now = timezone.now()
    at = min(at or now, now)
    _check_billable(order)
    attributes = order_line_attributes(order=order)
    done = invoice_period_starts(order=order)
    invoices = []
    for cycle in _cycles(order, attributes, at):
        if cycle.start in done:
            invoice = invoice_live_for_period(order=order, period_start=cycle.start)
        else:
            invoice = _build(
                order=order, attributes=attributes, cycle=cycle, now=now, auto_post=order.auto_post_invoices
            )
        if invoice is not None:
            invoices.append(invoice)
    return invoices


def invoice_generation_on_activation(*, order: Order) -> None:
    """orders' `order_activated`: once the activation commits, a task builds the invoices now due."""
    args = (order.organization_id, order.display_id)
    transaction.on_commit(
        lambda: async_task("apps.billing.tasks.generate_order_invoices", *args, group="billing")
    )


def invoices_generate_due(*, organization: Organization, now: datetime | None = None) -> int:
    """The schedule's sweep for one organization: build what each of its activated orders owes up to `now`
    (see invoice_generate_for_order). One failing order is logged and skipped. Returns the invoices built or
    found."""
    now = now or timezone.now()
    count = 0
    for order in order_list(organization=organization, creation_state="active"):
        try:
            count += len(invoice_generate_for_order(order=order, at=now))
        except Exception:  # one broken order must not stop everyone else's invoices
            logger.exception("billing: invoice generation failed for order %s", order.display_id)
    return count


# --- lifecycle ---------------------------------------------------------------------------------------------


def _due_days(invoice: Invoice, settings: BillingSettings) -> int:
    terms = invoice.order.payment_terms if invoice.order_id else None
    days = invoicing.payment_terms_days(terms)
    return settings.payment_terms_days if days is None else days


def _address(address: dict[str, Any] | None) -> dict[str, str | None]:
    address = address or {}
    return {
        "line1": address.get("line1"),
        "line2": address.get("line2"),
        "city": address.get("city"),
        "state": address.get("state"),
        "postalCode": address.get("postalCode") or address.get("zip_code") or address.get("zipCode"),
        "country": address.get("country"),
    }


def decimal_string(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def invoice_snapshot(
    *, invoice: Invoice, lines: list[InvoiceLine], settings: BillingSettings
) -> dict[str, Any]:
    """The frozen form of a posted invoice (docs/billing.md "Snapshot"): what its PDF renders, camelCase keys,
    ISO dates, money in minor units, quantities and unit prices as decimal strings."""
    customer = invoice.customer
    return {
        "invoice": {
            "id": invoice.display_id,
            "displayNumber": invoice.display_number,
            "issueDate": _iso(invoice.issue_date),
            "postedDate": _iso(invoice.posted_at),
            "dueDate": _iso(invoice.due_at),
            "periodStart": _iso(invoice.period_start),
            "periodEnd": _iso(invoice.period_end),
            "currency": invoice.currency,
            "taxRate": decimal_string(invoice.tax_rate),
            "taxExempt": invoice.tax_exempt,
            "subtotal": invoice.subtotal_amount,
            "taxAmount": invoice.tax_amount,
            "total": invoice.total_amount,
            "amountPaid": invoice.amount_paid,
            "amountDue": invoice.amount_remaining,
            "publicUrlToken": invoice.public_url_token,
        },
        "seller": {
            "name": settings.legal_name or invoice.organization.name,
            "address": _address(settings.address),
            "taxId": settings.tax_id or None,
        },
        "customer": {
            "id": customer.display_id,
            "name": customer.legal_name or customer.name,
            "externalId": customer.external_id,
            "email": customer.email or None,
            "address": _address(customer.billing_address),
        },
        "lines": [
            {
                "description": line.description,
                "periodStart": _iso(line.period_start),
                "periodEnd": _iso(line.period_end),
                "quantity": decimal_string(line.quantity),
                "unitPrice": decimal_string(line.unit_price),
                "amount": line.amount,
                "tax": line.tax_amount,
            }
            for line in lines
        ],
    }


def _retax(invoice: Invoice) -> list[InvoiceLine]:
    """Recompute a draft's tax from the current settings and customer (the rate is frozen at posting)."""
    rate, exempt = _tax_context(organization=invoice.organization, customer=invoice.customer)
    lines = list(invoice_line_list(invoice=invoice))
    for line in lines:
        tax = invoicing.line_tax(amount=line.amount, rate_percent=rate, exempt=exempt)
        if (line.tax_amount, line.tax_rate) != (tax, rate):
            line.tax_amount, line.tax_rate = tax, rate
            line.save(update_fields=["tax_amount", "tax_rate", "updated_at"])
    invoice.tax_rate, invoice.tax_exempt = rate, exempt
    invoice.tax_status = invoicing.tax_status(rate_percent=rate, exempt=exempt)
    _set_totals(invoice, lines)
    return lines


def _post(*, invoice: Invoice, now: datetime) -> Invoice:
    """Post a draft the caller holds locked (or just created)."""
    settings = billing_settings_get(organization=invoice.organization)
    lines = _retax(invoice)
    invoice.status = Invoice.Status.POSTED
    invoice.number = next_number(InvoiceCounter, organization=invoice.organization)
    invoice.posted_at = now
    invoice.due_at = now + timedelta(days=_due_days(invoice, settings))
    if invoice.total_amount <= 0:  # nothing to collect: paid on posting
        invoice.payment_status, invoice.paid_at = Invoice.PaymentStatus.PAID, now
    invoice.snapshot = invoice_snapshot(invoice=invoice, lines=lines, settings=settings)
    invoice.save()
    _publish(invoice, "billing-invoice-posted")
    if invoice.order_id is not None:
        credit_grants_release(
            organization=invoice.organization,
            order_id=invoice.order.display_id,
            grant_timing="on_invoice_posted",
            now=now,
        )
    if invoice.payment_status == Invoice.PaymentStatus.PAID:
        _paid(invoice=invoice, now=now)
    elif settings.stripe_secret_key:  # collect: a task charges the default card once this commits
        args = (invoice.organization_id, invoice.pk)
        transaction.on_commit(
            lambda: async_task("apps.billing.stripe_tasks.charge_invoice", *args, group="billing")
        )
    return invoice


def _paid(*, invoice: Invoice, now: datetime) -> None:
    _publish(invoice, "billing-invoice-paid")
    if invoice.order_id is not None:
        credit_grants_release(
            organization=invoice.organization,
            order_id=invoice.order.display_id,
            grant_timing="on_payment",
            now=now,
        )


@transaction.atomic
def invoice_post(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Post a draft: recompute its tax, allocate the next INV-#### number, set posted and due dates (the
    order's paymentTerms, else the settings' default days), freeze the snapshot, release credit grants timed
    on_invoice_posted. Idempotent: posting a posted invoice returns it. Locks the invoice, then the counter."""
    now = now or timezone.now()
    invoice = invoice_get_for_update(invoice=invoice)
    if invoice.status == Invoice.Status.POSTED:
        return invoice
    if invoice.status != Invoice.Status.DRAFT:
        raise InvoiceStateError(
            f"invoice {invoice.display_id} is {invoice.status}; only drafts can be posted",
            invoice_id=invoice.display_id,
            code="INVOICE_NOT_DRAFT",
        )
    return _post(invoice=invoice, now=now)


@transaction.atomic
def invoice_void(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Void a draft or posted invoice that has no payments applied (its lines and totals stay as they were;
    corrections are a reissue). Idempotent. Locks the invoice."""
    now = now or timezone.now()
    invoice = invoice_get_for_update(invoice=invoice)
    if invoice.status == Invoice.Status.VOIDED:
        return invoice
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.POSTED):
        raise InvoiceStateError(
            f"invoice {invoice.display_id} is {invoice.status}", invoice_id=invoice.display_id
        )
    if invoice.allocations.exclude(status=PaymentAllocation.Status.CANCELLED).exists():
        raise InvoiceStateError(
            f"invoice {invoice.display_id} has payments applied; it cannot be voided",
            invoice_id=invoice.display_id,
            code="INVOICE_HAS_PAYMENTS",
        )
    invoice.status = Invoice.Status.VOIDED
    invoice.voided_at = now
    invoice.save(update_fields=["status", "voided_at", "updated_at"])
    return invoice


def invoice_reissue(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """A new draft for the period of a voided order invoice, built from the order as it is now (the
    correction path). Idempotent: while the period has a live invoice, that one is returned."""
    now = now or timezone.now()
    if invoice.status != Invoice.Status.VOIDED:
        raise InvoiceStateError(
            f"invoice {invoice.display_id} is {invoice.status}; only voided invoices are reissued",
            invoice_id=invoice.display_id,
            code="INVOICE_NOT_VOIDED",
        )
    if invoice.order_id is None:
        raise InvoiceStateError("only order invoices can be reissued", invoice_id=invoice.display_id)
    order = invoice.order
    attributes = order_line_attributes(order=order)
    cycle = next(
        (
            c
            for c in _cycles(order, attributes, max(now, invoice.period_start))
            if c.start == invoice.period_start
        ),
        None,
    )
    if cycle is None:
        raise InvoiceStateError(
            f"the order no longer has the period starting {_iso(invoice.period_start)}",
            invoice_id=invoice.display_id,
            code="PERIOD_GONE",
        )
    rebuilt = _build(
        order=order, attributes=attributes, cycle=cycle, now=now, reissued_from=invoice, auto_post=False
    )
    if rebuilt is None:
        raise InvoiceStateError(
            "the period has nothing left to bill", invoice_id=invoice.display_id, code="NOTHING_TO_BILL"
        )
    return rebuilt


@transaction.atomic
def invoice_metadata_update(*, invoice: Invoice, metadata: dict[str, Any] | None) -> Invoice:
    """PUT invoices/{id} {metadata}: replaces the metadata (allowed in every status; it is not part of the
    snapshot)."""
    invoice = invoice_get_for_update(invoice=invoice)
    invoice.metadata = metadata
    invoice.save(update_fields=["metadata", "updated_at"])
    return invoice


# --- payments ----------------------------------------------------------------------------------------------


def _fingerprint(**request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    created: bool


@transaction.atomic
def payment_create(
    *,
    organization: Organization,
    customer: Customer,
    amount: int,
    currency: str,
    payment_type: str,
    payment_date: datetime | None = None,
    status: str = Payment.Status.POSTED,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> PaymentResult:
    """Record money received by hand (§3.14): amount in minor units, next PAY-#### number. With an idempotency
    key, a replay of the same request returns the first payment (`created` False) and another request under
    the same key is refused. Locks the payment counter."""
    code = normalize_currency(currency)
    if code is None:
        raise DomainError(f"{currency!r} is not an ISO 4217 currency code", field="currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DomainError("must be a positive whole number of minor units", field="amount")
    if payment_type not in Payment.Type.values:
        raise DomainError(f"must be one of {', '.join(Payment.Type.values)}", field="paymentType")
    if status not in (Payment.Status.DRAFT, Payment.Status.POSTED):
        raise DomainError("must be draft or posted", field="status")
    fingerprint = _fingerprint(
        customer=customer.pk,
        amount=amount,
        currency=code,
        payment_type=payment_type,
        payment_date=_iso(payment_date),
        status=status,
        metadata=metadata,
    )

    def replay(existing: Payment) -> PaymentResult:
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(idempotency_key or "", "payment")
        return PaymentResult(payment=existing, created=False)

    if idempotency_key and (
        existing := payment_find_by_key(organization=organization, idempotency_key=idempotency_key)
    ):
        return replay(existing)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                organization=organization,
                number=next_number(PaymentCounter, organization=organization),
                customer=customer,
                amount=amount,
                currency=code,
                payment_date=payment_date or timezone.now(),
                payment_type=payment_type,
                status=status,
                metadata=metadata,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
            )
    except IntegrityError:
        existing = payment_find_by_key(organization=organization, idempotency_key=idempotency_key or "")
        if existing is None:
            raise
        return replay(existing)
    return PaymentResult(payment=payment, created=True)


@dataclass(frozen=True)
class AllocationResult:
    allocations: list[PaymentAllocation]
    created: bool


@transaction.atomic
def payment_allocate(
    *,
    organization: Organization,
    payment: Payment,
    allocations: list[dict[str, Any]],
    request_key: str | None = None,
    now: datetime | None = None,
) -> AllocationResult:
    """Apply parts of a posted payment to lines of posted invoices (§6), all or nothing: each `{invoice_line_id,
    amount, currency?}` must be in the payment's currency and customer, and may not take more than the payment
    has left or the line still owes (400 OVER_ALLOCATION). Updates the invoices' amount paid and payment status;
    an invoice paid in full sends billing-invoice-paid and releases credit grants timed on_payment. With a
    request key, a replay answers the first allocations. Locks the payment, then the invoices in pk order."""
    now = now or timezone.now()
    payment = payment_get_for_update(payment=payment)
    fingerprint = _fingerprint(
        payment=payment.pk,
        allocations=[
            [a["invoice_line_id"], a["amount"], (a.get("currency") or "").upper() or None]
            for a in allocations
        ],
    )
    if request_key:
        done = payment_allocations_by_key(organization=organization, request_key=request_key)
        if done:
            if done[0].request_fingerprint != fingerprint:
                raise IdempotencyKeyReused(request_key, "payment allocation")
            return AllocationResult(allocations=done, created=False)
    if not allocations:
        raise DomainError("at least one allocation is required", field="allocations")
    if payment.status != Payment.Status.POSTED:
        raise DomainError(
            f"payment {payment.display_id} is {payment.status}; only posted payments can be allocated",
            code="PAYMENT_NOT_POSTED",
            field="paymentId",
        )
    lines = invoice_lines_for_allocation(
        organization=organization, line_ids=[a["invoice_line_id"] for a in allocations]
    )
    for allocation in allocations:
        if allocation["invoice_line_id"] not in lines:
            raise NotFound("Invoice line", allocation["invoice_line_id"])
    locked = {
        inv.pk: inv
        for inv in invoices_for_update(invoice_ids=sorted({line.invoice_id for line in lines.values()}))
    }
    # Re-read under the invoice locks: what each line already has applied.
    lines = invoice_lines_for_allocation(organization=organization, line_ids=list(lines))
    requested: dict[str, int] = {}
    total = 0
    for index, allocation in enumerate(allocations):
        at = f"allocations[{index}]"
        line = lines[allocation["invoice_line_id"]]
        invoice = locked[line.invoice_id]
        amount = allocation["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise DomainError("must be a positive whole number of minor units", field=f"{at}.amount")
        currency = (allocation.get("currency") or payment.currency).upper()
        if currency != payment.currency or invoice.currency != payment.currency:
            raise DomainError(
                f"the payment is in {payment.currency} and the invoice in {invoice.currency}",
                code="CURRENCY_MISMATCH",
                field=f"{at}.currency",
            )
        if invoice.status != Invoice.Status.POSTED:
            raise DomainError(
                f"invoice {invoice.display_id} is {invoice.status}; payments apply to posted invoices",
                code="INVOICE_NOT_POSTED",
                field=f"{at}.invoiceLineId",
            )
        if invoice.customer_id != payment.customer_id:
            raise DomainError(
                f"invoice {invoice.display_id} bills another customer than payment {payment.display_id}",
                code="CUSTOMER_MISMATCH",
                field=f"{at}.invoiceLineId",
            )
        requested[line.display_id] = requested.get(line.display_id, 0) + amount
        owed = line.total_amount - line.amount_allocated
        if requested[line.display_id] > owed:
            raise OverAllocation(
                f"invoice line {line.display_id} owes {max(owed, 0)}; {requested[line.display_id]} requested",
                field=f"{at}.amount",
            )
        total += amount
    if total > payment.balance:
        raise OverAllocation(
            f"payment {payment.display_id} has {payment.balance} left to allocate; {total} requested",
            field="allocations",
        )
    created = PaymentAllocation.objects.bulk_create(
        [
            PaymentAllocation(
                organization=organization,
                payment=payment,
                invoice=locked[lines[a["invoice_line_id"]].invoice_id],
                invoice_line=lines[a["invoice_line_id"]],
                amount=a["amount"],
                currency=payment.currency,
                type=PaymentAllocation.Type.ALLOCATED,
                status=PaymentAllocation.Status.APPLIED,
                allocation_date=now,
                request_key=request_key or None,
                request_fingerprint=fingerprint,
            )
            for a in allocations
        ]
    )
    payment.allocated_amount += total
    payment.save(update_fields=["allocated_amount", "updated_at"])
    applied: dict[int, int] = {}
    for allocation in created:
        applied[allocation.invoice_id] = applied.get(allocation.invoice_id, 0) + allocation.amount
    for invoice_pk, amount in applied.items():
        invoice = locked[invoice_pk]
        invoice.amount_paid += amount
        fully = invoice.amount_paid >= invoice.total_amount
        invoice.payment_status = Invoice.PaymentStatus.PAID if fully else Invoice.PaymentStatus.PARTIALLY_PAID
        if fully:
            invoice.paid_at = now
        invoice.save(update_fields=["amount_paid", "payment_status", "paid_at", "updated_at"])
        if fully:
            _paid(invoice=invoice, now=now)
    return AllocationResult(allocations=created, created=True)
