"""Every write to orders: create, update, delete, activate, seat assignment. Each entry point is one
`@transaction.atomic` action that checks everything before it writes, so bad input changes nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.pricing import PricingError
from apps.catalog.selectors import catalog_pricing_for_order, credit_currency_get, product_get
from apps.catalog.services import pricing_clean
from apps.common.db import next_number, unique_or_error
from apps.common.exceptions import DomainError, NotFound, ReferenceNotFound
from apps.common.hooks import Hook
from apps.customers.selectors import contact_get, customer_get, customer_user_get
from apps.orders.exceptions import OrderNotActivatable, OrderNotDraft, SeatTaken
from apps.orders.models import Order, OrderCounter, OrderLine, OrderLineAttribute, OrderSeat
from apps.orders.selectors import (
    order_get_for_update,
    order_line_attribute_amount,
    order_line_attributes,
    order_seat_get,
    order_seats_for_update,
)

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.catalog.models import CreditCurrency, Product
    from apps.customers.models import Customer, CustomerUser


# --- helpers -------------------------------------------------------------------------------------------------


def _customer_ref(*, organization: Organization, customer_id: str, field: str) -> Customer:
    try:
        return customer_get(organization=organization, customer_id=customer_id)
    except NotFound:
        raise ReferenceNotFound("Customer", customer_id, field=field) from None


def _contact_ids(*, organization: Organization, contact_ids: list[str]) -> list[str]:
    for index, contact_id in enumerate(contact_ids):
        try:
            contact_get(organization=organization, contact_id=contact_id)
        except NotFound:
            raise ReferenceNotFound("Contact", contact_id, field=f"billingContactIds[{index}]") from None
    return list(contact_ids)


def _check_dates(start: datetime, end: datetime | None, *, field: str = "endDate") -> None:
    if end is not None and end <= start:
        raise DomainError("must be after startDate", field=field)


def _frequency_override(value: dict[str, Any] | None) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    frequency, months = value["frequency"], value.get("custom_months")
    if frequency == Order.Frequency.CUSTOM and months is None:
        raise DomainError(
            "is required when frequency is custom", field="billingFrequencyOverride.customMonths"
        )
    if frequency != Order.Frequency.CUSTOM and months is not None:
        raise DomainError("is only used with frequency custom", field="billingFrequencyOverride.customMonths")
    return frequency, months


def _external_id_taken(external_id: str | None) -> str:
    return f"externalId {external_id!r} is already used by another order"


def _check_external_id_free(
    *, organization: Organization, external_id: str | None, order: Order | None = None
):
    if external_id is None:
        return
    qs = Order.objects.filter(organization=organization, external_id=external_id)
    if order is not None:
        qs = qs.exclude(pk=order.pk)
    if qs.exists():
        raise DomainError(_external_id_taken(external_id), code="DUPLICATE", field="external_id")


# --- line pricing: the §4.4 override vocabulary → a stored PricingInput ---------------------------------------

_PRICING_TYPES = {
    ("recurring", "perUnit"): "RecurringPerUnit",
    ("recurring", "flat"): "RecurringPerUnit",  # a flat fee is per unit at quantity 1
    ("recurring", "graduatedPricing"): "RecurringGraduated",
    ("recurring", "volumePricing"): "RecurringVolume",
    ("usage", "perUnit"): "UsagePerUnit",
    ("usage", "graduatedPricing"): "UsageGraduated",
    ("usage", "volumePricing"): "UsageVolume",
    ("usage", "prepaidCredits"): "UsagePrepaidCredits",
    ("usage", "bracketedPrepaidCredits"): "UsageBracketedPrepaidCredits",
    ("oneTime", "perUnit"): "OneTimePerUnit",
    ("oneTime", "flat"): "OneTimePerUnit",
    ("seatBased", "perUnit"): "SeatBasedPerUnit",
    ("seatBased", "graduatedPricing"): "SeatBasedGraduated",
    ("seatBased", "volumePricing"): "SeatBasedVolume",
    ("seatBased", "prepaidCredits"): "SeatBasedPrepaidCredits",
}
_FREQUENCIES = {
    "monthly": "Monthly",
    "quarterly": "Quarterly",
    "semiAnnually": "Semi-Annually",
    "annual": "Annual",
    "custom": "Custom",
}
_BILLING_TYPES = {"advance": "Advance", "arrears": "Arrears"}
_COPIED_KEYS = (
    "event_name",
    "billing_frequency_custom_months",
    "signal_type",
    "credits_currency_id",
    "credit_cost",
    "overage_unit_price",
    "credit_rollover_amount",
    "pricing_input",
    "credit_unit_brackets",
)


def _tiers(tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """§4.4 tiers may omit lowerBound: a tier then starts where the previous one ended (the first at 0)."""
    filled, previous_upper = [], 0
    for tier in tiers:
        tier = {k: v for k, v in tier.items() if v is not None}
        tier.setdefault("lower_bound", previous_upper if previous_upper is not None else 0)
        previous_upper = tier.get("upper_bound")
        filled.append(tier)
    return filled


def override_pricing_input(*, pricing: dict[str, Any], currency: str, field: str) -> dict[str, Any]:
    """Translate a shape-validated §4.4 override into a PricingInput dict (snake_case, as the catalog's PricingIn
    produces): chargeType+pricingModel → pricingType, lowercase enums → PricingInput's, the single price point
    → a one-element list in the order currency unless it names one."""
    kind = _PRICING_TYPES.get((pricing["charge_type"], pricing["pricing_model"]))
    if kind is None:
        raise PricingError(
            f"{pricing['pricing_model']} is not a pricing model of chargeType {pricing['charge_type']}",
            field=f"{field}.pricingModel",
        )
    point = {k: v for k, v in pricing["price_points"].items() if v is not None}
    point["currency"] = point.get("currency") or currency
    if "tiers" in point:
        point["tiers"] = _tiers(point["tiers"])
    result: dict[str, Any] = {"pricing_type": kind, "price_points": [point]}
    for key in _COPIED_KEYS:
        if pricing.get(key) is not None:
            result[key] = pricing[key]
    if pricing.get("billing_frequency") is not None:
        result["billing_frequency"] = _FREQUENCIES[pricing["billing_frequency"]]
    if pricing.get("billing_type") is not None:
        result["billing_type"] = _BILLING_TYPES[pricing["billing_type"]]
    return result


def _single_point_field(error: DomainError) -> DomainError:
    # The override sends one price point, not a list: name it as sent.
    if error.field:
        error.field = error.field.replace(".pricePoints[0]", ".pricePoints")
    return error


def _benefit_snapshot(
    benefit: dict[str, Any], currency: CreditCurrency, source_id: str | None
) -> dict[str, Any]:
    return {
        "source_benefit_id": source_id,
        "credits_currency_id": currency.pk,
        "credits_currency": currency.display_id,
        "amount": str(Decimal(str(benefit["amount"]))),
        "recipient": benefit.get("recipient") or "organization",
        "is_infinite_total": bool(benefit.get("is_infinite_total", False)),
        "allocation_cadence": benefit.get("allocation_cadence") or "upfront",
        "credit_grant_timing": benefit.get("credit_grant_timing"),
        "overage_unit_price": benefit.get("overage_unit_price"),
        "rollover_amount": None
        if benefit.get("rollover_amount") is None
        else str(benefit["rollover_amount"]),
        "rollover_duration": benefit.get("rollover_duration"),
        "rollover_duration_unit": benefit.get("rollover_duration_unit"),
    }


_BENEFIT_FIELDS = (
    "amount",
    "recipient",
    "is_infinite_total",
    "allocation_cadence",
    "credit_grant_timing",
    "overage_unit_price",
    "rollover_amount",
    "rollover_duration",
    "rollover_duration_unit",
)


def _catalog_benefit_snapshot(benefit) -> dict[str, Any]:
    return _benefit_snapshot(
        {name: getattr(benefit, name) for name in _BENEFIT_FIELDS},
        benefit.credits_currency,
        benefit.display_id,
    )


def _override_benefits(
    *, organization: Organization, benefits: list[dict[str, Any]], catalog: dict[str, Any], field: str
) -> list[dict[str, Any]]:
    """§4.4 `creditBenefits`: `id` names a credit benefit of the product's catalog pricing whose fields are the
    defaults; without such a benefit `creditsCurrencyId` is required."""
    snapshots = []
    for index, benefit in enumerate(benefits):
        where = f"{field}[{index}]"
        source = catalog.get(benefit["id"])
        values = {name: getattr(source, name) for name in _BENEFIT_FIELDS} if source is not None else {}
        values.update({k: v for k, v in benefit.items() if v is not None})
        if benefit.get("credits_currency_id") is not None:
            try:
                currency = credit_currency_get(
                    organization=organization, currency_id=benefit["credits_currency_id"]
                )
            except NotFound:
                raise ReferenceNotFound(
                    "Credit currency", benefit["credits_currency_id"], field=f"{where}.creditsCurrencyId"
                ) from None
            if currency.status != "active":
                raise DomainError("credit currency is archived", field=f"{where}.creditsCurrencyId")
        elif source is not None:
            currency = source.credits_currency
        else:
            raise DomainError(
                f"is required: {benefit['id']!r} is not a credit benefit of this product",
                field=f"{where}.creditsCurrencyId",
            )
        if (values.get("rollover_duration") is None) != (values.get("rollover_duration_unit") is None):
            raise DomainError(
                "rolloverDuration and rolloverDurationUnit go together", field=f"{where}.rolloverDuration"
            )
        if values.get("rollover_duration") is not None and values.get("rollover_amount") is None:
            raise DomainError("a rollover duration needs a rolloverAmount", field=f"{where}.rolloverAmount")
        snapshots.append(_benefit_snapshot(values, currency, benefit["id"]))
    return snapshots


def _check_quantity(*, attribute: OrderLineAttribute, currency: str, field: str) -> None:
    try:
        order_line_attribute_amount(attribute=attribute, currency=currency)
    except PricingError as error:
        raise DomainError(error.message, code=error.code, field=field) from None


def _planned_line(
    *, organization: Organization, line: dict[str, Any], index: int, currency: str
) -> tuple[Product, list[OrderLineAttribute]]:
    """The product and the (unsaved) priced attributes of one requested line; raises naming `lines[i]…`."""
    where = f"lines[{index}]"
    try:
        product = product_get(organization=organization, product_id=line["product_id"])
    except NotFound:
        raise ReferenceNotFound("Product", line["product_id"], field=f"{where}.productId") from None
    if product.archived_at is not None or not product.active:
        state = "archived" if product.archived_at is not None else "inactive"
        raise DomainError(f"product {product.display_id} is {state}", field=f"{where}.productId")
    catalog = catalog_pricing_for_order(product=product, plan_id=line.get("plan_id"))
    attributes = []
    if line.get("attributes") is None:
        for copied in catalog:
            attributes.append(
                OrderLineAttribute(
                    organization=organization,
                    product_attribute=copied.product_attribute,
                    plan_id=copied.plan_id,
                    name=copied.name,
                    quantity=1,
                    pricing=copied.pricing,
                    pricing_type=copied.pricing["pricing_type"],
                    event_name=copied.pricing.get("event_name"),
                    credits_currency=copied.credits_currency,
                    credit_benefits=[_catalog_benefit_snapshot(b) for b in copied.credit_benefits],
                )
            )
        return product, attributes
    catalog_benefits = {b.display_id: b for copied in catalog for b in copied.credit_benefits}
    for position, requested in enumerate(line["attributes"]):
        at = f"{where}.attributes[{position}]"
        pricing_in = requested["pricing"]
        try:
            pricing, credits_currency = pricing_clean(
                organization=organization,
                pricing=override_pricing_input(pricing=pricing_in, currency=currency, field=f"{at}.pricing"),
                field=f"{at}.pricing",
                product=product,
            )
        except DomainError as error:
            raise _single_point_field(error) from None
        benefits = _override_benefits(
            organization=organization,
            benefits=pricing_in.get("credit_benefits") or [],
            catalog=catalog_benefits,
            field=f"{at}.pricing.creditBenefits",
        )
        attribute = OrderLineAttribute(
            organization=organization,
            name=requested["name"],
            quantity=requested.get("quantity") or 1,
            pricing=pricing,
            pricing_type=pricing["pricing_type"],
            event_name=pricing.get("event_name"),
            credits_currency=credits_currency,
            credit_benefits=benefits,
        )
        _check_quantity(attribute=attribute, currency=currency, field=f"{at}.quantity")
        attributes.append(attribute)
    return product, attributes


# --- orders --------------------------------------------------------------------------------------------------


@transaction.atomic
def order_create(
    *,
    organization: Organization,
    customer_id: str,
    lines: list[dict[str, Any]] | None = None,
    creation_state: str | None = None,
    **fields: Any,
) -> Order:
    """Create an order and its lines, snapshotting each line's pricing (copied from the catalog, or the §4.4
    override). `creation_state="active"` activates it in the same transaction. Locks the order counter."""
    fields = {key: value for key, value in fields.items() if value is not None}
    customer = _customer_ref(organization=organization, customer_id=customer_id, field="customerId")
    if "billing_customer_id" in fields:
        fields["billing_customer"] = _customer_ref(
            organization=organization,
            customer_id=fields.pop("billing_customer_id"),
            field="billingCustomerId",
        )
    if "billing_contact_ids" in fields:
        fields["billing_contact_ids"] = _contact_ids(
            organization=organization, contact_ids=fields["billing_contact_ids"]
        )
    start = fields.setdefault("start_date", timezone.now())
    _check_dates(start, fields.get("end_date"))
    fields.setdefault("billing_anchor", start.day)
    frequency, months = _frequency_override(fields.pop("billing_frequency_override", None))
    currency = fields.setdefault("currency", customer.default_currency)
    _check_external_id_free(organization=organization, external_id=fields.get("external_id"))
    planned = []
    for index, line in enumerate(lines or []):
        line_start, line_end = line.get("start_date") or start, line.get("end_date") or fields.get("end_date")
        _check_dates(line_start, line_end, field=f"lines[{index}].endDate")
        product, attributes = _planned_line(
            organization=organization, line=line, index=index, currency=currency
        )
        planned.append((line, line_start, line_end, product, attributes))

    number = next_number(OrderCounter, organization=organization)
    fields.setdefault("name", f"Order #{number}")
    with unique_or_error(_external_id_taken(fields.get("external_id")), field="external_id"):
        order = Order.objects.create(
            organization=organization,
            customer=customer,
            number=number,
            billing_frequency_override=frequency,
            billing_frequency_custom_months=months,
            **fields,
        )
    for line, line_start, line_end, product, attributes in planned:
        order_line = OrderLine.objects.create(
            organization=organization,
            order=order,
            product=product,
            name=line.get("name") or product.name,
            description=line.get("description")
            if line.get("description") is not None
            else product.description,
            start_date=line_start,
            end_date=line_end,
            line_type=line.get("line_type") or OrderLine.LineType.STANDARD,
        )
        for attribute in attributes:
            attribute.order_line = order_line
        OrderLineAttribute.objects.bulk_create(attributes)
    if creation_state == Order.CreationState.ACTIVE:
        _activate(order=order)
    return order


_UPDATABLE = {
    "name",
    "start_date",
    "end_date",
    "subscription_terms",
    "billing_anchor",
    "payment_terms",
    "external_id",
    "metadata",
    "billing_contact_ids",
    "auto_post_invoices",
    "auto_send_billing_emails",
    "auto_send_payment_emails",
    "purchase_order_reference",
}
_NOT_NULL = {
    "name",
    "start_date",
    "billing_anchor",
    "auto_post_invoices",
    "auto_send_billing_emails",
    "auto_send_payment_emails",
}


@transaction.atomic
def order_update(*, order: Order, **changes: Any) -> Order:
    """Partial update of a draft or active order (null clears; required fields ignore null). `creation_state`
    "active" activates a draft; an active order cannot go back to draft. Locks the order; bumps its version."""
    order = order_get_for_update(order=order)
    organization = order.organization
    creation_state = changes.pop("creation_state", None)
    if creation_state == Order.CreationState.DRAFT and order.creation_state == Order.CreationState.ACTIVE:
        raise DomainError("an active order cannot go back to draft", field="creationState")
    values = {k: v for k, v in changes.items() if k in _UPDATABLE and not (v is None and k in _NOT_NULL)}
    if "billing_contact_ids" in values:
        values["billing_contact_ids"] = _contact_ids(
            organization=organization, contact_ids=values["billing_contact_ids"] or []
        )
    if "billing_customer_id" in changes:
        customer_id = changes["billing_customer_id"]
        values["billing_customer"] = (
            None
            if customer_id is None
            else _customer_ref(organization=organization, customer_id=customer_id, field="billingCustomerId")
        )
    _check_dates(values.get("start_date", order.start_date), values.get("end_date", order.end_date))
    if "external_id" in values:
        _check_external_id_free(organization=organization, external_id=values["external_id"], order=order)
    changed = [key for key, value in values.items() if getattr(order, key) != value]
    if changed:
        for key in changed:
            setattr(order, key, values[key])
        order.version += 1
        with unique_or_error(_external_id_taken(order.external_id), field="external_id"):
            order.save(update_fields=[*changed, "version", "updated_at"])
    if creation_state == Order.CreationState.ACTIVE and order.creation_state == Order.CreationState.DRAFT:
        _activate(order=order)
    return order


@transaction.atomic
def order_delete(*, order: Order) -> None:
    """Delete a draft order with its lines (an active order has started billing: OrderNotDraft)."""
    order = order_get_for_update(order=order)
    if order.creation_state != Order.CreationState.DRAFT:
        raise OrderNotDraft(order.display_id)
    order.delete()


@transaction.atomic
def order_activate(*, order: Order) -> Order:
    """Activate a draft order: checks it, creates the seats of its seat-based line attributes, stamps
    activated_at, bumps the version. An active order is returned unchanged. Locks the order."""
    order = order_get_for_update(order=order)
    if order.creation_state == Order.CreationState.ACTIVE:
        return order
    _activate(order=order)
    return order


@transaction.atomic
def order_pause(*, order: Order) -> Order:
    """Pause an active order (its status reads `paused` until resumed). Drafts can't be paused. Locks the order."""
    order = order_get_for_update(order=order)
    if order.creation_state != Order.CreationState.ACTIVE:
        raise DomainError("only an active order can be paused", code="ORDER_NOT_ACTIVE")
    if order.paused_at is None:
        order.paused_at = timezone.now()
        order.version += 1
        order.save(update_fields=["paused_at", "version", "updated_at"])
    return order


@transaction.atomic
def order_resume(*, order: Order) -> Order:
    """Resume a paused order. Locks the order."""
    order = order_get_for_update(order=order)
    if order.paused_at is not None:
        order.paused_at = None
        order.version += 1
        order.save(update_fields=["paused_at", "version", "updated_at"])
    return order


# Sent inside the activation transaction (`order=`); credits connects to grant the order's benefits.
order_activated = Hook("orders.activated")


def _activate(*, order: Order) -> None:
    # Callers hold the order's row lock (or just created it) inside their transaction.
    try:
        customer_get(organization=order.organization, customer_id=order.customer.display_id)
    except NotFound:
        raise OrderNotActivatable("the order's customer no longer exists", field="customerId") from None
    _check_dates(order.start_date, order.end_date)
    attributes = order_line_attributes(order=order)
    if not order.lines.exists():
        raise OrderNotActivatable("an order needs at least one line to be activated", field="lines")
    for attribute in attributes:
        points = attribute.pricing.get("price_points") or []
        if points and all(point.get("currency") != order.currency for point in points):
            currencies = ", ".join(sorted(point.get("currency", "?") for point in points))
            raise OrderNotActivatable(
                f"line {attribute.order_line.name!r}, attribute {attribute.name!r} has no price point in the "
                f"order currency {order.currency} (it has {currencies})",
                field="currency",
            )
        _check_quantity(attribute=attribute, currency=order.currency, field="quantity")
    OrderSeat.objects.bulk_create(
        OrderSeat(organization_id=order.organization_id, order=order, order_line_attribute=attribute)
        for attribute in attributes
        if attribute.is_seat_based
        for _ in range(attribute.quantity)
    )
    order.creation_state = Order.CreationState.ACTIVE
    order.activated_at = timezone.now()
    order.version += 1
    order.save(update_fields=["creation_state", "activated_at", "version", "updated_at"])
    order_activated.send(order=order)


# --- seats ---------------------------------------------------------------------------------------------------


def _assignee(*, order: Order, user_external_id: str | None, field: str) -> CustomerUser | None:
    if user_external_id is None:
        return None
    try:
        user = customer_user_get(customer=order.customer, user_external_id=user_external_id)
    except NotFound:
        raise ReferenceNotFound("Customer user", user_external_id, field=field) from None
    if user.status != "active":
        raise DomainError(f"customer user {user_external_id!r} is deactivated", field=field)
    return user


def _apply(
    *, state: dict, attribute_of: dict, seat_pk, user: CustomerUser | None, seat_id: str, field: str
) -> None:
    """Assign (or clear) one seat in the in-memory `state` (seat pk → user pk), refusing what would break
    the rules: a seat held by someone else, a second seat of one line attribute for a user."""
    current = state[seat_pk]
    if user is None or current == user.pk:
        state[seat_pk] = None if user is None else current
        return
    if current is not None:
        raise SeatTaken(f"seat {seat_id} is assigned to another user; unassign it first", field=field)
    attribute = attribute_of[seat_pk]
    if any(holder == user.pk and attribute_of[pk] == attribute for pk, holder in state.items()):
        raise SeatTaken(
            f"customer user {user.external_id!r} already holds a seat of this order line",
            code="USER_HAS_SEAT",
            field=field,
        )
    state[seat_pk] = user.pk


def _write(seats: list[OrderSeat], state: dict) -> None:
    # Clear first, then set: a user moving between seats never holds two at once (unique constraint).
    changed = [seat for seat in seats if seat.assignee_id != state[seat.pk]]
    for seat in changed:
        if seat.assignee_id is not None:
            seat.assignee_id = None
            seat.save(update_fields=["assignee", "updated_at"])
    for seat in changed:
        if state[seat.pk] is not None:
            seat.assignee_id = state[seat.pk]
            try:
                with transaction.atomic():
                    seat.save(update_fields=["assignee", "updated_at"])
            except IntegrityError:
                raise SeatTaken(
                    "the user already holds a seat of this order line", code="USER_HAS_SEAT"
                ) from None


@transaction.atomic
def order_seat_assign(*, order: Order, seat_id: str, user_external_id: str | None) -> OrderSeat:
    """Assign a seat to a customer user of the order's customer (None unassigns). Idempotent for the same user.
    Locks the seats of the seat's line attribute in pk order."""
    seat = order_seat_get(order=order, seat_id=seat_id)
    user = _assignee(order=order, user_external_id=user_external_id, field="userExternalId")
    seats = order_seats_for_update(order=order, order_line_attribute_id=seat.order_line_attribute_id)
    state = {s.pk: s.assignee_id for s in seats}
    attribute_of = {s.pk: s.order_line_attribute_id for s in seats}
    _apply(
        state=state, attribute_of=attribute_of, seat_pk=seat.pk, user=user, seat_id=seat_id, field="seatId"
    )
    _write(seats, state)
    return order_seat_get(order=order, seat_id=seat_id)


@transaction.atomic
def order_seat_assign_batch(*, order: Order, assignments: list[dict[str, Any]]) -> list[OrderSeat]:
    """Apply seat assignments in order, all or nothing: each must be valid against the state the previous ones
    left (so a move is "unassign A, assign B"). Locks all the order's seats in pk order."""
    resolved = []
    for index, assignment in enumerate(assignments):
        where = f"assignments[{index}]"
        try:
            seat = order_seat_get(order=order, seat_id=assignment["seat_id"])
        except NotFound:
            raise ReferenceNotFound("Seat", assignment["seat_id"], field=f"{where}.seatId") from None
        user = _assignee(
            order=order, user_external_id=assignment.get("user_external_id"), field=f"{where}.userExternalId"
        )
        resolved.append((seat, user, assignment["seat_id"], f"{where}.seatId"))
    seats = order_seats_for_update(order=order)
    state = {s.pk: s.assignee_id for s in seats}
    attribute_of = {s.pk: s.order_line_attribute_id for s in seats}
    for seat, user, seat_id, field in resolved:
        _apply(
            state=state, attribute_of=attribute_of, seat_pk=seat.pk, user=user, seat_id=seat_id, field=field
        )
    _write(seats, state)
    touched = list(dict.fromkeys(seat.pk for seat, *_ in resolved))
    return [order_seat_get(order=order, seat_id=str(pk)) for pk in touched]
