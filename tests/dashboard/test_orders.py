"""Dashboard pages for orders: list and filters, create (draft / activate now / refused), detail, activate,
delete, seat assignment, tenancy and login."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from apps.catalog.services import product_attributes_upsert, product_create
from apps.common.api import validated
from apps.common.exceptions import DomainError
from apps.customers.services import customer_create, customer_user_upsert
from apps.orders import selectors, services
from apps.orders.api import OrderCreateIn
from apps.orders.forms import OrderCreateForm
from apps.orders.models import Order, OrderLine, OrderSeat
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


def _usd(cents) -> list[dict]:
    return [{"currency": "USD", "unit_price": Decimal(cents)}]


@pytest.fixture
def customer(organization):
    customer = customer_create(
        organization=organization, name="Northwind", external_id="northwind", default_currency="USD"
    )
    for user in ("ann", "bob"):
        customer_user_upsert(
            organization=organization,
            customer_external_id="northwind",
            user_external_id=user,
            name=user.title(),
        )
    return customer


@pytest.fixture
def product(organization):
    """A platform fee ($29/month), one seat ($10/seat/month) and usage ($0.05/message)."""
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


def create(organization, customer, product, **payload) -> Order:
    payload = {"customerId": customer.display_id, "lines": [{"productId": product.display_id}], **payload}
    return services.order_create(organization=organization, **validated(OrderCreateIn, payload))


@pytest.fixture
def seated(organization, customer, product):
    """An active order with two seats of one seat-based price."""
    line = {
        "productId": product.display_id,
        "attributes": [
            {
                "name": "Seats",
                "quantity": 2,
                "pricing": {
                    "chargeType": "seatBased",
                    "pricingModel": "perUnit",
                    "billingFrequency": "monthly",
                    "pricePoints": {"unitPrice": 1000},
                },
            }
        ],
    }
    order = create(organization, customer, product, lines=[line], creationState="active")
    first, second = (str(seat.pk) for seat in selectors.order_seat_list(order=order))
    return order, first, second


def _numbers(response) -> list[int]:
    return [row["order"].number for row in response.context["rows"]]


def _counts() -> tuple[int, int, int]:
    return Order.objects.count(), OrderLine.objects.count(), OrderSeat.objects.count()


# --- list ----------------------------------------------------------------------------------------------------


def test_list_is_a_page_and_htmx_gets_the_table(dashboard, organization, customer, product):
    create(organization, customer, product, name="Pilot")

    page = dashboard.get("/orders/")
    assert page.status_code == 200
    assert [t.name for t in page.templates][:1] == ["orders/list.html"]
    assert b"<html" in page.content and b"Pilot" in page.content and b"Northwind" in page.content
    assert b"$39.00" in page.content  # platform + one seat; usage counts 0
    assert b'aria-current="page"' in page.content and b">Draft<" in page.content

    partial = dashboard.get("/orders/", headers=HTMX)
    assert [t.name for t in partial.templates][:1] == ["orders/_table.html"]
    assert b"<html" not in partial.content and b"Pilot" in partial.content
    assert "HX-Request" in partial["Vary"]


def test_filters_by_status_and_customer_search(dashboard, organization, customer, product):
    other = customer_create(organization=organization, name="Contoso", email="ap@contoso.test")
    create(organization, customer, product)  # 1: draft
    create(organization, customer, product, creationState="active")  # 2: active
    create(organization, other, product)  # 3: draft, Contoso

    assert _numbers(dashboard.get("/orders/", {"status": "draft"}, headers=HTMX)) == [3, 1]
    assert _numbers(dashboard.get("/orders/", {"status": "active"}, headers=HTMX)) == [2]
    assert _numbers(dashboard.get("/orders/", {"q": "contoso.test"}, headers=HTMX)) == [3]
    assert _numbers(dashboard.get("/orders/", {"q": "north", "status": "draft"})) == [1]
    assert _numbers(dashboard.get("/orders/", {"customer": other.display_id})) == [3]
    empty = dashboard.get("/orders/", {"status": "ended"}, headers=HTMX)
    assert _numbers(empty) == [] and b"No orders match" in empty.content


def test_pagination_partial_keeps_the_filters(dashboard, organization, customer, product):
    for _ in range(27):
        create(organization, customer, product)

    first = dashboard.get("/orders/", {"status": "draft"})
    assert len(_numbers(first)) == 25
    assert b"?status=draft&amp;page=2" in first.content
    second = dashboard.get("/orders/", {"status": "draft", "page": 2}, headers=HTMX)
    assert _numbers(second) == [2, 1]
    assert b"<html" not in second.content


def test_customer_card_partial_lists_the_customers_orders(dashboard, organization, customer, product):
    order = create(organization, customer, product, name="Pilot")
    other = customer_create(organization=organization, name="Contoso")
    create(organization, other, product, name="Elsewhere")

    card = dashboard.get("/orders/", {"customer": customer.display_id, "partial": "card"}, headers=HTMX)
    assert [t.name for t in card.templates][:1] == ["orders/_customer_card.html"]
    assert b"Pilot" in card.content and b"Elsewhere" not in card.content
    assert f"/orders/{order.display_id}/".encode() in card.content

    customer_page = dashboard.get(f"/customers/{customer.display_id}/")
    assert f"/orders/?customer={customer.display_id}&amp;partial=card".encode() in customer_page.content


# --- create --------------------------------------------------------------------------------------------------


def test_create_form_lists_customers_and_live_products(dashboard, organization, customer, product):
    archived = product_create(organization=organization, name="Retired", active=False)
    page = dashboard.get("/orders/new/", {"customer": customer.display_id})
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial == {"customer": customer.display_id, "currency": "USD"}
    assert product.display_id in dict(form.fields["products"].choices)
    assert archived.display_id not in dict(form.fields["products"].choices)


def test_create_a_draft(dashboard, organization, customer, product):
    response = dashboard.post(
        "/orders/new/",
        {
            "customer": customer.display_id,
            "name": "Pilot",
            "start_date": "2030-01-15",
            "end_date": "2031-01-15",
            "products": [product.display_id],
        },
        headers=HTMX,
    )
    order = Order.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/orders/{order.display_id}/"
    assert (order.name, order.creation_state, order.currency) == ("Pilot", "draft", "USD")
    assert order.start_date.date() == date(2030, 1, 15) and order.billing_anchor == 15
    assert [a.name for a in order.lines.get().attributes.order_by("pk")] == ["Platform", "Seats", "Messages"]
    assert not OrderSeat.objects.exists()


def test_create_and_activate_now(dashboard, organization, customer, product):
    response = dashboard.post(
        "/orders/new/",
        {"customer": customer.display_id, "products": [product.display_id], "activate_now": "on"},
    )
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.display_id}/"
    assert order.creation_state == "active" and order.activated_at is not None
    assert OrderSeat.objects.filter(order=order).count() == 1
    assert b"created and activated" in dashboard.get(response["Location"]).content


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"products": []}, "products", b"Choose at least one product."),
        (
            {"start_date": "2030-02-01", "end_date": "2030-01-01"},
            "end_date",
            b"Must be after the start date.",
        ),
        ({"currency": "XYZ"}, "currency", b"is not an ISO 4217 currency code"),
        ({"customer": "cus_nope"}, "customer", b"Select a valid choice"),
    ],
)
def test_invalid_create_writes_nothing_and_shows_the_error(
    dashboard, organization, customer, product, data, field, message
):
    payload = {
        "customer": customer.display_id,
        "products": [product.display_id],
        "activate_now": "on",
        **data,
    }
    response = dashboard.post("/orders/new/", payload, headers=HTMX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][:1] == ["orders/_form.html"]
    assert field in response.context["form"].errors
    assert message in response.content
    assert _counts() == (0, 0, 0)


def test_a_refused_activation_on_create_rolls_everything_back(dashboard, organization, customer, product):
    # The product is priced in USD only: an EUR order cannot be activated, so nothing is created.
    payload = {"customer": customer.display_id, "products": [product.display_id], "currency": "EUR"}
    response = dashboard.post("/orders/new/", {**payload, "activate_now": "on"}, headers=HTMX)
    assert response.status_code == 200
    assert "currency" in response.context["form"].errors
    assert b"no price point in the order currency EUR" in response.content
    assert _counts() == (0, 0, 0)


def test_service_errors_land_on_the_field_their_wire_path_names(organization, customer, product):
    form = OrderCreateForm(
        {"customer": customer.display_id, "products": [product.display_id]},
        customers=[customer],
        products=[product],
    )
    assert form.is_valid()
    form.add_domain_error(DomainError("product is inactive", field="lines[0].productId"))
    form.add_domain_error(DomainError("must be after startDate", field="endDate"))
    form.add_domain_error(DomainError("something else", field="billingContactIds[0]"))
    assert form.errors["products"] == ["ChatBot: product is inactive"]
    assert form.errors["end_date"] == ["must be after startDate"]
    assert form.non_field_errors() == ["something else"]


# --- detail, activate, delete ----------------------------------------------------------------------------------


def test_detail_shows_terms_lines_and_pricing(dashboard, organization, customer, product):
    order = create(organization, customer, product, name="Pilot")
    page = dashboard.get(f"/orders/{order.display_id}/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Pilot" in content and f"/customers/{customer.display_id}/" in content
    assert "Recurring · per unit · monthly" in content
    assert "Seat-based · per seat · monthly" in content
    assert "$29.00</strong> per month" in content and "$10.00</strong> per seat per month" in content
    assert "$0.05</strong> per message" in content
    assert "Activate" in content and f"/orders/{order.display_id}/delete/" in content
    assert "Seats are created when the order is activated" in content


def test_activate_a_draft(dashboard, organization, customer, product):
    order = create(organization, customer, product)
    response = dashboard.post(f"/orders/{order.display_id}/activate/", headers=HTMX)
    assert response["HX-Redirect"] == f"/orders/{order.display_id}/"
    order.refresh_from_db()
    assert order.creation_state == "active" and OrderSeat.objects.filter(order=order).count() == 1

    page = dashboard.get(f"/orders/{order.display_id}/")
    assert (
        b">Active<" in page.content and b"orders/%s/activate/" % order.display_id.encode() not in page.content
    )


def test_activation_refused_is_shown_and_changes_nothing(dashboard, organization, customer, product):
    order = create(organization, customer, product, currency="EUR")
    response = dashboard.post(f"/orders/{order.display_id}/activate/", follow=True)
    order.refresh_from_db()
    assert order.creation_state == "draft" and not OrderSeat.objects.exists()
    assert b"can&#x27;t be activated" in response.content and b"EUR" in response.content


def test_pause_and_resume_an_active_order(dashboard, organization, customer, product):
    order = create(organization, customer, product)
    draft_page = dashboard.get(f"/orders/{order.display_id}/")
    assert b"/pause/" not in draft_page.content
    dashboard.post(f"/orders/{order.display_id}/activate/")
    assert b"/pause/" in dashboard.get(f"/orders/{order.display_id}/").content
    response = dashboard.post(f"/orders/{order.display_id}/pause/", headers=HTMX)
    assert response["HX-Redirect"] == f"/orders/{order.display_id}/"
    order.refresh_from_db()
    assert order.status == "paused"
    page = dashboard.get(f"/orders/{order.display_id}/")
    assert b"/resume/" in page.content and b">Paused<" in page.content
    dashboard.post(f"/orders/{order.display_id}/resume/")
    order.refresh_from_db()
    assert order.status == "active"


def test_a_draft_cannot_be_paused(dashboard, organization, customer, product):
    order = create(organization, customer, product)
    response = dashboard.post(f"/orders/{order.display_id}/pause/", follow=True)
    order.refresh_from_db()
    assert order.paused_at is None
    assert b"can&#x27;t be paused" in response.content


def test_activate_needs_post(dashboard, organization, customer, product):
    order = create(organization, customer, product)
    assert dashboard.get(f"/orders/{order.display_id}/activate/").status_code == 405


def test_delete_a_draft_after_confirmation(dashboard, organization, customer, product):
    order = create(organization, customer, product, name="Pilot")
    confirm = dashboard.get(f"/orders/{order.display_id}/delete/")
    assert confirm.status_code == 200 and b"Delete draft order #1?" in confirm.content
    assert Order.objects.exists()

    response = dashboard.post(f"/orders/{order.display_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/orders/"
    assert _counts() == (0, 0, 0)


def test_an_active_order_cannot_be_deleted(dashboard, organization, customer, product):
    order = create(organization, customer, product, creationState="active")
    page = dashboard.get(f"/orders/{order.display_id}/")
    assert f"/orders/{order.display_id}/delete/".encode() not in page.content

    response = dashboard.post(f"/orders/{order.display_id}/delete/", follow=True)
    assert b"Only draft orders can be deleted" in response.content
    assert Order.objects.filter(pk=order.pk).exists()
    assert dashboard.get(f"/orders/{order.display_id}/delete/").status_code == 302


# --- seats ---------------------------------------------------------------------------------------------------


def _seat(seat_id) -> OrderSeat:
    return OrderSeat.objects.select_related("assignee").get(pk=seat_id)


def test_detail_lists_seats_with_an_assign_form(dashboard, seated):
    order, first, second = seated
    page = dashboard.get(f"/orders/{order.display_id}/")
    content = page.content.decode()
    assert first[:8] in content and second[:8] in content
    assert f'hx-post="/orders/{order.display_id}/seats/{first}/"' in content
    assert '<option value="ann">ann · Ann</option>' in content


def test_assign_and_unassign_a_seat(dashboard, seated):
    order, first, _ = seated
    url = f"/orders/{order.display_id}/seats/{first}/"

    response = dashboard.post(url, {"user": "ann"}, headers=HTMX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][:1] == ["orders/_seats.html"]
    assert _seat(first).assignee.external_id == "ann"
    assert b"1 of 2 assigned" in response.content and b'value="ann" selected' in response.content

    response = dashboard.post(url, {"user": ""}, headers=HTMX)
    assert response.status_code == 200 and _seat(first).assignee is None


def test_assigning_a_taken_seat_shows_the_conflict_inline(dashboard, seated):
    order, first, second = seated
    services.order_seat_assign(order=order, seat_id=first, user_external_id="ann")

    taken = dashboard.post(f"/orders/{order.display_id}/seats/{first}/", {"user": "bob"}, headers=HTMX)
    assert taken.status_code == 200
    assert b"is assigned to another user; unassign it first" in taken.content
    assert b'role="alert"' in taken.content
    assert _seat(first).assignee.external_id == "ann"

    twice = dashboard.post(f"/orders/{order.display_id}/seats/{second}/", {"user": "ann"}, headers=HTMX)
    assert b"already holds a seat of this order line" in twice.content
    assert _seat(second).assignee is None


def test_assigning_an_unknown_user_is_an_inline_error(dashboard, seated):
    order, first, _ = seated
    response = dashboard.post(f"/orders/{order.display_id}/seats/{first}/", {"user": "zed"}, headers=HTMX)
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert _seat(first).assignee is None


def test_seat_assign_without_htmx_redirects_to_the_order(dashboard, seated):
    order, first, _ = seated
    response = dashboard.post(f"/orders/{order.display_id}/seats/{first}/", {"user": "bob"})
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.display_id}/"
    assert _seat(first).assignee.external_id == "bob"


def test_unknown_seat_is_404(dashboard, seated):
    order, _, _ = seated
    assert dashboard.post(f"/orders/{order.display_id}/seats/not-a-uuid/", {"user": "ann"}).status_code == 404


# --- tenancy and login ---------------------------------------------------------------------------------------


def test_another_organizations_order_is_404(dashboard, other_organization):
    customer = customer_create(organization=other_organization, name="Globex customer", external_id="gx")
    product = product_create(organization=other_organization, name="Globex product")
    order = create(other_organization, customer, product)

    assert dashboard.get(f"/orders/{order.display_id}/").status_code == 404
    assert dashboard.post(f"/orders/{order.display_id}/activate/").status_code == 404
    assert dashboard.post(f"/orders/{order.display_id}/delete/").status_code == 404
    assert dashboard.get(f"/orders/{order.display_id}/delete/").status_code == 404
    assert _numbers(dashboard.get("/orders/")) == []
    refused = dashboard.post(
        "/orders/new/", {"customer": customer.display_id, "products": [product.display_id]}
    )
    assert refused.status_code == 200 and "customer" in refused.context["form"].errors
    order.refresh_from_db()
    assert order.creation_state == "draft" and Order.objects.count() == 1


def test_login_required(client, organization, customer, product):
    order = create(organization, customer, product)
    for url in ("/orders/", "/orders/new/", f"/orders/{order.display_id}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(f"/orders/{order.display_id}/activate/")
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.creation_state == "draft"


def test_end_date_must_follow_today_when_no_start(dashboard, organization, customer, product):
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    response = dashboard.post(
        "/orders/new/",
        {"customer": customer.display_id, "products": [product.display_id], "end_date": yesterday},
        headers=HTMX,
    )
    assert "end_date" in response.context["form"].errors
    assert _counts() == (0, 0, 0)
