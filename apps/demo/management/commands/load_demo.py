"""Load the two example catalogs of Paid's guides into an organization, through the services.

- ChatBot (quickstart): credit currency `chat_credits`; plans Starter $29/month with 500 credits, Pro $79 with
  2,000, Business $199 with 10,000; every `chat_message` burns 1 credit.
- AI SDR (first 10 minutes): $500/month platform fee, $0.10 per `email_sent`, $50 per `meeting_booked` outcome.

Plus three customers, two with active orders (started two weeks ago) and one with a draft, and two weeks of
signals for the active ones: Northwind chats, Globex sends emails and books meetings. The worker rates them and
grants and spends Chat Credits once `make run` starts it. Running it again changes nothing."""

import random
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import organization_get
from apps.catalog.selectors import product_attribute_list, product_list
from apps.catalog.services import (
    credit_currency_create,
    plan_create,
    plan_upgrade_path_update,
    product_attributes_upsert,
    product_create,
)
from apps.common.exceptions import NotFound
from apps.customers.services import contact_create, customer_create
from apps.orders.services import order_create
from apps.signals.services import signal_ingest

CHATBOT_PLANS = [("Starter", 2900, 500), ("Pro", 7900, 2000), ("Business", 19900, 10000)]


def _usd(cents: int) -> list[dict]:
    return [{"currency": "USD", "unit_price": Decimal(cents)}]


def _monthly(cents: int) -> dict:
    return {"pricing_type": "RecurringPerUnit", "billing_frequency": "Monthly", "price_points": _usd(cents)}


class Command(BaseCommand):
    help = "Create the ChatBot and AI SDR example catalogs, customers and orders in an organization (once)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="organization display id or numeric id")

    def handle(self, *args, organization: str, **options):
        try:
            org = organization_get(organization_id=organization)
        except NotFound as exc:
            raise CommandError(exc.message) from exc
        if product_list(organization=org).filter(external_id="chatbot").exists():
            self.stdout.write("Demo catalogs are already loaded.")
            return
        with transaction.atomic():
            chatbot = _chatbot(org)
            ai_sdr = _ai_sdr(org)
            _customers_and_orders(org, chatbot=chatbot, ai_sdr=ai_sdr)
            stored = _signals(org)
        self.stdout.write(
            f"Loaded the ChatBot and AI SDR catalogs, 3 customers, their orders and {stored} signals."
        )


def _chatbot(org):
    credits = credit_currency_create(
        organization=org, name="Chat Credits", key="chat_credits", description="One credit per chat message."
    )
    product = product_create(
        organization=org,
        name="ChatBot",
        external_id="chatbot",
        description="AI chat assistant for support teams.",
    )
    burn = {
        "pricing_type": "UsagePrepaidCredits",
        "event_name": "chat_message",
        "credits_currency_id": credits.display_id,
        "credit_cost": Decimal(1),
    }
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Subscription", "pricing": _monthly(2900)},
            {"name": "Chat messages", "pricing": burn},
        ],
    )
    subscription, messages = product_attribute_list(product=product)
    plans = []
    for index, (name, cents, allowance) in enumerate(CHATBOT_PLANS):
        benefit = {
            "credits_currency_id": credits.display_id,
            "amount": Decimal(allowance),
            "allocation_cadence": "monthly",
            "credit_grant_timing": "on_order_activation",
        }
        plans.append(
            plan_create(
                organization=org,
                product_id=product.display_id,
                name=name,
                external_id=f"chatbot-{name.lower()}",
                is_default=index == 0,
                attributes=[
                    {
                        "product_attribute_id": subscription.display_id,
                        "pricing": _monthly(cents),
                        "credit_benefits": [benefit],
                    },
                    {"product_attribute_id": messages.display_id, "pricing": burn},
                ],
            )
        )
    plan_upgrade_path_update(
        organization=org,
        product_id=product.display_id,
        groups=[{"frequency": "Monthly", "plan_ids": [plan.display_id for plan in plans]}],
    )
    return product


def _ai_sdr(org):
    product = product_create(
        organization=org, name="AI SDR", external_id="ai-sdr", description="Outbound sales agent."
    )
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Platform fee", "pricing": _monthly(50000)},
            {
                "name": "Emails sent",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "event_name": "email_sent",
                    "price_points": _usd(10),
                },
            },
            {
                "name": "Meetings booked",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "event_name": "meeting_booked",
                    "signal_type": "outcome",
                    "price_points": _usd(5000),
                },
            },
        ],
    )
    return product


def _customers_and_orders(org, *, chatbot, ai_sdr) -> None:
    for name, external_id, email, product, state in [
        ("Northwind Traders", "northwind", "billing@northwind.example", chatbot, "active"),
        ("Globex Corporation", "globex", "ap@globex.example", ai_sdr, "active"),
        ("Initech", "initech", "finance@initech.example", ai_sdr, "draft"),
    ]:
        customer = customer_create(
            organization=org,
            name=name,
            external_id=external_id,
            email=email,
            billing_address={"line1": "1 Market Street", "city": "San Francisco", "country": "US"},
        )
        contact_create(
            organization=org,
            customer_id=customer.display_id,
            email=email,
            first_name="Alex",
            last_name="Rivera",
            roles=["BILLING"],
        )
        order_create(
            organization=org,
            customer_id=customer.display_id,
            name=f"{product.name} for {name}",
            currency="USD",
            creation_state=state,
            start_date=timezone.now() - timedelta(days=14),
            lines=[{"product_id": product.display_id}],
        )


def _signals(org) -> int:
    """Two weeks of usage, the same every time (seeded), ending an hour ago."""
    rng, now = random.Random(42), timezone.now()

    def signal(event, customer, n, data):
        at = now - timedelta(hours=1 + rng.randrange(13 * 24))
        item = {"eventName": event, "customer": {"externalCustomerId": customer}, "timestamp": at.isoformat()}
        return item | {"idempotencyKey": f"demo-{event}-{n}", "data": data}

    def llm(model: str, tokens_in: int, tokens_out: int) -> dict:
        """What the agent's LLM call cost, sent along as `costData` (§5.5): priced by Tally's price table."""
        attributes = {"gen_ai.response.model": model, "gen_ai.usage.input_tokens": tokens_in}
        return {
            "costData": {
                "vendor": "openai",
                "attributes": attributes | {"gen_ai.usage.output_tokens": tokens_out},
            }
        }

    users = ["maria", "kenji", "ada"]
    batch = [
        signal(
            "chat_message",
            "northwind",
            n,
            {"quantity": rng.choice([1, 1, 1, 2, 5]), "external_user_id": rng.choice(users)}
            | llm("gpt-4o-mini", rng.randrange(800, 4000), rng.randrange(100, 900)),
        )
        for n in range(60)
    ]
    batch += [
        signal(
            "email_sent",
            "globex",
            n,
            {"campaign": rng.choice(["q4-outbound", "renewals"])}
            | llm("gpt-4o", rng.randrange(2000, 6000), rng.randrange(300, 1200)),
        )
        for n in range(80)
    ]
    batch += [
        signal("meeting_booked", "globex", n, {"deal_size_usd": rng.choice([8000, 12000, 30000])})
        for n in range(3)
    ]
    return signal_ingest(organization=org, signals=batch).ingested
