"""Credits (§2.1 balances, grants, pending consumption; §3.6 transactions) through paid-python against a live
server: the SDK's own pydantic models must parse every answer."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from paid import CreateOrderLineRequest, Paid
from paid.errors import BadRequestError, NotFoundError
from paid.types import (
    PlanAttributeInput,
    ProductAttributeUpsert,
    ProductCreditBenefitInput,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsagePrepaidCredits,
    ProductSimplePricePoint,
)

from apps.credits import services
from apps.credits.models import CreditConsumption, CreditEntry, CreditGrant, CreditPool
from tests.sdk.conftest import NO_RETRY

pytestmark = pytest.mark.django_db(transaction=True)


def _ledger() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (CreditPool, CreditGrant, CreditEntry, CreditConsumption)
    } | {"balances": sorted(CreditPool.objects.values_list("pk", "balance"))}


@pytest.fixture
def chatbot(client: Paid, organization):
    """The quickstart: Chat credits, a ChatBot whose default plan grants 1,000 credits a month on activation and
    burns 1 credit per `chat_message`, and customer Acme with an active order on it."""
    currency = client.credits.create_credit_currency(name="Chat credits", key="chat_credits")
    product = client.products.create_product(name="ChatBot", external_id="chatbot")
    fee = ProductPricingInput_RecurringPerUnit(
        billing_frequency="Monthly",
        billing_type="Advance",
        price_points=[ProductSimplePricePoint(currency="USD", unit_price=4900)],
    )
    chat = ProductPricingInput_UsagePrepaidCredits(
        event_name="chat_message", credits_currency_id=currency.id, credit_cost=1.0
    )
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(name="Platform fee", pricing=fee),
            ProductAttributeUpsert(name="Chat messages", pricing=chat),
        ],
    )
    fee_id, chat_id = (a.product_attribute_id for a in detail.product_attributes)
    client.plans.create_plan(
        product_id=product.id,
        name="Pro",
        is_default=True,
        attributes=[
            PlanAttributeInput(
                product_attribute_id=fee_id,
                pricing=fee,
                credit_benefits=[
                    ProductCreditBenefitInput(
                        credits_currency_id=currency.id,
                        amount=1000.0,
                        recipient="organization",
                        allocation_cadence="monthly",
                        credit_grant_timing="on_order_activation",
                        rollover_amount=200.0,
                        rollover_duration=1,
                        rollover_duration_unit="months",
                    )
                ],
            ),
            PlanAttributeInput(product_attribute_id=chat_id, pricing=chat),
        ],
    )
    customer = client.customers.create_customer(name="Acme", external_id="acme", default_currency="USD")
    client.customers.create_customer_alias(customer.id, alias="acme-crm")
    start = datetime.now(UTC) - timedelta(days=2)
    order = client.orders.create_order(
        customer_id=customer.id,
        start_date=start,
        currency="USD",
        lines=[CreateOrderLineRequest(product_id=product.id)],
    )
    client.orders.activate_order_by_id(order.id)  # its benefits are granted once activation commits
    return {"currency": currency, "product": product, "customer": customer, "order": order}


def test_quickstart_balances_transactions_and_top_up(client: Paid, organization, chatbot):
    customer, currency, order = chatbot["customer"], chatbot["currency"], chatbot["order"]
    services.credit_consume(
        organization=organization,
        customer=services_customer(organization, customer.id),
        credits_currency=services._active_currency_by_key(organization=organization, key="chat_credits"),
        amount=Decimal(3),
        signal_id=1,
        event_name="chat_message",
    )

    for balances in (
        client.customers.get_customer_credit_balances(customer.id),
        client.customers.get_customer_credit_balances_by_external_id("acme"),
        client.customers.get_customer_credit_balances_by_external_id("acme-crm"),
    ):
        [balance] = balances.data
        assert (balance.credits_currency_id, balance.currency_key, balance.currency_name) == (
            currency.id,
            "chat_credits",
            "Chat credits",
        )
        assert (balance.available, balance.used, balance.total, balance.recipient) == (
            997,
            3,
            1000,
            "organization",
        )
        [lot] = balance.grants
        assert (lot.available, lot.used, lot.total, lot.rollover_amount) == (997, 3, 1000, 200)
        assert lot.period_end - lot.period_start >= timedelta(days=28) and lot.is_in_rollover_window is False
        assert lot.rollover_end_date > lot.period_end

    top_up = client.customers.grant_customer_credits_by_external_id(
        "acme", credit_currency_key="chat_credits", amount=500.5
    )
    assert (
        top_up.created is True and top_up.customer.id == customer.id and top_up.customer.external_id == "acme"
    )
    assert (top_up.grant.amount, top_up.grant.amount_decimal, top_up.grant.status) == (500, "500.5", "active")
    assert top_up.credit_currency.key == "chat_credits" and top_up.grant.expires_at is None
    expiring = client.customers.grant_customer_credits(
        customer.id,
        credit_currency_key="chat_credits",
        amount=0.25,
        starts_at=datetime.now(UTC) - timedelta(hours=1),
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    assert expiring.grant.amount == 0 and expiring.grant.amount_decimal == "0.25"
    assert client.customers.get_customer_credit_balances(customer.id).data[0].available == 997 + 500.5 + 0.25

    page = client.credits.list_credit_transactions(external_customer_id="acme")
    assert page.pagination.total == 4
    assert [(t.type, t.amount) for t in page.data] == [
        ("grant", "0.25"),
        ("grant", "500.5"),
        ("spend", "-3"),
        ("grant", "1000"),
    ]
    spend = page.data[2]
    assert (spend.event_name, spend.origin_code, spend.customer.id) == (
        "chat_message",
        "purchased",
        customer.id,
    )
    assert page.data[3].order_id == order.id and page.data[3].product.id == chatbot["product"].id
    assert client.credits.list_credit_transactions(type="spend").pagination.total == 1
    assert client.credits.list_credit_transactions(order_id=order.id).pagination.total == 1
    assert client.credits.list_credit_transactions(
        credit_currency_key="chat_credits", limit=1
    ).pagination.has_more
    assert (
        client.credits.list_credit_transactions(credits_currency_id=currency.id, offset=3).data[0].amount
        == "1000"
    )
    assert client.credits.list_credit_transactions(created_at_from="2999-01-01").data == []

    state = client.customers.get_customer_state_by_external_id("acme")
    [held] = state.credits.balances
    assert (held.currency_key, held.balance) == ("chat_credits", 997 + 500.5 + 0.25)


def services_customer(organization, customer_id):
    from apps.customers.selectors import customer_get

    return customer_get(organization=organization, customer_id=customer_id)


def test_grant_idempotency_through_request_options(client: Paid, chatbot):
    options = {"additional_body_parameters": {"idempotencyKey": "invoice-42"}}
    first = client.customers.grant_customer_credits_by_external_id(
        "acme", credit_currency_key="chat_credits", amount=10, request_options=options
    )
    replay = client.customers.grant_customer_credits_by_external_id(
        "acme", credit_currency_key="chat_credits", amount=10, request_options=options
    )
    assert first.created is True and replay.created is False
    assert replay.grant.amount_decimal == "10" and replay.created_at == first.created_at
    header = {"additional_headers": {"Idempotency-Key": "invoice-43"}}
    assert client.customers.grant_customer_credits(
        chatbot["customer"].id, credit_currency_key="chat_credits", amount=1, request_options=header
    ).created
    assert not client.customers.grant_customer_credits(
        chatbot["customer"].id, credit_currency_key="chat_credits", amount=1, request_options=header
    ).created
    with pytest.raises(BadRequestError) as error:
        client.customers.grant_customer_credits_by_external_id(
            "acme", credit_currency_key="chat_credits", amount=11, request_options=options
        )
    assert error.value.body["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert client.customers.get_customer_credit_balances_by_external_id("acme").data[0].available == 1011


def test_pending_consumption_before_any_credits(client: Paid, organization):
    client.credits.create_credit_currency(name="Chat credits", key="chat_credits")
    created = client.customers.create_customer(name="Late", external_id="late")
    customer = services_customer(organization, created.id)
    currency = services._active_currency_by_key(organization=organization, key="chat_credits")
    for signal, amount in ((1, "3"), (2, "1.5")):
        services.credit_consume(
            organization=organization,
            customer=customer,
            credits_currency=currency,
            amount=Decimal(amount),
            signal_id=signal,
            event_name="chat_message",
        )
    for page in (
        client.customers.list_customer_pending_credit_consumption(created.id),
        client.customers.list_customer_pending_credit_consumption_by_external_id("late", limit=5),
    ):
        assert [(p.credits, p.credits_decimal, p.event_name) for p in page.data] == [
            (3, "3", "chat_message"),
            (1, "1.5", "chat_message"),
        ]
        assert page.data[0].credit_currency.key == "chat_credits" and page.data[0].recorded_at
    assert client.customers.get_customer_credit_balances(created.id).data == []

    client.customers.grant_customer_credits(created.id, credit_currency_key="chat_credits", amount=10)
    assert client.customers.list_customer_pending_credit_consumption(created.id).data == []
    [balance] = client.customers.get_customer_credit_balances(created.id).data
    assert (balance.available, balance.used) == (5.5, 4.5)


def test_other_organization_and_bad_input(client: Paid, other_client: Paid, chatbot):
    customer = chatbot["customer"]
    before = _ledger()
    for call in (
        lambda: other_client.customers.get_customer_credit_balances(customer.id),
        lambda: other_client.customers.get_customer_credit_balances_by_external_id("acme"),
        lambda: other_client.customers.list_customer_pending_credit_consumption(customer.id),
        lambda: other_client.customers.list_customer_pending_credit_consumption_by_external_id("acme"),
        lambda: other_client.customers.grant_customer_credits(
            customer.id, credit_currency_key="chat_credits", amount=5
        ),
        lambda: other_client.customers.grant_customer_credits_by_external_id(
            "acme", credit_currency_key="chat_credits", amount=5
        ),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert other_client.credits.list_credit_transactions(customer_id=customer.id).data == []
    assert other_client.credits.list_credit_transactions().pagination.total == 0

    for kwargs in (
        {"credit_currency_key": "nope", "amount": 5},
        {"credit_currency_key": "chat_credits", "amount": 0},
        {"credit_currency_key": "chat_credits", "amount": 1.0000001},
        {
            "credit_currency_key": "chat_credits",
            "amount": 5,
            "starts_at": datetime.now(UTC) + timedelta(days=1),
        },
        {"credit_currency_key": "chat_credits", "amount": 5, "expires_at": datetime(2001, 1, 1, tzinfo=UTC)},
    ):
        with pytest.raises(BadRequestError):
            client.customers.grant_customer_credits(customer.id, **kwargs, request_options=NO_RETRY)
    with pytest.raises(BadRequestError):
        client.credits.list_credit_transactions(type="refund")
    with pytest.raises(NotFoundError):
        client.customers.get_customer_credit_balances("cus_nope")
    assert _ledger() == before
