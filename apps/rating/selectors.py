"""Reads of rating's output: the usage records of a signal (the dashboard's "what a signal spent")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, QuerySet, Sum

from apps.rating.models import UsageRecord

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization


def usage_records_for_signal(*, organization: Organization, signal_id: int) -> QuerySet[UsageRecord]:
    """The usage records rating wrote for one signal (`signal_id` is its pk), one per order line that took it,
    in the order they were written, with their order, line, product and credit currency."""
    return (
        UsageRecord.objects.filter(organization=organization, signal_id=signal_id)
        .select_related("order", "order_line_attribute__order_line__product", "credits_currency")
        .order_by("pk")
    )


def usage_quantity_total(
    *, organization: Organization, order_line_attribute_id: int, start: datetime, end: datetime
) -> Decimal:
    """Σ quantity of the usage records of one order line attribute whose signal happened in `[start, end)`
    (what an invoice bills for that line and period); 0 when there are none."""
    total = UsageRecord.objects.filter(
        organization=organization,
        order_line_attribute_id=order_line_attribute_id,
        timestamp__gte=start,
        timestamp__lt=end,
    ).aggregate(total=Sum("quantity"))["total"]
    return Decimal(0) if total is None else Decimal(total)


def usage_records_in_window(
    *,
    organization: Organization,
    start: datetime | None,
    end: datetime | None,
    customer_ids: list[int] | None = None,
    signal_ids: list[int] | None = None,
) -> list[dict]:
    """Usage records whose signal happened in `[start, end)` (or of the given signals, any time, when
    `signal_ids` is given), as plain rows for margins: signal_id, customer_id, product_id, event_name,
    order_line_attribute_id, quantity, timestamp."""
    qs = UsageRecord.objects.filter(organization=organization)
    if signal_ids is not None:
        qs = qs.filter(signal_id__in=signal_ids)
    else:
        qs = qs.filter(timestamp__gte=start, timestamp__lt=end)
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=customer_ids)
    return list(
        qs.order_by("pk").values(
            "signal_id",
            "customer_id",
            "event_name",
            "order_line_attribute_id",
            "quantity",
            "timestamp",
            product_id=F("order_line_attribute__order_line__product_id"),
        )
    )
