"""Orders (§3.4), seats and the customer state (§2.1) through paid-python against a live server."""

from datetime import UTC, datetime, timedelta

import pytest
from paid import (
    BatchSeatAssignmentsRequestAssignmentsItem,
    CreateOrderLineAttributeRequest,
    CreateOrderLineAttributeRequestPricing,
    CreateOrderLineAttributeRequestPricingPricePoints,
    CreateOrderLineRequest,
    OrderBillingFrequencyOverride,
)
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, ConflictError, NotFoundError
from paid.types import (
    ProductAttributeUpsert,
    ProductPricingInput_OneTimePerUnit,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_SeatBasedPerUnit,
    ProductPricingInput_UsagePerUnit,
    ProductSimplePricePoint,
)

from tests.sdk.conftest import NO_RETRY

pytestmark = pytest.mark.django_db(transaction=True)


def usd(cents: int) -> list[ProductSimplePricePoint]:
    return [ProductSimplePricePoint(currency="USD", unit_price=cents)]


@pytest.fixture
def catalog(client):
    """A customer with two users, and a product priced through the SDK."""
    customer = client.customers.create_customer(name="Acme", external_id="acme", default_currency="USD")
    client.customers.create_customer_alias(customer.id, alias="acme-alias")
    for user in ("ann", "bob"):
        client.customers.upsert_customer_user_by_external_id("acme", user, email=f"{user}@acme.test")
    product = client.products.create_product(name="ChatBot", external_id="chatbot")
    client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Platform",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly", price_points=usd(2900)
                ),
            ),
            ProductAttributeUpsert(
                name="Seats",
                pricing=ProductPricingInput_SeatBasedPerUnit(
                    billing_frequency="Monthly", price_points=usd(1000)
                ),
            ),
            ProductAttributeUpsert(
                name="Setup", pricing=ProductPricingInput_OneTimePerUnit(price_points=usd(50000))
            ),
            ProductAttributeUpsert(
                name="Messages",
                pricing=ProductPricingInput_UsagePerUnit(event_name="message", price_points=usd(5)),
            ),
        ],
    )
    return customer, product


def seats_line(product, quantity: int) -> CreateOrderLineRequest:
    return CreateOrderLineRequest(
        product_id=product.id,
        name="Team seats",
        attributes=[
            CreateOrderLineAttributeRequest(
                name="Seats",
                quantity=quantity,
                pricing=CreateOrderLineAttributeRequestPricing(
                    charge_type="seatBased",
                    pricing_model="perUnit",
                    billing_frequency="monthly",
                    price_points=CreateOrderLineAttributeRequestPricingPricePoints(unit_price=1500),
                ),
            )
        ],
    )


def test_order_lifecycle(client, catalog):
    customer, product = catalog
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    draft = client.orders.create_order(
        customer_id=customer.id,
        external_id="deal-1",
        start_date=start,
        billing_frequency_override=OrderBillingFrequencyOverride(frequency="annual"),
        metadata={"deal": 1},
        lines=[CreateOrderLineRequest(product_id=product.id), seats_line(product, 2)],
    )
    assert draft.id.startswith("ord_")
    assert (draft.customer_id, draft.creation_state, draft.number, draft.name) == (
        customer.id,
        "draft",
        1,
        "Order #1",
    )
    assert draft.start_date == start and draft.end_date is None
    assert (
        draft.billing_frequency_overridden is True and draft.billing_frequency_override.frequency == "annual"
    )
    assert draft.billing_contact_ids == [] and draft.metadata == {"deal": 1}
    # One period of the copied platform fee and one copied seat, the one-time setup fee, two override seats.
    assert draft.order_amount == draft.total_amount == 2900 + 1000 + 50000 + 2 * 1500
    assert (draft.billed_amount_no_tax, draft.total_billed_amount, draft.pending_billing_amount) == (0, 0, 0)

    lines = client.orders.get_order_lines(draft.id)
    assert [line.name for line in lines.data] == ["ChatBot", "Team seats"]
    assert {line.product_id for line in lines.data} == {product.id}
    assert lines.data[0].line_type == "STANDARD" and lines.data[0].start_date == start
    assert client.orders.list_order_seats(draft.id).data == []  # seats come with activation

    updated = client.orders.update_order_by_id(draft.id, name="Acme 2026", payment_terms="net30")
    assert (updated.name, updated.payment_terms, updated.version) == ("Acme 2026", "net30", draft.version + 1)

    active = client.orders.activate_order_by_id(draft.id)
    assert active.creation_state == "active" and active.version == updated.version + 1
    assert client.orders.activate_order_by_id(draft.id).version == active.version  # idempotent
    assert client.orders.get_order_by_id(draft.id).creation_state == "active"

    seats = client.orders.list_order_seats(draft.id).data
    assert len(seats) == 3 and {s.status for s in seats} == {"unassigned"}
    assert {s.product_external_id for s in seats} == {"chatbot"} and seats[0].order_id == draft.id
    assert client.orders.list_order_seats(draft.id, product_external_id="other").data == []

    with pytest.raises(ApiError) as exc:
        client.orders.delete_order_by_id(draft.id)
    assert exc.value.status_code == 400


def test_list_filters(client, catalog):
    customer, product = catalog
    other = client.customers.create_customer(name="Other", external_id="other")
    past = datetime(2025, 1, 1, tzinfo=UTC)
    ended = client.orders.create_order(
        customer_id=customer.id,
        start_date=past,
        end_date=past + timedelta(days=30),
        creation_state="active",
        lines=[CreateOrderLineRequest(product_id=product.id)],
    )
    running = client.orders.create_order(
        customer_id=customer.id,
        external_id="run",
        creation_state="active",
        lines=[CreateOrderLineRequest(product_id=product.id)],
    )
    draft = client.orders.create_order(customer_id=other.id)

    def ids(**filters):
        return {order.id for order in client.orders.list_orders(**filters).data}

    assert ids() == {ended.id, running.id, draft.id}
    assert ids(customer_id=customer.id) == {ended.id, running.id}
    assert ids(external_customer_id="acme-alias") == {ended.id, running.id}
    assert ids(external_customer_id="nobody") == set()
    assert ids(external_id="run") == {running.id}
    assert ids(creation_state="draft") == {draft.id}
    assert ids(status="ended") == {ended.id}
    assert ids(status="active") == {running.id}
    assert ids(status="draft") == {draft.id}
    assert ids(start_date_to="2025-06-30") == {ended.id}
    assert ids(end_date_from="2025-01-15") == {ended.id}
    assert ids(start_date_from="2025-06-30", customer_id=customer.id) == {running.id}
    page = client.orders.list_orders(limit=1)
    assert (len(page.data), page.pagination.total, page.pagination.has_more) == (1, 3, True)
    with pytest.raises(BadRequestError):
        client.orders.list_orders(status="sleeping")


def test_seat_assignment_and_customer_state(client, catalog):
    customer, product = catalog
    order = client.orders.create_order(
        customer_id=customer.id, name="Seats", creation_state="active", lines=[seats_line(product, 2)]
    )
    first, second = (seat.id for seat in client.orders.list_order_seats(order.id).data)

    seat = client.orders.update_order_seat_assignment(order.id, first, user_external_id="ann")
    assert (seat.status, seat.assignee.external_id, seat.assignee.email) == (
        "assigned",
        "ann",
        "ann@acme.test",
    )
    with pytest.raises(ConflictError):
        client.orders.update_order_seat_assignment(
            order.id, first, user_external_id="bob", request_options=NO_RETRY
        )
    with pytest.raises(ConflictError):
        client.orders.update_order_seat_assignment(
            order.id, second, user_external_id="ann", request_options=NO_RETRY
        )
    with pytest.raises(BadRequestError) as exc:
        client.orders.update_order_seat_assignment(order.id, second, user_external_id="ghost")
    assert "userExternalId" in exc.value.body["error"]
    with pytest.raises(NotFoundError):
        client.orders.update_order_seat_assignment(order.id, "00000000-0000-0000-0000-000000000000")

    # Batch: all or nothing.
    with pytest.raises(ConflictError):
        client.orders.batch_order_seat_assignments(
            order.id,
            assignments=[
                BatchSeatAssignmentsRequestAssignmentsItem(seat_id=second, user_external_id="bob"),
                BatchSeatAssignmentsRequestAssignmentsItem(seat_id=first, user_external_id="bob"),
            ],
            request_options=NO_RETRY,
        )
    assert client.orders.list_order_seats(order.id, status="assigned").data[0].id == first
    done = client.orders.batch_order_seat_assignments(
        order.id,
        assignments=[BatchSeatAssignmentsRequestAssignmentsItem(seat_id=second, user_external_id="bob")],
    )
    assert [(s.id, s.assignee.external_id) for s in done.data] == [(second, "bob")]

    for state in (
        client.customers.get_customer_state_by_id(customer.id),
        client.customers.get_customer_state_by_external_id("acme-alias"),
    ):
        assert [(o.id, o.name, o.state, o.currency) for o in state.orders] == [
            (order.id, "Seats", "active", "USD")
        ]
        assert (state.seats.total, state.seats.assigned, state.seats.unassigned) == (2, 2, 0)
        assert {s.assignee.external_id for s in state.seats.data} == {"ann", "bob"}
        assert state.seats.data[0].product.id == product.id and state.seats.data[0].order_id == order.id
        assert state.checkout_links == [] and state.credits.balances == []

    unassigned = client.orders.update_order_seat_assignment(order.id, first)
    assert unassigned.status == "unassigned" and unassigned.assignee is None
    assert client.customers.get_customer_state_by_id(customer.id).seats.unassigned == 1


def test_validation_errors_name_the_field(client, catalog):
    customer, product = catalog
    with pytest.raises(BadRequestError) as exc:
        client.orders.create_order(customer_id="cus_nobody")
    assert "customerId" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.orders.create_order(
            customer_id=customer.id,
            lines=[
                CreateOrderLineRequest(
                    product_id=product.id,
                    attributes=[
                        CreateOrderLineAttributeRequest(
                            name="Fee",
                            pricing=CreateOrderLineAttributeRequestPricing(
                                charge_type="recurring",
                                pricing_model="perUnit",
                                price_points=CreateOrderLineAttributeRequestPricingPricePoints(
                                    unit_price=100
                                ),
                            ),
                        )
                    ],
                )
            ],
        )
    assert "lines[0].attributes[0].pricing.billingFrequency" in exc.value.body["error"]
    draft = client.orders.create_order(
        customer_id=customer.id, currency="EUR", lines=[seats_line(product, 1)]
    )
    # The copied catalog pricing has only USD points: activating an EUR order fails, the create with it.
    with pytest.raises(BadRequestError):
        client.orders.create_order(
            customer_id=customer.id,
            currency="EUR",
            lines=[CreateOrderLineRequest(product_id=product.id)],
            creation_state="active",
        )
    assert client.orders.activate_order_by_id(draft.id).creation_state == "active"
    assert len(client.orders.list_orders().data) == 1  # the failed active create left nothing
    client.orders.delete_order_by_id(client.orders.create_order(customer_id=customer.id).id)
    with pytest.raises(NotFoundError):
        client.orders.get_order_by_id("ord_nothere")


def test_state_routes_keep_external_ids_named_like_segments(client, http):
    """`customers/external/state` is the customer with external id "state"; `customers/external/users/state`
    is the state of the customer with external id "users"."""
    state_customer = client.customers.create_customer(name="S", external_id="state")
    users_customer = client.customers.create_customer(name="U", external_id="users")
    assert client.customers.get_customer_by_external_id("state").id == state_customer.id
    assert client.customers.update_customer_by_external_id("state", name="S2").name == "S2"
    assert client.customers.get_customer_state_by_external_id("users").customer.id == users_customer.id
    assert http.get("customers/external/state/").json()["id"] == state_customer.id
