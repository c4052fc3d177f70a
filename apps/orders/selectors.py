"""Reads of orders, lines, seats and the customer state built from them. Every query is scoped to one
organization (or to an order/customer already resolved within one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from apps.catalog.pricing import price_point_amount, round_line
from apps.catalog.services import price_point_of
from apps.common.exceptions import NotFound
from apps.customers.selectors import customer_find_by_external_id
from apps.orders.models import Order, OrderLine, OrderLineAttribute, OrderSeat

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer


def _orders(organization: Organization) -> QuerySet[Order]:
    return (
        Order.objects.filter(organization=organization)
        .select_related("customer", "billing_customer")
        .prefetch_related(Prefetch("lines__attributes", queryset=OrderLineAttribute.objects.order_by("pk")))
    )


def _status_filter(status: str, now: datetime) -> Q:
    active = Q(creation_state=Order.CreationState.ACTIVE)
    ended = Q(end_date__isnull=False, end_date__lte=now)
    return {
        Order.Status.DRAFT: Q(creation_state=Order.CreationState.DRAFT),
        Order.Status.PAUSED: active & Q(paused_at__isnull=False),
        Order.Status.ENDED: active & Q(paused_at__isnull=True) & ended,
        Order.Status.ACTIVE: active & Q(paused_at__isnull=True) & ~ended,
    }[status]


def order_list(
    *,
    organization: Organization,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    external_id: str | None = None,
    creation_state: str | None = None,
    status: str | None = None,
    start_date_from: datetime | None = None,
    start_date_to: datetime | None = None,
    end_date_from: datetime | None = None,
    end_date_to: datetime | None = None,
) -> QuerySet[Order]:
    """Orders newest first. `external_customer_id` resolves aliases; an unknown customer matches nothing.
    Date bounds are inclusive; end-date bounds never match orders without an end date."""
    qs = _orders(organization)
    if customer_id is not None:
        qs = qs.filter(customer__display_id=customer_id)
    if external_customer_id is not None:
        customer = customer_find_by_external_id(organization=organization, external_id=external_customer_id)
        qs = qs.filter(customer=customer) if customer is not None else qs.none()
    if external_id is not None:
        qs = qs.filter(external_id=external_id)
    if creation_state:
        qs = qs.filter(creation_state=creation_state)
    if status:
        qs = qs.filter(_status_filter(status, timezone.now()))
    if start_date_from:
        qs = qs.filter(start_date__gte=start_date_from)
    if start_date_to:
        qs = qs.filter(start_date__lte=start_date_to)
    if end_date_from:
        qs = qs.filter(end_date__gte=end_date_from)
    if end_date_to:
        qs = qs.filter(end_date__lte=end_date_to)
    return qs.order_by("-created_at", "-pk")


def order_get(*, organization: Organization, order_id: str) -> Order:
    """By display id (`ord_…`); another organization's id is NotFound."""
    order = _orders(organization).filter(display_id=order_id).first()
    if order is None:
        raise NotFound("Order", order_id)
    return order


def order_get_for_update(*, order: Order) -> Order:
    """The order row, locked until the transaction ends (services only, inside `transaction.atomic`)."""
    return Order.objects.select_for_update().select_related("customer").get(pk=order.pk)


def order_line_list(*, order: Order) -> QuerySet[OrderLine]:
    return order.lines.select_related("product").order_by("created_at", "pk")


def order_line_attributes(*, order: Order) -> list[OrderLineAttribute]:
    return list(
        OrderLineAttribute.objects.filter(organization_id=order.organization_id, order_line__order=order)
        .select_related("order_line__product")
        .order_by("order_line__created_at", "order_line__pk", "pk")
    )


def _seats(organization_id: int) -> QuerySet[OrderSeat]:
    return OrderSeat.objects.filter(organization_id=organization_id).select_related(
        "order", "assignee", "order_line_attribute__order_line__product"
    )


def order_seat_list(
    *, order: Order, product_external_id: str | None = None, status: str | None = None
) -> QuerySet[OrderSeat]:
    """The order's seats in creation order (line, attribute, then seat)."""
    qs = _seats(order.organization_id).filter(order=order)
    if product_external_id is not None:
        qs = qs.filter(order_line_attribute__order_line__product__external_id=product_external_id)
    if status == OrderSeat.Status.ASSIGNED:
        qs = qs.filter(assignee__isnull=False)
    elif status == OrderSeat.Status.UNASSIGNED:
        qs = qs.filter(assignee__isnull=True)
    return qs.order_by(
        "order_line_attribute__order_line__created_at", "order_line_attribute_id", "created_at", "pk"
    )


def order_seat_get(*, order: Order, seat_id: str) -> OrderSeat:
    """A seat of the order by its UUID; anything else (another order's seat, not a UUID) is NotFound."""
    try:
        pk = uuid.UUID(str(seat_id))
    except ValueError:
        raise NotFound("Seat", seat_id) from None
    seat = _seats(order.organization_id).filter(order=order, pk=pk).first()
    if seat is None:
        raise NotFound("Seat", seat_id)
    return seat


def order_seats_for_update(*, order: Order, order_line_attribute_id: int | None = None) -> list[OrderSeat]:
    """The order's seats (of one line attribute if given), locked in pk order: single and batch assignments
    lock overlapping sets in the same order, so they cannot deadlock."""
    qs = OrderSeat.objects.select_for_update().filter(organization_id=order.organization_id, order=order)
    if order_line_attribute_id is not None:
        qs = qs.filter(order_line_attribute_id=order_line_attribute_id)
    return list(qs.order_by("pk"))


# --- amounts -------------------------------------------------------------------------------------------------

# Charges with a known amount per billing period; usage, percent-of-total and cost-plus depend on what happens.
_PRICED_CHARGES = ("recurring", "seatBased", "oneTime")
_PRICED_MODELS = {
    "PerUnit": "PerUnit",
    "GraduatedPricing": "GraduatedPricing",
    "VolumePricing": "VolumePricing",
    "PrepaidCredits": "PerUnit",
}


def order_line_attribute_amount(*, attribute: OrderLineAttribute, currency: str) -> int:
    """One billing period of a recurring or seat fee, or a one-time fee, at the attribute's quantity, in minor
    units of `currency` (rounded once); 0 for usage-priced attributes or without a price point in `currency`."""
    pricing = attribute.pricing
    model = _PRICED_MODELS.get(pricing.get("pricing_model", ""))
    if pricing.get("charge_type") not in _PRICED_CHARGES or model is None:
        return 0
    point = next((p for p in pricing.get("price_points") or () if p.get("currency") == currency), None)
    if point is None:
        return 0
    amount = price_point_amount(model=model, price_point=price_point_of(point), quantity=attribute.quantity)
    return round_line(amount=amount, currency=currency)


def order_amount(*, order: Order) -> int:
    """The order amount (docs/orders.md): Σ over its line attributes of order_line_attribute_amount."""
    return sum(
        order_line_attribute_amount(attribute=attribute, currency=order.currency)
        for line in order.lines.all()
        for attribute in line.attributes.all()
    )


# --- customer state ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerOrdersState:
    orders: list[Order]
    seats: list[OrderSeat]


def customer_orders_state(*, customer: Customer) -> CustomerOrdersState:
    """The customer's orders (all states, oldest first) and the seats of its orders that are active now."""
    orders = list(
        Order.objects.filter(organization_id=customer.organization_id, customer=customer).order_by(
            "created_at", "pk"
        )
    )
    now = timezone.now()
    live = [order.pk for order in orders if order.status_at(now) == Order.Status.ACTIVE]
    seats = list(
        _seats(customer.organization_id)
        .filter(order_id__in=live)
        .order_by("order__created_at", "order_line_attribute_id", "created_at", "pk")
    )
    return CustomerOrdersState(orders=orders, seats=seats)


def active_order_attribute_uses_meter(*, organization: Organization, meter_id: str) -> bool:
    """Whether a line attribute of an active or paused order prices from the meter (`pricing["meter_id"]`,
    a meter display id). Paused orders count: they bill again when resumed."""
    now = timezone.now()
    live = _status_filter(Order.Status.ACTIVE, now) | _status_filter(Order.Status.PAUSED, now)
    orders = Order.objects.filter(live, organization=organization)
    return OrderLineAttribute.objects.filter(
        organization=organization, order_line__order__in=orders, pricing__meter_id=meter_id
    ).exists()


# --- rating --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatableLine:
    """A usage line attribute of an activated order, with the dates that say when a signal falls in it."""

    attribute: OrderLineAttribute
    order_id: int
    customer_id: int
    product_id: int
    starts: datetime
    ends: datetime | None  # the earlier of the order's and the line's end, if any
    paused_at: datetime | None

    def covers(self, at: datetime) -> bool:
        """Whether a signal that happened `at` is billed by this line: inside [start, end) and not while the
        order is paused (a paused order bills nothing from its pause on)."""
        if at < self.starts or (self.ends is not None and at >= self.ends):
            return False
        return self.paused_at is None or at < self.paused_at


def ratable_usage_lines(
    *, organization: Organization, customer_ids: set[int]
) -> dict[int, list[RatableLine]]:
    """Usage line attributes (charge type usage) of the customers' activated orders, by customer pk, oldest
    order first. Ended and paused orders are included: `covers` decides by the signal's own timestamp."""
    attributes = (
        OrderLineAttribute.objects.filter(
            organization=organization,
            order_line__order__customer_id__in=customer_ids,
            order_line__order__creation_state=Order.CreationState.ACTIVE,
            pricing__charge_type="usage",
        )
        .select_related("order_line__order")
        .order_by("order_line__order__created_at", "order_line__order_id", "pk")
    )
    lines: dict[int, list[RatableLine]] = {}
    for attribute in attributes:
        line, order = attribute.order_line, attribute.order_line.order
        ends = [end for end in (order.end_date, line.end_date) if end is not None]
        lines.setdefault(order.customer_id, []).append(
            RatableLine(
                attribute=attribute,
                order_id=order.pk,
                customer_id=order.customer_id,
                product_id=line.product_id,
                starts=max(order.start_date, line.start_date),
                ends=min(ends) if ends else None,
                paused_at=order.paused_at,
            )
        )
    return lines
