"""Reads of billing: settings, invoices and their lines, payments and allocations; the row-lock helpers that
services use. Every query is scoped to one organization."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.billing.models import (
    BillingSettings,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
)
from apps.common.exceptions import NotFound
from apps.customers.selectors import customer_find_by_external_id

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.orders.models import Order


# --- settings ------------------------------------------------------------------------------------------------


def billing_settings_get(*, organization: Organization) -> BillingSettings:
    """The organization's billing settings; defaults (no tax, 30-day terms) when none were saved. Unsaved
    defaults are not written: services create the row when someone saves settings."""
    found = BillingSettings.objects.filter(organization=organization).first()
    return found if found is not None else BillingSettings(organization=organization)


# --- invoices ------------------------------------------------------------------------------------------------


def _invoices(organization: Organization) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization=organization).select_related("customer", "order")


def _overdue(now: datetime) -> Q:
    return Q(
        status=Invoice.Status.POSTED,
        payment_status__in=[Invoice.PaymentStatus.PENDING, Invoice.PaymentStatus.PARTIALLY_PAID],
        due_at__lt=now,
    )


def invoice_payment_status(invoice: Invoice, *, now: datetime | None = None) -> str:
    """The paymentStatus the API shows: the stored one, or `overdue` for a posted invoice not fully paid whose
    due date has passed."""
    now = now or timezone.now()
    if (
        invoice.status == Invoice.Status.POSTED
        and invoice.payment_status in (Invoice.PaymentStatus.PENDING, Invoice.PaymentStatus.PARTIALLY_PAID)
        and invoice.due_at is not None
        and invoice.due_at < now
    ):
        return Invoice.PaymentStatus.OVERDUE
    return invoice.payment_status


def invoice_list(
    *,
    organization: Organization,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    order_id: str | None = None,
    status: str | None = None,
    payment_status: str | None = None,
    issue_date_from: datetime | None = None,
    issue_date_to: datetime | None = None,
    due_date_from: datetime | None = None,
    due_date_to: datetime | None = None,
    display_number: str | None = None,
    purchase_order_reference: str | None = None,
    currency: str | None = None,
) -> QuerySet[Invoice]:
    """Invoices newest first (§3.8 filters). Date bounds are inclusive; an unknown customer or order matches
    nothing. `paymentStatus=overdue` is derived (posted, unpaid, past due); `pending` excludes overdue ones."""
    qs = _invoices(organization)
    now = timezone.now()
    if customer_id is not None:
        qs = qs.filter(customer__display_id=customer_id)
    if external_customer_id is not None:
        customer = customer_find_by_external_id(organization=organization, external_id=external_customer_id)
        qs = qs.filter(customer=customer) if customer is not None else qs.none()
    if order_id is not None:
        qs = qs.filter(order__display_id=order_id)
    if status:
        qs = qs.filter(status=status)
    if payment_status == Invoice.PaymentStatus.OVERDUE:
        qs = qs.filter(_overdue(now))
    elif payment_status in (Invoice.PaymentStatus.PENDING, Invoice.PaymentStatus.PARTIALLY_PAID):
        qs = qs.filter(payment_status=payment_status).exclude(_overdue(now))
    elif payment_status:
        qs = qs.filter(payment_status=payment_status)
    if issue_date_from:
        qs = qs.filter(issue_date__gte=issue_date_from)
    if issue_date_to:
        qs = qs.filter(issue_date__lte=issue_date_to)
    if due_date_from:
        qs = qs.filter(due_at__gte=due_date_from)
    if due_date_to:
        qs = qs.filter(due_at__lte=due_date_to)
    if display_number is not None:
        number = _display_number(display_number)
        qs = qs.filter(number=number) if number is not None else qs.none()
    if purchase_order_reference is not None:
        qs = qs.filter(purchase_order_reference=purchase_order_reference)
    if currency:
        qs = qs.filter(currency=currency.upper())
    return qs.order_by("-created_at", "-pk")


def _display_number(text: str) -> int | None:
    """`INV-0042` (any case) → 42; anything else → None."""
    prefix, _, digits = text.strip().upper().partition("INV-")
    if prefix or not digits.isdigit():
        return None
    return int(digits)


def invoice_get(*, organization: Organization, invoice_id: str) -> Invoice:
    """By display id (`inv_…`); another organization's id is NotFound."""
    invoice = _invoices(organization).filter(display_id=invoice_id).first()
    if invoice is None:
        raise NotFound("Invoice", invoice_id)
    return invoice


def invoice_find_public(*, organization_id: str, token: str) -> Invoice | None:
    """The invoice a public link names: the organization's display id and the invoice's `publicUrlToken`."""
    return (
        Invoice.objects.filter(organization__display_id=organization_id, public_url_token=token)
        .select_related("organization")
        .first()
    )


def invoice_get_for_update(*, invoice: Invoice) -> Invoice:
    """The invoice row, locked until the transaction ends (services only)."""
    return (
        Invoice.objects.select_for_update(of=("self",)).select_related("customer", "order").get(pk=invoice.pk)
    )


def invoices_for_update(*, invoice_ids: list[int]) -> list[Invoice]:
    """Invoice rows locked in pk order (two allocations touching the same invoices cannot deadlock)."""
    return list(Invoice.objects.select_for_update().filter(pk__in=invoice_ids).order_by("pk"))


def invoice_period_starts(*, order: Order) -> set[datetime]:
    """The period starts that already have an invoice (in any status, voided too: a voided period is
    replaced by reissuing it, never rebuilt by the schedule)."""
    return set(
        Invoice.objects.filter(organization_id=order.organization_id, order=order).values_list(
            "period_start", flat=True
        )
    )


def invoice_live_for_period(*, order: Order, period_start: datetime) -> Invoice | None:
    """The order's invoice for the period that is not voided (at most one, by constraint)."""
    return (
        _invoices_of_order(order)
        .filter(period_start=period_start)
        .exclude(status=Invoice.Status.VOIDED)
        .first()
    )


def _invoices_of_order(order: Order) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization_id=order.organization_id, order=order).select_related(
        "customer", "order"
    )


def _with_paid(lines: QuerySet[InvoiceLine]) -> QuerySet[InvoiceLine]:
    return lines.annotate(
        amount_allocated=Coalesce(
            Sum("allocations__amount", filter=~Q(allocations__status=PaymentAllocation.Status.CANCELLED)),
            Value(0),
            output_field=IntegerField(),
        )
    )


def invoice_line_list(*, invoice: Invoice) -> QuerySet[InvoiceLine]:
    """The invoice's lines in order, each annotated with `amount_allocated` (payments applied to it)."""
    return _with_paid(
        InvoiceLine.objects.filter(organization_id=invoice.organization_id, invoice=invoice).select_related(
            "invoice", "order", "order_line", "order_line_attribute"
        )
    ).order_by("position", "pk")


def invoice_lines_for_allocation(
    *, organization: Organization, line_ids: list[str]
) -> dict[str, InvoiceLine]:
    """Invoice lines by display id, with their invoice and `amount_allocated` (call under the invoices' locks)."""
    lines = _with_paid(
        InvoiceLine.objects.filter(organization=organization, display_id__in=line_ids).select_related(
            "invoice"
        )
    )
    return {line.display_id: line for line in lines}


# --- payments ------------------------------------------------------------------------------------------------


def _payments(organization: Organization) -> QuerySet[Payment]:
    return Payment.objects.filter(organization=organization).select_related("customer", "invoice", "order")


def payment_list(
    *,
    organization: Organization,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    status: str | None = None,
) -> QuerySet[Payment]:
    """Payments newest first; an unknown customer matches nothing."""
    qs = _payments(organization)
    if customer_id is not None:
        qs = qs.filter(customer__display_id=customer_id)
    if external_customer_id is not None:
        customer = customer_find_by_external_id(organization=organization, external_id=external_customer_id)
        qs = qs.filter(customer=customer) if customer is not None else qs.none()
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def payment_get(*, organization: Organization, payment_id: str) -> Payment:
    payment = _payments(organization).filter(display_id=payment_id).first()
    if payment is None:
        raise NotFound("Payment", payment_id)
    return payment


def payment_get_for_update(*, payment: Payment) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("customer").get(pk=payment.pk)


def payment_find_by_key(*, organization: Organization, idempotency_key: str) -> Payment | None:
    return _payments(organization).filter(idempotency_key=idempotency_key).first()


def payment_allocation_list(
    *, organization: Organization, payment_id: str | None = None, invoice_id: str | None = None
) -> QuerySet[PaymentAllocation]:
    """Allocations newest first, by payment and/or invoice display id (unknown ids match nothing)."""
    qs = PaymentAllocation.objects.filter(organization=organization).select_related(
        "payment", "invoice", "invoice_line"
    )
    if payment_id is not None:
        qs = qs.filter(payment__display_id=payment_id)
    if invoice_id is not None:
        qs = qs.filter(invoice__display_id=invoice_id)
    return qs.order_by("-created_at", "-pk")


def payment_allocations_by_key(*, organization: Organization, request_key: str) -> list[PaymentAllocation]:
    return list(
        PaymentAllocation.objects.filter(organization=organization, request_key=request_key)
        .select_related("payment", "invoice", "invoice_line")
        .order_by("pk")
    )


# --- revenue for margins (apps.costs.margins) ----------------------------------------------------------------


def invoice_lines_overlapping(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
    customer_ids: list[int] | None = None,
    order_line_attribute_ids: list[int] | None = None,
) -> list[dict]:
    """The lines of the organization's draft, pending and posted invoices whose period touches `[start, end)` (a zero-length
    line, a one-time fee, counts when its start is inside), as plain rows: customer_id, product_id, kind,
    amount (minor units, before tax), quantity, currency, period_start, period_end, order_line_attribute_id."""
    qs = InvoiceLine.objects.filter(
        organization=organization,
        period_start__lt=end,
        invoice__status__in=(Invoice.Status.DRAFT, Invoice.Status.PENDING, Invoice.Status.POSTED),
    ).filter(Q(period_end__gt=start) | Q(period_start__gte=start))
    if customer_ids is not None:
        qs = qs.filter(invoice__customer_id__in=customer_ids)
    if order_line_attribute_ids is not None:
        qs = qs.filter(order_line_attribute_id__in=order_line_attribute_ids)
    return list(
        qs.order_by("pk").values(
            "kind",
            "amount",
            "quantity",
            "period_start",
            "period_end",
            "order_line_attribute_id",
            customer_id=F("invoice__customer_id"),
            product_id=F("order_line__product_id"),
            currency=F("invoice__currency"),
        )
    )
