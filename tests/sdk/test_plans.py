"""Plans (§3.2) through paid-python: the ChatBot catalog of Paid's quickstart, updates, lists, errors."""

from decimal import Decimal

import pytest
from paid.errors import BadRequestError, NotFoundError
from paid.types import (
    PlanAttributeInput,
    PlanUpgradePathGroup,
    ProductAttributeUpsert,
    ProductCreditBenefitInput,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsagePrepaidCredits,
    ProductSimplePricePoint,
)

from apps.catalog.models import CreditBenefit, Plan, PlanAttribute
from apps.catalog.selectors import catalog_pricing_for_order, product_get
from apps.catalog.services import product_archive

pytestmark = pytest.mark.django_db(transaction=True)

TIERS = [
    ("Starter", "starter", 2900, 500),
    ("Pro", "pro", 7900, 2000),
    ("Business", "business", 19900, 10000),
]


def monthly(*points: tuple[str, int]) -> ProductPricingInput_RecurringPerUnit:
    return ProductPricingInput_RecurringPerUnit(
        billing_frequency="Monthly",
        price_points=[
            ProductSimplePricePoint(currency=currency, unit_price=cents) for currency, cents in points
        ],
    )


def chat_messages(credits_id: str) -> ProductPricingInput_UsagePrepaidCredits:
    return ProductPricingInput_UsagePrepaidCredits(
        event_name="chat_message", credits_currency_id=credits_id, credit_cost=1
    )


@pytest.fixture
def chatbot(client):
    """Quickstart step 1: the `chat_credits` currency and the ChatBot product with its two pricing lines."""
    credits = client.credits.create_credit_currency(name="Chat Credits", key="chat_credits")
    product = client.products.create_product(name="ChatBot", external_id="chatbot")
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(name="Subscription", pricing=monthly(("USD", 2900))),
            ProductAttributeUpsert(name="Chat messages", pricing=chat_messages(credits.id)),
        ],
    )
    subscription, messages = detail.product_attributes
    return {
        "credits": credits.id,
        "product": product.id,
        "subscription": subscription.product_attribute_id,
        "messages": messages.product_attribute_id,
    }


def chatbot_plan_attributes(chatbot, cents: int, allowance: int) -> list[PlanAttributeInput]:
    return [
        PlanAttributeInput(
            product_attribute_id=chatbot["subscription"],
            pricing=monthly(("USD", cents)),
            credit_benefits=[
                ProductCreditBenefitInput(
                    credits_currency_id=chatbot["credits"],
                    amount=allowance,
                    allocation_cadence="monthly",
                    credit_grant_timing="on_order_activation",
                )
            ],
        ),
        PlanAttributeInput(
            product_attribute_id=chatbot["messages"], pricing=chat_messages(chatbot["credits"])
        ),
    ]


@pytest.fixture
def chatbot_plans(client, chatbot):
    plans = {
        key: client.plans.create_plan(
            product_id=chatbot["product"],
            name=name,
            external_id=key,
            is_default=key == "starter",
            attributes=chatbot_plan_attributes(chatbot, cents, allowance),
        )
        for name, key, cents, allowance in TIERS
    }
    return plans


def test_chatbot_quickstart_plans(client, chatbot, chatbot_plans, organization):
    starter, pro, business = chatbot_plans["starter"], chatbot_plans["pro"], chatbot_plans["business"]
    assert starter.id.startswith("plan_")
    assert (starter.product_id, starter.name, starter.external_id) == (
        chatbot["product"],
        "Starter",
        "starter",
    )
    assert starter.supported_currencies == ["USD"]  # taken from the price points
    assert (starter.is_default, pro.is_default, business.is_default) == (True, False, False)
    assert starter.status == "active" and starter.archived_at is None and starter.upgrade_path_order is None

    subscription, messages = pro.attributes
    assert (subscription.product_attribute_id, subscription.name, subscription.active) == (
        chatbot["subscription"],
        "Subscription",
        True,
    )
    assert subscription.pricing.pricing_type == "RecurringPerUnit"
    assert (subscription.pricing.charge_type, subscription.pricing.pricing_model) == ("recurring", "PerUnit")
    assert subscription.pricing.price_points == [{"currency": "USD", "unitPrice": 7900}]
    (benefit,) = subscription.credit_benefits
    assert benefit.id.startswith("cb_")
    assert (benefit.credits_currency_id, benefit.amount, benefit.allocation_cadence) == (
        chatbot["credits"],
        2000,
        "monthly",
    )
    assert (benefit.recipient, benefit.is_infinite_total, benefit.credit_grant_timing) == (
        "organization",
        False,
        "on_order_activation",
    )
    assert messages.pricing.pricing_model == "PrepaidCredits"
    assert messages.pricing.price_points == []
    assert messages.pricing.model_extra["creditCost"] == 1
    assert messages.pricing.model_extra["eventName"] == "chat_message"
    assert messages.credit_benefits == []
    allowances = [
        client.plans.get_plan_by_external_id(key).attributes[0].credit_benefits[0].amount
        for key in ("starter", "pro", "business")
    ]
    assert allowances == [500, 2000, 10000]
    # The product's own pricing is untouched by its plans.
    product_pricing = client.pricing.get_pricing(chatbot["subscription"])
    assert product_pricing.pricing.price_points[0].unit_price == 2900
    assert product_pricing.credit_benefits == []

    path = client.plans.update_plan_upgrade_path(
        product_id=chatbot["product"],
        groups=[PlanUpgradePathGroup(frequency="Monthly", plan_ids=[starter.id, pro.id, business.id])],
    )
    assert [(plan.name, plan.upgrade_path_order) for plan in path.data] == [
        ("Starter", 0),
        ("Pro", 1),
        ("Business", 2),
    ]
    assert client.plans.get_plan_by_id(business.id).upgrade_path_order == 2

    # What an order on ChatBot copies: the default plan (Starter), or the plan it names.
    product = product_get(organization=organization, product_id=chatbot["product"])
    lines = catalog_pricing_for_order(product=product)
    assert [line.plan_id for line in lines] == [starter.id, starter.id]
    assert Decimal(lines[0].pricing["price_points"][0]["unit_price"]) == 2900
    assert [b.amount for b in lines[0].credit_benefits] == [500]
    lines = catalog_pricing_for_order(product=product, plan_id=business.id)
    assert [line.product_attribute.display_id for line in lines] == [
        chatbot["subscription"],
        chatbot["messages"],
    ]
    assert [b.amount for b in lines[0].credit_benefits] == [10000]


def test_default_moves_and_archiving(client, chatbot, chatbot_plans):
    starter, pro = chatbot_plans["starter"], chatbot_plans["pro"]
    moved = client.plans.update_plan_by_id(pro.id, is_default=True)
    assert moved.is_default is True
    assert client.plans.get_plan_by_id(starter.id).is_default is False
    defaults = [p.name for p in client.plans.list_plans(product_id=chatbot["product"]).data if p.is_default]
    assert defaults == ["Pro"]

    archived = client.plans.update_plan_by_external_id("pro", status="archived")
    assert archived.status == "archived" and archived.archived_at is not None
    assert archived.is_default is False  # an archived plan is never the default
    listed = client.plans.list_plans(product_id=chatbot["product"], include_archived=False)
    assert [p.name for p in listed.data] == ["Business", "Starter"]
    assert len(client.plans.list_plans(product_id=chatbot["product"]).data) == 3

    with pytest.raises(BadRequestError) as raised:
        client.plans.update_plan_by_id(pro.id, is_default=True)
    assert "isDefault" in raised.value.body["error"]
    restored = client.plans.update_plan_by_id(pro.id, status="active", is_default=True)
    assert (restored.status, restored.archived_at, restored.is_default) == ("active", None, True)


def test_update_replaces_attributes_and_renames(client, chatbot, chatbot_plans):
    pro = chatbot_plans["pro"]
    updated = client.plans.update_plan_by_external_id(
        "pro",
        name="Pro (EU)",
        external_id="pro-eu",
        supported_currencies=["usd", "eur"],
        attributes=[
            PlanAttributeInput(
                product_attribute_id=chatbot["subscription"], pricing=monthly(("EUR", 7500), ("USD", 7900))
            )
        ],
    )
    assert (updated.id, updated.name, updated.external_id) == (pro.id, "Pro (EU)", "pro-eu")
    assert updated.supported_currencies == ["USD", "EUR"]
    (subscription,) = updated.attributes
    assert subscription.credit_benefits == []
    assert [p["currency"] for p in subscription.pricing.price_points] == ["EUR", "USD"]
    assert PlanAttribute.objects.filter(plan__display_id=pro.id).count() == 1
    assert not CreditBenefit.objects.filter(plan_attribute__plan__display_id=pro.id).exists()
    with pytest.raises(NotFoundError):
        client.plans.get_plan_by_external_id("pro")
    # Omitted fields are kept; null clears the name.
    again = client.plans.update_plan_by_id(pro.id, name=None)
    assert (
        again.name is None and again.external_id == "pro-eu" and again.supported_currencies == ["USD", "EUR"]
    )


def test_list_plans_filters_and_pages(client, chatbot, chatbot_plans):
    other = client.products.create_product(name="Other", external_id="other")
    client.products.update_product_by_id(
        other.id, product_attributes=[ProductAttributeUpsert(name="Fee", pricing=monthly(("USD", 100)))]
    )
    fee = client.products.get_product_by_id(other.id).product_attributes[0].product_attribute_id
    client.plans.create_plan(
        product_id=other.id,
        attributes=[PlanAttributeInput(product_attribute_id=fee, pricing=monthly(("USD", 50)))],
    )
    everything = client.plans.list_plans()
    assert everything.pagination.total == 4
    assert [p.name for p in everything.data] == [None, "Business", "Pro", "Starter"]  # newest first
    assert [p.name for p in client.plans.list_plans(external_product_id="chatbot").data] == [
        "Business",
        "Pro",
        "Starter",
    ]
    assert client.plans.list_plans(product_id=other.id).data[0].product_id == other.id
    assert client.plans.list_plans(product_id=chatbot["product"], external_product_id="other").data == []
    page = client.plans.list_plans(limit=2, offset=1)
    assert [p.name for p in page.data] == ["Business", "Pro"]
    assert (page.pagination.total, page.pagination.has_more) == (4, True)
    with pytest.raises(NotFoundError):
        client.plans.list_plans(product_id="prod_missing")


def test_upgrade_path_regroups_and_clears(client, chatbot, chatbot_plans):
    starter, pro, business = (chatbot_plans[key].id for key in ("starter", "pro", "business"))
    client.plans.update_plan_upgrade_path(
        product_id=chatbot["product"], groups=[PlanUpgradePathGroup(plan_ids=[starter, pro, business])]
    )
    result = client.plans.update_plan_upgrade_path(
        product_id=chatbot["product"],
        groups=[
            PlanUpgradePathGroup(frequency="Monthly", plan_ids=[business, starter]),
            PlanUpgradePathGroup(frequency="Annual", plan_ids=[]),
        ],
    )
    assert [(p.id, p.upgrade_path_order) for p in result.data] == [(business, 0), (starter, 1), (pro, None)]
    assert Plan.objects.get(display_id=business).upgrade_path_frequency == "Monthly"
    assert Plan.objects.get(display_id=pro).upgrade_path_frequency is None


def test_bad_plans_are_refused_naming_the_field_and_change_nothing(
    client, chatbot, chatbot_plans, organization
):
    other = client.products.create_product(name="Other")
    client.products.update_product_by_id(
        other.id, product_attributes=[ProductAttributeUpsert(name="Fee", pricing=monthly(("USD", 100)))]
    )
    foreign = client.products.get_product_by_id(other.id).product_attributes[0].product_attribute_id
    before = (Plan.objects.count(), PlanAttribute.objects.count(), CreditBenefit.objects.count())

    def refused(call, field: str) -> None:
        with pytest.raises(BadRequestError) as raised:
            call()
        assert field in raised.value.body["error"], raised.value.body

    create = client.plans.create_plan
    refused(lambda: create(product_id="prod_missing", attributes=[]), "productId")
    refused(
        lambda: create(
            product_id=chatbot["product"],
            attributes=[PlanAttributeInput(product_attribute_id=foreign, pricing=monthly(("USD", 1)))],
        ),
        "attributes[0].productAttributeId",
    )
    refused(
        lambda: create(
            product_id=chatbot["product"],
            supported_currencies=["USD", "EUR"],
            attributes=[
                PlanAttributeInput(product_attribute_id=chatbot["subscription"], pricing=monthly(("USD", 1)))
            ],
        ),
        "attributes[0].pricing.pricePoints",
    )
    refused(
        lambda: create(
            product_id=chatbot["product"],
            external_id="pro",
            attributes=[
                PlanAttributeInput(product_attribute_id=chatbot["subscription"], pricing=monthly(("USD", 1)))
            ],
        ),
        "externalId",
    )
    refused(
        lambda: client.plans.update_plan_by_id(
            chatbot_plans["pro"].id,
            name="Renamed",
            is_default=True,
            attributes=[
                PlanAttributeInput(
                    product_attribute_id=chatbot["messages"],
                    pricing=chat_messages(chatbot["credits"]),
                    credit_benefits=[ProductCreditBenefitInput(credits_currency_id="cc_missing", amount=1)],
                )
            ],
        ),
        "attributes[0].creditBenefits[0].creditsCurrencyId",
    )
    refused(
        lambda: client.plans.update_plan_by_id(chatbot_plans["pro"].id, supported_currencies=["EUR"]),
        "supportedCurrencies",
    )
    refused(
        lambda: client.plans.update_plan_upgrade_path(
            product_id=other.id, groups=[PlanUpgradePathGroup(plan_ids=[chatbot_plans["pro"].id])]
        ),
        "groups[0].planIds[0]",
    )
    assert (Plan.objects.count(), PlanAttribute.objects.count(), CreditBenefit.objects.count()) == before
    pro = client.plans.get_plan_by_id(chatbot_plans["pro"].id)
    assert (pro.name, pro.is_default, len(pro.attributes)) == ("Pro", False, 2)
    assert client.plans.get_plan_by_id(chatbot_plans["starter"].id).is_default is True

    retired = client.products.create_product(name="Retired")
    # Products are archived from the dashboard (the API has no archive route).
    product_archive(product=product_get(organization=organization, product_id=retired.id))
    refused(lambda: create(product_id=retired.id, attributes=[]), "productId")

    with pytest.raises(NotFoundError):
        client.plans.get_plan_by_id("plan_missing")
    with pytest.raises(NotFoundError):
        client.plans.update_plan_by_external_id("missing", name="x")


def test_plan_wire_shape(http, client, chatbot, chatbot_plans):
    body = http.get(f"plans/{chatbot_plans['starter'].id}").json()
    assert set(body) == {
        "id",
        "productId",
        "name",
        "externalId",
        "supportedCurrencies",
        "isDefault",
        "status",
        "upgradePathOrder",
        "archivedAt",
        "createdAt",
        "updatedAt",
        "attributes",
    }
    assert body["createdAt"].endswith("Z")
    attribute = body["attributes"][0]
    assert set(attribute) == {"productAttributeId", "name", "active", "pricing", "creditBenefits"}
    assert {"pricingType", "chargeType", "pricingModel", "pricePoints"} <= set(attribute["pricing"])
    assert http.get("plans/").json()["pagination"]["total"] == 3
    assert http.get("plans").status_code == 200
    created = http.post(
        "plans/",
        json={
            "productId": chatbot["product"],
            "attributes": [
                {
                    "productAttributeId": chatbot["subscription"],
                    "pricing": {
                        "pricingType": "RecurringPerUnit",
                        "billingFrequency": "Monthly",
                        "pricePoints": [],
                    },
                }
            ],
        },
    )
    assert created.status_code == 400
    assert "attributes[0].pricing.pricePoints" in created.json()["error"]
