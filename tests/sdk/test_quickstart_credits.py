"""Paid's quickstart credit flow end to end through paid-python: a ChatBot whose plans grant Chat Credits monthly,
each `chat_message` burning `creditCost x quantity`. Activation grants, ingest → rating → spend run on their
own (django-q2 runs tasks in-process under tests), and the balance reflects the signals within a second."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from paid import Paid
from paid.types import (
    CreateOrderLineRequest,
    PlanAttributeInput,
    ProductAttributeUpsert,
    ProductCreditBenefitInput,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsagePrepaidCredits,
    ProductSimplePricePoint,
)

from apps.credits.selectors import credit_ledger_drift

pytestmark = pytest.mark.django_db(transaction=True)

PLANS = [("Starter", 2900, 500.0), ("Pro", 7900, 2000.0), ("Business", 19900, 10000.0)]


def _available(client: Paid, customer_id: str, *, expected: float, within: float = 1.0) -> float:
    """The Chat Credits balance, polled until it equals `expected` or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        balances = client.customers.get_customer_credit_balances(customer_id).data
        available = balances[0].available if balances else None
        if available == expected or time.monotonic() > deadline:
            return available
        time.sleep(0.05)


def test_activate_pro_read_2000_send_chat_messages_read_the_reduced_balance(client: Paid):
    credits = client.credits.create_credit_currency(name="Chat Credits", key="chat_credits")
    product = client.products.create_product(name="ChatBot", external_id="chatbot")
    chat = ProductPricingInput_UsagePrepaidCredits(
        event_name="chat_message", credits_currency_id=credits.id, credit_cost=1.0
    )
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Subscription",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly",
                    price_points=[ProductSimplePricePoint(currency="USD", unit_price=2900)],
                ),
            ),
            ProductAttributeUpsert(name="Chat messages", pricing=chat),
        ],
    )
    fee_id, chat_id = (a.product_attribute_id for a in detail.product_attributes)
    for name, cents, monthly in PLANS:
        client.plans.create_plan(
            product_id=product.id,
            name=name,
            is_default=name == "Pro",  # an order line takes the product's default plan
            attributes=[
                PlanAttributeInput(
                    product_attribute_id=fee_id,
                    pricing=ProductPricingInput_RecurringPerUnit(
                        billing_frequency="Monthly",
                        price_points=[ProductSimplePricePoint(currency="USD", unit_price=cents)],
                    ),
                    credit_benefits=[
                        ProductCreditBenefitInput(
                            credits_currency_id=credits.id, amount=monthly, allocation_cadence="monthly"
                        )
                    ],
                ),
                PlanAttributeInput(product_attribute_id=chat_id, pricing=chat),
            ],
        )
    customer = client.customers.create_customer(name="Acme", external_id="acme", default_currency="USD")
    order = client.orders.create_order(
        customer_id=customer.id,
        start_date=datetime.now(UTC) - timedelta(minutes=5),
        currency="USD",
        lines=[CreateOrderLineRequest(product_id=product.id)],
    )
    client.orders.activate_order_by_id(order.id)
    assert _available(client, customer.id, expected=2000) == 2000

    now = datetime.now(UTC)
    messages = [
        {
            "event_name": "chat_message",
            "customer": {"external_customer_id": "acme"},
            "timestamp": now.isoformat(),
        },
        {
            "event_name": "chat_message",
            "customer": {"external_customer_id": "acme"},
            "timestamp": now.isoformat(),
        },
        {
            "event_name": "chat_message",
            "customer": {"external_customer_id": "acme"},
            "data": {"quantity": 5},
            "timestamp": now.isoformat(),
        },
    ]
    sent = time.monotonic()
    assert client.signals.create_signals(signals=messages).ingested == 3
    assert _available(client, customer.id, expected=1993) == 1993
    assert time.monotonic() - sent < 1.0

    spends = client.credits.list_credit_transactions(external_customer_id="acme", type="spend")
    assert sorted(t.amount for t in spends.data) == ["-1", "-1", "-5"]
    assert {t.event_name for t in spends.data} == {"chat_message"}
    assert {s.name for s in client.signals.list_signals(external_customer_id="acme").data} == {"chat_message"}
    assert credit_ledger_drift() == []
