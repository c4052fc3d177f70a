"""Fixtures of the credit ledger tests: a customer, a credit currency, orders whose lines grant credits, and
the helpers that read the ledger back."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.catalog.services import credit_currency_create, product_create
from apps.credits.models import CreditEntry, CreditGrant, CreditPool
from apps.customers.services import customer_create, customer_user_upsert
from apps.orders.services import order_create

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme", default_currency="USD")


@pytest.fixture
def currency(organization):
    return credit_currency_create(organization=organization, name="Chat credits", key="chat_credits")


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="ChatBot", external_id="chatbot")


def benefit(currency, amount, **fields) -> dict:
    """A §4.4 order-line credit benefit (snake_case, as the API's serializer hands it to the service)."""
    return {
        "id": fields.pop("id", "b"),
        "amount": Decimal(amount),
        "credits_currency_id": currency.display_id,
        **fields,
    }


def fee_line(product, *benefits, frequency="monthly", name="Platform fee") -> dict:
    return {
        "product_id": product.display_id,
        "attributes": [
            {
                "name": name,
                "pricing": {
                    "charge_type": "recurring",
                    "pricing_model": "flat",
                    "price_points": {"unit_price": Decimal(4900)},
                    "billing_frequency": frequency,
                    "credit_benefits": list(benefits),
                },
            }
        ],
    }


def seats_line(product, quantity, *benefits) -> dict:
    return {
        "product_id": product.display_id,
        "attributes": [
            {
                "name": "Seats",
                "quantity": quantity,
                "pricing": {
                    "charge_type": "seatBased",
                    "pricing_model": "perUnit",
                    "price_points": {"unit_price": Decimal(1000)},
                    "billing_frequency": "monthly",
                    "credit_benefits": list(benefits),
                },
            }
        ],
    }


def active_order(organization, customer, *lines, start=T0, **fields):
    return order_create(
        organization=organization,
        customer_id=customer.display_id,
        start_date=start,
        currency="USD",
        creation_state="active",
        lines=list(lines),
        **fields,
    )


def user(customer, external_id):
    return customer_user_upsert(
        organization=customer.organization,
        customer_external_id=customer.external_id,
        user_external_id=external_id,
        name=external_id,
    )[0]


def org_pool(customer, currency) -> CreditPool:
    return CreditPool.objects.get(customer=customer, credits_currency=currency, seat__isnull=True)


def entries_sum(pool) -> Decimal:
    return sum((e.amount for e in CreditEntry.objects.filter(pool=pool)), Decimal(0))


def lots(pool, **filters) -> list[CreditGrant]:
    return list(CreditGrant.objects.filter(pool=pool, **filters).order_by("pk"))
