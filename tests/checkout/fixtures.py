"""Shared helpers of the checkout tests (import them explicitly): Paid's quickstart ChatBot with Free, Starter, Pro
and Business plans (Pro also priced in EUR), each plan granting Chat Credits monthly."""

from dataclasses import dataclass
from decimal import Decimal

from apps.catalog.services import (
    credit_currency_create,
    plan_create,
    product_attributes_upsert,
    product_create,
)
from apps.checkout.models import CheckoutAttempt
from apps.checkout.services import checkout_create
from apps.credits.selectors import credit_balance_list

PLANS = [("Free", 0, 50), ("Starter", 2900, 500), ("Pro", 7900, 2000), ("Business", 19900, 10000)]


def monthly(*points: tuple[str, int]) -> dict:
    return {
        "pricing_type": "RecurringPerUnit",
        "billing_frequency": "Monthly",
        "price_points": [{"currency": currency, "unit_price": Decimal(cents)} for currency, cents in points],
    }


def chat(currency_id: str) -> dict:
    return {
        "pricing_type": "UsagePrepaidCredits",
        "event_name": "chat_message",
        "credits_currency_id": currency_id,
        "credit_cost": Decimal(1),
    }


@dataclass
class Catalog:
    product: object
    plans: dict  # name -> Plan
    credits: object

    def plan_id(self, name: str) -> str:
        return self.plans[name].display_id


def make_catalog(organization) -> Catalog:
    credits = credit_currency_create(organization=organization, name="Chat Credits", key="chat_credits")
    product = product_create(organization=organization, name="ChatBot", external_id="chatbot")
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Subscription", "pricing": monthly(("USD", 2900))},
            {"name": "Chat messages", "pricing": chat(credits.display_id)},
        ],
    )
    fee, messages = product.attributes.order_by("pk")
    plans = {}
    for name, cents, allowance in PLANS:
        points = [("USD", cents), ("EUR", cents - 900)] if name == "Pro" else [("USD", cents)]
        plans[name] = plan_create(
            organization=organization,
            product_id=product.display_id,
            name=name,
            external_id=name.lower(),
            attributes=[
                {
                    "product_attribute_id": fee.display_id,
                    "pricing": monthly(*points),
                    "credit_benefits": [
                        {
                            "credits_currency_id": credits.display_id,
                            "amount": Decimal(allowance),
                            "allocation_cadence": "monthly",
                        }
                    ],
                },
                {"product_attribute_id": messages.display_id, "pricing": chat(credits.display_id)},
            ],
        )
    return Catalog(product=product, plans=plans, credits=credits)


def make_checkout(organization, catalog: Catalog, *names: str, **fields):
    """A checkout offering the named plans (all of them when none are named)."""
    product = {"id": catalog.product.display_id}
    if names:
        product["plans"] = [{"id": catalog.plan_id(name)} for name in names]
    fields.setdefault("success_url", "https://app.example.com/ok?checkout={CHECKOUT_ID}")
    return checkout_create(organization=organization, products=[product], **fields)


def buyer(**overrides) -> dict:
    values = {"client_key": "form-1", "currency": "USD", "name": "Ada Buyer", "email": "ada@example.com"}
    values.update(overrides)
    return values


def available_credits(customer) -> Decimal:
    balances = credit_balance_list(customer=customer)
    return sum((Decimal(str(b.available)) for b in balances), Decimal(0))


def completed(checkout) -> list[CheckoutAttempt]:
    return list(checkout.attempts.filter(status=CheckoutAttempt.Status.COMPLETED).order_by("pk"))
