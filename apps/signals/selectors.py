from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from apps.catalog.selectors import product_pks_by_reference
from apps.common.exceptions import NotFound
from apps.customers.selectors import customer_pks_by_reference
from apps.signals.models import Signal

if TYPE_CHECKING:
    from apps.accounts.models import Organization


def signal_list(
    *,
    organization: Organization,
    signal_name: str | None = None,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    product_id: str | None = None,
    external_product_id: str | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
) -> QuerySet[Signal]:
    """Signals newest first. Customer and product filters match resolved signals by the resolved row (so an
    alias finds its customer's signals) and unresolved ones by the id as it was sent."""
    qs = Signal.objects.filter(organization=organization)
    if signal_name:
        qs = qs.filter(event_name=signal_name)
    if customer_id or external_customer_id:
        by_display, by_external = customer_pks_by_reference(
            organization=organization,
            display_ids={customer_id} if customer_id else set(),
            external_ids={external_customer_id} if external_customer_id else set(),
        )
        if customer_id:
            qs = qs.filter(Q(customer_id=by_display.get(customer_id, 0)) | Q(customer_ref=customer_id))
        if external_customer_id:
            qs = qs.filter(
                Q(customer_id=by_external.get(external_customer_id, 0))
                | Q(external_customer_id=external_customer_id)
            )
    if product_id or external_product_id:
        by_display, by_external = product_pks_by_reference(
            organization=organization,
            display_ids={product_id} if product_id else set(),
            external_ids={external_product_id} if external_product_id else set(),
        )
        if product_id:
            qs = qs.filter(Q(product_id=by_display.get(product_id, 0)) | Q(product_ref=product_id))
        if external_product_id:
            qs = qs.filter(
                Q(product_id=by_external.get(external_product_id, 0))
                | Q(external_product_id=external_product_id)
            )
    if created_at_from:
        qs = qs.filter(created_at__gte=created_at_from)
    if created_at_to:
        qs = qs.filter(created_at__lte=created_at_to)
    return qs.select_related("customer", "product").order_by("-created_at", "-id")


def signal_get(*, organization: Organization, signal_id: str) -> Signal:
    signal = (
        Signal.objects.filter(organization=organization, display_id=signal_id)
        .select_related("customer", "product")
        .first()
    )
    if signal is None:
        raise NotFound("Signal", signal_id)
    return signal


def signal_queryset(*, organization: Organization) -> QuerySet[Signal]:
    """All of the organization's signals, unordered: the base other apps (meters) build their queries on."""
    return Signal.objects.filter(organization=organization)
