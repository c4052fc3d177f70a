"""Orders: creation (copied and overridden pricing), activation, derived status, seats, numbering, deletion."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from rest_framework.exceptions import ValidationError

from apps.catalog.selectors import product_attribute_list
from apps.catalog.services import (
    credit_currency_create,
    plan_create,
    pricing_update,
    product_archive,
    product_attributes_upsert,
    product_create,
)
from apps.common.api import exception_handler, validated
from apps.common.exceptions import Conflict, DomainError, NotFound, ReferenceNotFound
from apps.customers.services import customer_create, customer_delete, customer_user_upsert
from apps.orders import selectors, services
from apps.orders.api import BatchAssignmentsIn, OrderCreateIn
from apps.orders.exceptions import OrderNotActivatable, OrderNotDraft, SeatTaken
from apps.orders.models import Order, OrderLine, OrderLineAttribute, OrderSeat

pytestmark = pytest.mark.django_db


def _usd(cents) -> list[dict]:
    return [{"currency": "USD", "unit_price": Decimal(cents)}]


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme", default_currency="USD")


@pytest.fixture
def product(organization):
    """A platform fee ($29/month), seats ($10/seat/month) and usage ($0.05/message)."""
    product = product_create(organization=organization, name="ChatBot", external_id="chatbot")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Platform",
                "pricing": {
                    "pricing_type": "RecurringPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": _usd(2900),
                },
            },
            {
                "name": "Seats",
                "pricing": {
                    "pricing_type": "SeatBasedPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": _usd(1000),
                },
            },
            {
                "name": "Messages",
                "pricing": {"pricing_type": "UsagePerUnit", "event_name": "message", "price_points": _usd(5)},
            },
        ],
    )
    return product


def create(organization, **payload):
    """`order_create` with a wire payload, validated as the API validates it."""
    return services.order_create(organization=organization, **validated(OrderCreateIn, payload))


def seat_line(product, quantity=3, currency=None):
    point = {"unitPrice": 1000} | ({"currency": currency} if currency else {})
    return {
        "productId": product.display_id,
        "attributes": [
            {
                "name": "Seats",
                "quantity": quantity,
                "pricing": {
                    "chargeType": "seatBased",
                    "pricingModel": "perUnit",
                    "billingFrequency": "monthly",
                    "pricePoints": point,
                },
            }
        ],
    }


def rows() -> dict:
    return {
        model.__name__: sorted(model.objects.values(), key=lambda row: str(row["id"]))
        for model in (Order, OrderLine, OrderLineAttribute, OrderSeat)
    }


# --- create ------------------------------------------------------------------------------------------------


def test_create_copies_the_catalog_pricing_as_a_snapshot(organization, customer, product):
    order = create(organization, customerId=customer.display_id, lines=[{"productId": product.display_id}])
    assert order.display_id.startswith("ord_")
    assert (order.name, order.number, order.creation_state, order.currency) == ("Order #1", 1, "draft", "USD")
    assert order.billing_anchor == order.start_date.day
    line = order.lines.get()
    assert line.display_id.startswith("oli_") and line.name == "ChatBot" and line.line_type == "STANDARD"
    attributes = list(line.attributes.order_by("pk"))
    assert [a.name for a in attributes] == ["Platform", "Seats", "Messages"]
    assert [a.pricing_type for a in attributes] == ["RecurringPerUnit", "SeatBasedPerUnit", "UsagePerUnit"]
    assert attributes[2].event_name == "message"
    # One period of the platform fee and one seat; usage is not known in advance.
    assert (
        selectors.order_amount(
            order=selectors.order_get(organization=organization, order_id=order.display_id)
        )
        == 3900
    )

    # Editing the catalog afterwards does not change the order.
    platform = attributes[0].product_attribute
    pricing_update(
        attribute=platform,
        pricing={
            "pricing_type": "RecurringPerUnit",
            "billing_frequency": "Monthly",
            "price_points": _usd(9900),
        },
    )
    attributes[0].refresh_from_db()
    assert Decimal(str(attributes[0].pricing["price_points"][0]["unit_price"])) == 2900


def test_create_with_override_pricing(organization, customer, product):
    order = create(
        organization,
        customerId=customer.display_id,
        name="Enterprise",
        externalId="deal-7",
        lines=[
            seat_line(product, quantity=5),
            {
                "productId": product.display_id,
                "name": "Volume messages",
                "attributes": [
                    {
                        "name": "Messages",
                        "pricing": {
                            "chargeType": "usage",
                            "pricingModel": "graduatedPricing",
                            "eventName": "message",
                            "pricePoints": {
                                "unitPrice": 0,
                                "tiers": [{"upperBound": 1000, "unitAmount": 2}, {"unitAmount": 1}],
                            },
                        },
                    }
                ],
            },
        ],
    )
    seats, messages = OrderLineAttribute.objects.filter(order_line__order=order).order_by("pk")
    assert (seats.pricing_type, seats.quantity, seats.product_attribute) == ("SeatBasedPerUnit", 5, None)
    assert seats.pricing["billing_frequency"] == "Monthly"
    assert seats.pricing["price_points"][0]["currency"] == "USD"  # the order currency by default
    assert messages.pricing_type == "UsageGraduated"
    assert [t["lower_bound"] for t in messages.pricing["price_points"][0]["tiers"]] == [0, 1000]
    fresh = selectors.order_get(organization=organization, order_id=order.display_id)
    assert selectors.order_amount(order=fresh) == 5000


@pytest.mark.parametrize(
    ("pricing", "field"),
    [
        (
            {"chargeType": "recurring", "pricingModel": "perUnit", "pricePoints": {"unitPrice": 100}},
            "lines[0].attributes[0].pricing.billingFrequency",
        ),
        (
            {"chargeType": "usage", "pricingModel": "perUnit", "pricePoints": {"unitPrice": 1}},
            "lines[0].attributes[0].pricing.eventName",
        ),
        (
            {
                "chargeType": "oneTime",
                "pricingModel": "bracketedPrepaidCredits",
                "pricePoints": {"unitPrice": 1},
            },
            "lines[0].attributes[0].pricing.pricingModel",
        ),
        (
            {
                "chargeType": "recurring",
                "pricingModel": "perUnit",
                "billingFrequency": "monthly",
                "pricePoints": {"unitPrice": 1, "currency": "XXZ"},
            },
            "lines[0].attributes[0].pricing.pricePoints.currency",
        ),
    ],
)
def test_invalid_override_names_the_field_and_writes_nothing(organization, customer, product, pricing, field):
    before = rows()
    with pytest.raises(DomainError) as exc:
        create(
            organization,
            customerId=customer.display_id,
            lines=[{"productId": product.display_id, "attributes": [{"name": "x", "pricing": pricing}]}],
        )
    assert exc.value.field == field
    assert rows() == before


def test_override_shape_errors_name_the_path(organization, customer, product):
    with pytest.raises(ValidationError) as exc:
        create(
            organization,
            customerId=customer.display_id,
            lines=[
                {
                    "productId": product.display_id,
                    "attributes": [{"name": "x", "pricing": {"chargeType": "rent"}}],
                }
            ],
        )
    message = exception_handler(exc.value, {}).data["error"]
    assert "lines[0].attributes[0].pricing.chargeType" in message


def test_unknown_customer_and_unusable_products_are_refused(
    organization, other_organization, customer, product
):
    stranger = customer_create(organization=other_organization, name="Globex")
    with pytest.raises(ReferenceNotFound) as exc:
        create(organization, customerId=stranger.display_id)
    assert exc.value.field == "customerId"
    with pytest.raises(ReferenceNotFound) as exc:
        create(organization, customerId=customer.display_id, lines=[{"productId": "prod_nope"}])
    assert exc.value.field == "lines[0].productId"
    product_archive(product=product)
    with pytest.raises(DomainError) as exc:
        create(organization, customerId=customer.display_id, lines=[{"productId": product.display_id}])
    assert exc.value.field == "lines[0].productId" and "archived" in exc.value.message
    assert not Order.objects.exists()


def test_order_numbers_are_a_per_organization_sequence(organization, other_organization, customer):
    other_customer = customer_create(organization=other_organization, name="Globex")
    numbers = [create(organization, customerId=customer.display_id).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert create(other_organization, customerId=other_customer.display_id).number == 1
    # A failed create rolls its number back with it.
    with pytest.raises(DomainError):
        create(
            organization, customerId=customer.display_id, externalId="x", lines=[{"productId": "prod_nope"}]
        )
    assert create(organization, customerId=customer.display_id).name == "Order #4"


def test_external_id_is_unique_per_organization(organization, customer):
    create(organization, customerId=customer.display_id, externalId="deal-1")
    with pytest.raises(DomainError) as exc:
        create(organization, customerId=customer.display_id, externalId="deal-1")
    assert exc.value.code == "DUPLICATE"


# --- activation --------------------------------------------------------------------------------------------


def test_activation_creates_seats_and_is_idempotent(organization, customer, product):
    order = create(organization, customerId=customer.display_id, lines=[seat_line(product, quantity=3)])
    activated = services.order_activate(order=order)
    assert activated.creation_state == "active" and activated.activated_at is not None
    assert activated.version == 2
    assert OrderSeat.objects.filter(order=order).count() == 3
    again = services.order_activate(order=order)
    assert (again.version, OrderSeat.objects.filter(order=order).count()) == (2, 3)


def test_create_active_activates_in_the_same_transaction(organization, customer, product):
    order = create(
        organization, customerId=customer.display_id, creationState="active", lines=[seat_line(product, 2)]
    )
    assert order.creation_state == "active" and order.seats.count() == 2
    before = rows()
    with pytest.raises(OrderNotActivatable):
        create(organization, customerId=customer.display_id, creationState="active")  # no lines
    assert rows() == before


@pytest.mark.parametrize("problem", ["currency", "no_lines", "end_before_start", "customer_deleted"])
def test_activation_validation_changes_nothing(organization, customer, product, problem):
    lines = [seat_line(product, currency="EUR" if problem == "currency" else None)]
    order = create(organization, customerId=customer.display_id, lines=[] if problem == "no_lines" else lines)
    if problem == "end_before_start":
        # Dates are checked on write too; simulate data that went bad (e.g. an import) to exercise activation.
        Order.objects.filter(pk=order.pk).update(end_date=order.start_date - timedelta(days=1))
    if problem == "customer_deleted":
        customer_delete(customer=customer)
    before = rows()
    with pytest.raises(DomainError) as exc:
        services.order_activate(order=order)
    assert rows() == before
    expected = {
        "currency": "currency",
        "no_lines": "lines",
        "end_before_start": "endDate",
        "customer_deleted": "customerId",
    }
    assert exc.value.field == expected[problem]


def test_dates_are_checked_on_create_and_update(organization, customer):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(DomainError) as exc:
        create(
            organization,
            customerId=customer.display_id,
            startDate=start.isoformat(),
            endDate=start.isoformat(),
        )
    assert exc.value.field == "endDate"
    order = create(organization, customerId=customer.display_id, startDate=start.isoformat())
    with pytest.raises(DomainError):
        services.order_update(order=order, end_date=start - timedelta(days=1))
    updated = services.order_update(order=order, end_date=start + timedelta(days=365), name="Renamed")
    assert (updated.name, updated.version) == ("Renamed", 2)
    assert services.order_update(order=order, name="Renamed").version == 2  # no change, no bump


def test_derived_status(organization, customer, product):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    order = create(
        organization,
        customerId=customer.display_id,
        startDate=start.isoformat(),
        endDate=(start + timedelta(days=31)).isoformat(),
        lines=[seat_line(product, 1)],
    )
    ids = lambda **kw: {o.pk for o in selectors.order_list(organization=organization, **kw)}  # noqa: E731
    with time_machine.travel(start + timedelta(days=1), tick=False):
        assert order.status == "draft" and ids(status="draft") == {order.pk}
        services.order_activate(order=order)
        order.refresh_from_db()
        assert (
            order.status == "active" and ids(status="active") == {order.pk} and ids(status="draft") == set()
        )
    with time_machine.travel(start + timedelta(days=31), tick=False):
        assert order.status == "ended" and ids(status="ended") == {order.pk} and ids(status="active") == set()
        Order.objects.filter(pk=order.pk).update(paused_at=start)
        order.refresh_from_db()
        assert order.status == "paused" and ids(status="paused") == {order.pk}


def test_pause_and_resume(organization, customer, product):
    order = create(organization, customerId=customer.display_id, lines=[seat_line(product, 1)])
    with pytest.raises(DomainError, match="only an active order"):
        services.order_pause(order=order)
    services.order_activate(order=order)
    paused = services.order_pause(order=order)
    assert paused.status == "paused"
    assert services.order_pause(order=order).paused_at == paused.paused_at  # idempotent
    resumed = services.order_resume(order=order)
    assert resumed.status == "active"
    assert resumed.version == paused.version + 1


# --- delete ------------------------------------------------------------------------------------------------


def test_only_drafts_can_be_deleted(organization, customer, product):
    draft = create(organization, customerId=customer.display_id, lines=[{"productId": product.display_id}])
    services.order_delete(order=draft)
    assert not Order.objects.filter(pk=draft.pk).exists() and not OrderLine.objects.exists()
    active = create(
        organization, customerId=customer.display_id, creationState="active", lines=[seat_line(product)]
    )
    before = rows()
    with pytest.raises(OrderNotDraft):
        services.order_delete(order=active)
    assert rows() == before


# --- seats -------------------------------------------------------------------------------------------------


@pytest.fixture
def seated(organization, customer, product):
    for user in ("ann", "bob"):
        customer_user_upsert(organization=organization, customer_external_id="acme", user_external_id=user)
    order = create(
        organization, customerId=customer.display_id, creationState="active", lines=[seat_line(product, 2)]
    )
    first, second = selectors.order_seat_list(order=order)
    return order, str(first.pk), str(second.pk)


def test_assign_unassign_and_conflicts(seated):
    order, first, second = seated
    seat = services.order_seat_assign(order=order, seat_id=first, user_external_id="ann")
    assert (seat.status, seat.assignee.external_id) == ("assigned", "ann")
    assert (
        services.order_seat_assign(order=order, seat_id=first, user_external_id="ann").assignee.external_id
        == "ann"
    )
    with pytest.raises(SeatTaken) as exc:
        services.order_seat_assign(order=order, seat_id=first, user_external_id="bob")
    assert exc.value.status_code == 409
    with pytest.raises(Conflict) as exc:
        services.order_seat_assign(order=order, seat_id=second, user_external_id="ann")
    assert exc.value.code == "USER_HAS_SEAT"
    with pytest.raises(ReferenceNotFound) as exc:
        services.order_seat_assign(order=order, seat_id=second, user_external_id="nobody")
    assert exc.value.field == "userExternalId"
    with pytest.raises(NotFound):
        services.order_seat_assign(order=order, seat_id="not-a-uuid", user_external_id="ann")
    assert (
        services.order_seat_assign(order=order, seat_id=first, user_external_id=None).status == "unassigned"
    )
    assert [s.status for s in selectors.order_seat_list(order=order, status="unassigned")] == [
        "unassigned"
    ] * 2


def test_batch_is_all_or_nothing_and_applies_in_order(seated):
    order, first, second = seated
    services.order_seat_assign(order=order, seat_id=first, user_external_id="ann")
    before = rows()
    batch = validated(
        BatchAssignmentsIn,
        {
            "assignments": [
                {"seatId": second, "userExternalId": "bob"},
                {"seatId": first, "userExternalId": "bob"},
            ]
        },
    )
    with pytest.raises(SeatTaken):
        services.order_seat_assign_batch(order=order, assignments=batch["assignments"])
    assert rows() == before
    # A move: unassign ann's seat, give it to bob, give ann the other one.
    batch = validated(
        BatchAssignmentsIn,
        {
            "assignments": [
                {"seatId": first, "userExternalId": None},
                {"seatId": first, "userExternalId": "bob"},
                {"seatId": second, "userExternalId": "ann"},
            ]
        },
    )
    seats = services.order_seat_assign_batch(order=order, assignments=batch["assignments"])
    assert [(str(s.pk), s.assignee.external_id) for s in seats] == [(first, "bob"), (second, "ann")]


# --- tenancy -----------------------------------------------------------------------------------------------


def test_other_organizations_orders_are_not_found(organization, other_organization, customer, product):
    order = create(organization, customerId=customer.display_id, lines=[{"productId": product.display_id}])
    with pytest.raises(NotFound):
        selectors.order_get(organization=other_organization, order_id=order.display_id)
    assert list(selectors.order_list(organization=other_organization)) == []
    assert list(selectors.order_list(organization=organization, customer_id=customer.display_id)) == [order]
    assert list(selectors.order_list(organization=organization, external_customer_id="acme")) == [order]
    assert list(selectors.order_list(organization=organization, external_customer_id="nobody")) == []
    # Another organization's product can't go on an order either.
    other_product = product_create(organization=other_organization, name="Theirs")
    with pytest.raises(ReferenceNotFound):
        create(organization, customerId=customer.display_id, lines=[{"productId": other_product.display_id}])


@pytest.mark.django_db(transaction=True)
def test_the_counter_row_is_created_once(organization, customer):
    with transaction.atomic():
        create(organization, customerId=customer.display_id)
    assert create(organization, customerId=customer.display_id).number == 2


def test_an_order_on_a_default_plan_copies_the_plans_credit_currency(organization, customer):
    product_credits = credit_currency_create(organization=organization, name="Old", key="old")
    plan_credits = credit_currency_create(organization=organization, name="Chat Credits", key="chat_credits")
    product = product_create(organization=organization, name="Bot")
    burn = {"pricing_type": "UsagePrepaidCredits", "event_name": "chat_message", "credit_cost": Decimal(1)}
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Messages", "pricing": {**burn, "credits_currency_id": product_credits.display_id}}
        ],
    )
    attribute = product_attribute_list(product=product).get()
    plan_create(
        organization=organization,
        product_id=product.display_id,
        is_default=True,
        attributes=[
            {
                "product_attribute_id": attribute.display_id,
                "pricing": {**burn, "credits_currency_id": plan_credits.display_id},
            }
        ],
    )
    order = services.order_create(
        organization=organization, customer_id=customer.display_id, lines=[{"product_id": product.display_id}]
    )
    copied = OrderLineAttribute.objects.get(order_line__order=order)
    assert copied.credits_currency == plan_credits
    assert copied.pricing["credits_currency_id"] == plan_credits.display_id
