"""Reads of cost records for the other parts of costs (margins, pages) and the layers above."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet, Sum

from apps.common.currencies import MINOR_UNITS
from apps.costs.models import CostRecord, ModelPrice

if TYPE_CHECKING:
    from apps.accounts.models import Organization


def cost_record_list(
    *,
    organization: Organization,
    customer_pk: int | None = None,
    product_pk: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[CostRecord]:
    """Cost records, newest first; `[start, end)` on `timestamp` (when the cost was incurred)."""
    qs = CostRecord.objects.filter(organization=organization)
    if customer_pk is not None:
        qs = qs.filter(customer_id=customer_pk)
    if product_pk is not None:
        qs = qs.filter(product_id=product_pk)
    if start is not None:
        qs = qs.filter(timestamp__gte=start)
    if end is not None:
        qs = qs.filter(timestamp__lt=end)
    return qs.order_by("-timestamp", "-pk")


def customer_costs(
    *, organization: Organization, customer_pk: int, start: datetime, end: datetime
) -> QuerySet[CostRecord]:
    """One customer's cost records over the half-open period `[start, end)`."""
    return cost_record_list(organization=organization, customer_pk=customer_pk, start=start, end=end)


def signal_costs(*, organization: Organization, signal_pk: int) -> QuerySet[CostRecord]:
    """The cost records linked to one signal (by the signal's pk), oldest first."""
    return CostRecord.objects.filter(organization=organization, signal_id=signal_pk).order_by(
        "timestamp", "pk"
    )


def cost_totals(records: QuerySet[CostRecord]) -> dict[str, Decimal]:
    """{currency: total amount} of priced records (unknown_model records have no amount and are left out)."""
    return {
        row["currency"]: row["total"]
        for row in records.filter(amount__isnull=False)
        .order_by()
        .values("currency")
        .annotate(total=Sum("amount"))
    }


def unpriced_count(records: QuerySet[CostRecord]) -> int:
    """How many of `records` could not be priced (unknown_model): shown, never counted as zero."""
    return records.filter(amount__isnull=True).aggregate(n=Count("pk"))["n"]


def cost_plus_provider(*, attribute, start: datetime, end: datetime) -> Decimal:
    """Billing's cost-plus lines (`billing.services.cost_plus_costs`): the priced AI costs in `[start, end)` of
    the order's customer on the line's product, in the order's currency, in its minor units (may be
    fractional; billing rounds once per line). Records in other currencies and unpriced ones (unknown models)
    are not counted (docs/costs.md)."""
    order = attribute.order_line.order
    total = CostRecord.objects.filter(
        organization_id=order.organization_id,
        customer_id=order.customer_id,
        product_id=attribute.order_line.product_id,
        currency=order.currency.upper(),
        timestamp__gte=start,
        timestamp__lt=end,
        amount__isnull=False,
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return total * (10 ** MINOR_UNITS.get(order.currency.upper(), 2))


def model_price_list(*, organization: Organization) -> QuerySet[ModelPrice]:
    return ModelPrice.objects.filter(organization=organization).order_by("vendor", "model")


def unknown_models(*, organization: Organization) -> list[dict]:
    """Models whose usage the price table did not know (records flagged `unknown_model`), with how many
    records and tokens wait for a price: what the model prices page offers to price."""
    return list(
        CostRecord.objects.filter(
            organization=organization,
            kind=CostRecord.Kind.USAGE,
            price_status=CostRecord.PriceStatus.UNKNOWN_MODEL,
        )
        .values("vendor", "model")
        .annotate(records=Count("id"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"))
        .order_by("-records", "vendor", "model")
    )
