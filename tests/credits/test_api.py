"""The credits API at the HTTP level: shapes, routes by id and external id, idempotent grants, filters,
another organization's ids (404) and bad input (400, nothing written)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog.services import credit_currency_update
from apps.credits import services
from apps.credits.models import CreditConsumption, CreditEntry, CreditGrant, CreditPool
from apps.customers.services import customer_alias_create, customer_create
from apps.orders.selectors import order_seat_list
from apps.orders.services import order_seat_assign
from tests.credits.conftest import active_order, benefit, fee_line, seats_line, user

pytestmark = pytest.mark.django_db

API = "/api/v2/"


def ledger() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (CreditPool, CreditGrant, CreditEntry, CreditConsumption)
    } | {"balances": sorted(CreditPool.objects.values_list("pk", "balance"))}


def post_grant(api, path, body, **headers):
    return api.post(API + path, body, format="json", **headers)


@pytest.fixture
def funded(organization, customer, currency, product):
    """An active order granting 1,000 organization credits and 50 per seat (2 seats, one held by ann), 3 spent."""
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 1000, rollover_amount=Decimal(100))),
        seats_line(product, 2, benefit(currency, 50, id="s", recipient="seat")),
        start=timezone.now() - timedelta(days=1),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id)
    user(customer, "ann")
    seat = order_seat_list(order=order)[0]
    order_seat_assign(order=order, seat_id=str(seat.pk), user_external_id="ann")
    services.credit_consume(
        organization=organization,
        customer=customer,
        credits_currency=currency,
        amount=Decimal(3),
        signal_id=1,
        order_id=order.pk,
        event_name="chat_message",
    )
    services.credit_consume(
        organization=organization,
        customer=customer,
        credits_currency=currency,
        amount=Decimal("0.5"),
        signal_id=2,
        external_user_id="ann",
    )
    return order, seat


def test_balances_by_id_and_external_id(api, customer, currency, funded):
    customer_alias_create(customer=customer, alias="acme-old")
    for path in (
        f"customers/{customer.display_id}/credits/balances",
        "customers/external/acme/credits/balances",
        "customers/external/acme-old/credits/balances/",
    ):
        response = api.get(API + path)
        assert response.status_code == 200, response.content
        organization_balance, seat_balance = response.json()["data"]
        assert organization_balance["creditsCurrencyId"] == currency.display_id
        assert (organization_balance["currencyName"], organization_balance["currencyKey"]) == (
            "Chat credits",
            "chat_credits",
        )
        assert organization_balance["recipient"] == "organization"
        assert (
            organization_balance["available"],
            organization_balance["used"],
            organization_balance["total"],
        ) == (
            997,
            3,
            1000,
        )
        [lot] = organization_balance["grants"]
        assert lot["available"] == 997 and isinstance(lot["available"], int | float)
        assert lot["rolloverAmount"] == 100 and lot["isInRolloverWindow"] is False
        assert lot["periodStart"].endswith("Z") and lot["expiresAt"] == lot["periodEnd"]
        assert organization_balance["periodStart"] == lot["periodStart"]
        assert seat_balance["recipient"] == "seat"
        assert (seat_balance["available"], seat_balance["used"], seat_balance["total"]) == (99.5, 0.5, 100)


def test_customer_state_carries_balances_and_seat_balances(api, customer, funded):
    order, seat = funded
    for path in (f"customers/{customer.display_id}/state", "customers/external/acme/state"):
        state = api.get(API + path).json()
        assert state["credits"]["balances"] == [
            {
                "creditsCurrencyId": state["credits"]["balances"][0]["creditsCurrencyId"],
                "currencyName": "Chat credits",
                "currencyKey": "chat_credits",
                "balance": 997.0,
            }
        ]
        seats = {s["id"]: s for s in state["seats"]["data"]}
        assert seats[str(seat.pk)]["credits"]["balances"][0]["balance"] == 49.5
        assert seats[str(seat.pk)]["assignee"]["externalId"] == "ann"
        assert [s["credits"]["balances"][0]["balance"] for s in seats.values()] == [49.5, 50.0]
        assert (state["seats"]["total"], state["seats"]["assigned"]) == (2, 1)
        assert state["orders"][0]["id"] == order.display_id


def test_manual_grant_by_id_and_external_id(api, customer, currency):
    response = post_grant(
        api,
        f"customers/{customer.display_id}/credits/grants",
        {"creditCurrencyKey": "chat_credits", "amount": 500.25, "expiresAt": "2099-01-01T00:00:00Z"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert body["customer"] == {"id": customer.display_id, "externalId": "acme"}
    assert body["creditCurrency"] == {"key": "chat_credits", "name": "Chat credits"}
    assert body["grant"]["amount"] == 500 and body["grant"]["amountDecimal"] == "500.25"
    assert body["grant"]["status"] == "active" and body["grant"]["expiresAt"] == "2099-01-01T00:00:00.000000Z"
    second = post_grant(
        api,
        "customers/external/acme/credits/grants",
        {"creditCurrencyKey": "chat_credits", "amount": 0.000001},
    )
    assert second.status_code == 201
    assert (second.json()["grant"]["amount"], second.json()["grant"]["amountDecimal"]) == (0, "0.000001")
    assert second.json()["grant"]["expiresAt"] is None
    assert CreditPool.objects.get().balance == Decimal("500.250001")


def test_manual_grant_idempotency_key_in_body_or_header(api, customer, currency):
    path = "customers/external/acme/credits/grants"
    body = {"creditCurrencyKey": "chat_credits", "amount": 10, "idempotencyKey": "k1"}
    assert post_grant(api, path, body).status_code == 201
    replay = post_grant(api, path, body)
    assert replay.status_code == 200 and replay.json()["created"] is False
    header = {"HTTP_IDEMPOTENCY_KEY": "k2"}
    assert (
        post_grant(api, path, {"creditCurrencyKey": "chat_credits", "amount": 10}, **header).status_code
        == 201
    )
    again = post_grant(api, path, {"creditCurrencyKey": "chat_credits", "amount": 10}, **header)
    assert again.json()["created"] is False
    before = ledger()
    reused = post_grant(api, path, {**body, "amount": 11})
    assert reused.status_code == 400 and reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert ledger() == before
    assert CreditPool.objects.get().balance == 20


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": 5},
        {"creditCurrencyKey": "chat_credits"},
        {"creditCurrencyKey": "chat_credits", "amount": "lots"},
        {"creditCurrencyKey": "chat_credits", "amount": 0},
        {"creditCurrencyKey": "chat_credits", "amount": -5},
        {"creditCurrencyKey": "chat_credits", "amount": 1.0000001},
        {"creditCurrencyKey": "chat_credits", "amount": 1e20},
        {"creditCurrencyKey": "chat_credits", "amount": 5, "startsAt": "2999-01-01T00:00:00Z"},
        {"creditCurrencyKey": "chat_credits", "amount": 5, "expiresAt": "2000-01-01T00:00:00Z"},
        {"creditCurrencyKey": "chat_credits", "amount": 5, "expiresAt": "soon"},
        {"creditCurrencyKey": "unknown", "amount": 5},
        {"creditCurrencyKey": None, "amount": 5},
        [],
    ],
)
def test_bad_grants_are_400_and_write_nothing(api, customer, currency, body):
    post_grant(
        api, "customers/external/acme/credits/grants", {"creditCurrencyKey": "chat_credits", "amount": 1}
    )
    before = ledger()
    response = post_grant(api, "customers/external/acme/credits/grants", body)
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"error", "code", "details"} and response.json()["error"]
    assert ledger() == before


def test_archived_currency_grant_is_400(api, customer, currency):
    credit_currency_update(currency=currency, status="archived")
    response = post_grant(
        api, "customers/external/acme/credits/grants", {"creditCurrencyKey": "chat_credits", "amount": 1}
    )
    assert response.status_code == 400 and "creditCurrencyKey" in response.json()["error"]
    assert not CreditPool.objects.exists()


def test_another_organizations_customer_is_404_everywhere(other_api, customer, currency, funded):
    before = ledger()
    for method, path in (
        ("get", f"customers/{customer.display_id}/credits/balances"),
        ("get", "customers/external/acme/credits/balances"),
        ("get", f"customers/{customer.display_id}/credits/pending-consumption"),
        ("get", "customers/external/acme/credits/pending-consumption"),
        ("get", f"customers/{customer.display_id}/state"),
        ("get", "customers/external/acme/state"),
        ("post", f"customers/{customer.display_id}/credits/grants"),
        ("post", "customers/external/acme/credits/grants"),
    ):
        body = {"creditCurrencyKey": "chat_credits", "amount": 5} if method == "post" else None
        response = getattr(other_api, method)(API + path, body, format="json")
        assert response.status_code == 404, (path, response.content)
        assert response.json()["code"] == "NOT_FOUND"
    listed = other_api.get(API + "credits/transactions", {"customerId": customer.display_id}).json()
    assert (
        listed["data"] == []
        and other_api.get(API + "credits/transactions").json()["pagination"]["total"] == 0
    )
    assert ledger() == before


def test_unknown_customer_is_404(api, db):
    assert api.get(API + "customers/cus_nope/credits/balances").status_code == 404
    assert api.get(API + "customers/external/nobody/credits/pending-consumption").status_code == 404


def test_pending_consumption_lists_oldest_first(api, organization, customer, currency):
    for signal, amount in ((1, "2.5"), (2, "7")):
        services.credit_consume(
            organization=organization,
            customer=customer,
            credits_currency=currency,
            amount=Decimal(amount),
            signal_id=signal,
            event_name="chat_message",
            occurred_at=timezone.now() - timedelta(minutes=10 - signal),
        )
    page = api.get(API + "customers/external/acme/credits/pending-consumption", {"limit": 1}).json()
    assert page["pagination"] == {"limit": 1, "offset": 0, "total": 2, "hasMore": True}
    [first] = page["data"]
    assert (first["credits"], first["creditsDecimal"], first["eventName"]) == (2, "2.5", "chat_message")
    assert first["creditCurrency"] == {"key": "chat_credits", "name": "Chat credits"}
    assert first["orderId"] is None and first["occurredAt"] < first["recordedAt"]
    post_grant(
        api, "customers/external/acme/credits/grants", {"creditCurrencyKey": "chat_credits", "amount": 100}
    )
    assert api.get(API + "customers/external/acme/credits/pending-consumption").json()["data"] == []


def test_transactions_shape_order_and_filters(api, organization, customer, currency, funded):
    order, _ = funded
    other = customer_create(organization=organization, name="Other", external_id="other")
    services.credit_grant_manual(
        organization=organization, customer=other, credit_currency_key="chat_credits", amount=Decimal(2)
    )
    page = api.get(API + "credits/transactions").json()
    assert page["pagination"]["total"] == 6
    kinds = [(t["kind"], t["type"], t["amount"]) for t in page["data"]]
    assert kinds[0] == ("grant", "grant", "2")
    assert ("spend", "spend", "-3") in kinds and ("spend", "spend", "-0.5") in kinds
    spend = next(t for t in page["data"] if t["amount"] == "-3")
    assert spend["customer"] == {"id": customer.display_id, "externalId": "acme"}
    assert spend["creditCurrency"] == {"key": "chat_credits", "name": "Chat credits"}
    assert (spend["orderId"], spend["eventName"], spend["originCode"]) == (
        order.display_id,
        "chat_message",
        "purchased",
    )
    granted = [t for t in page["data"] if t["kind"] == "grant" and t["orderId"] == order.display_id]
    assert len(granted) == 3 and all(t["product"]["externalId"] == "chatbot" for t in granted)

    def total(**query):
        response = api.get(API + "credits/transactions", query)
        assert response.status_code == 200, response.content
        return response.json()["pagination"]["total"]

    assert total(externalCustomerId="other") == 1
    assert total(customerId=customer.display_id) == 5
    assert total(type="spend") == 2
    assert total(type="grant") == 4
    assert total(type="pendingGrant") == 0
    assert total(orderId=order.display_id) == 4
    assert total(creditCurrencyKey="chat_credits", creditsCurrencyId=currency.display_id) == 6
    assert total(createdAtFrom="2999-01-01") == 0
    assert total(createdAtTo="2000-01-01T00:00:00Z") == 0
    assert total(limit=2, offset=5) == 6
    assert len(api.get(API + "credits/transactions", {"limit": 2, "offset": 5}).json()["data"]) == 1
    for bad in ({"type": "refund"}, {"createdAtFrom": "yesterday"}, {"limit": -1}):
        response = api.get(API + "credits/transactions", bad)
        assert response.status_code == 400 and response.json()["error"]
