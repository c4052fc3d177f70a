"""Pricing on product attributes (§3.1 update, §3.3) and credit currencies (§3.6) through paid-python."""

import pytest
from paid.errors import BadRequestError, NotFoundError
from paid.types import (
    ProductAttributeUpsert,
    ProductCreditBenefitInput,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsageBracketedPrepaidCredits,
    ProductPricingInput_UsageGraduated,
    ProductPricingInput_UsagePerUnit,
    ProductPricingInput_UsagePrepaidCredits,
    ProductSimplePricePoint,
    ProductTieredPricePoint,
    ProductTieredPricePointTiersItem,
)

pytestmark = pytest.mark.django_db(transaction=True)


def usd(cents: int) -> list[ProductSimplePricePoint]:
    return [ProductSimplePricePoint(currency="USD", unit_price=cents)]


def test_chatbot_catalog_with_credits(client):
    credits = client.credits.create_credit_currency(name="Chat Credits", key="chat_credits")
    assert credits.id.startswith("cc_")
    assert credits.status == "active"
    product = client.products.create_product(name="ChatBot", external_id="chatbot")
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Starter subscription",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly", price_points=usd(2900)
                ),
                credit_benefits=[
                    ProductCreditBenefitInput(
                        credits_currency_id=credits.id,
                        amount=500,
                        allocation_cadence="monthly",
                        credit_grant_timing="on_order_activation",
                        rollover_amount=100,
                        rollover_duration=1,
                        rollover_duration_unit="months",
                    )
                ],
            ),
            ProductAttributeUpsert(
                name="Chat messages",
                pricing=ProductPricingInput_UsagePrepaidCredits(
                    event_name="chat_message", credits_currency_id=credits.id, credit_cost=1
                ),
            ),
        ],
    )
    subscription, messages = detail.product_attributes
    assert subscription.pricing.pricing_type == "RecurringPerUnit"
    assert subscription.pricing.charge_type == "recurring"
    assert subscription.pricing.price_points[0].unit_price == 2900
    benefit = subscription.credit_benefits[0]
    assert (benefit.amount, benefit.recipient, benefit.allocation_cadence) == (500, "organization", "monthly")
    assert benefit.credits_currency_id == credits.id
    assert benefit.rollover_amount == 100
    assert messages.pricing.pricing_model == "PrepaidCredits"
    assert messages.pricing.credit_cost == 1
    assert messages.pricing.event_name == "chat_message"

    listed = client.pricing.list_pricing(product_id=product.id)
    assert [p.product_attribute_id for p in listed.data] == [
        subscription.product_attribute_id,
        messages.product_attribute_id,
    ]
    # Updating an attribute by id keeps the others; benefits omitted are kept.
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                product_attribute_id=subscription.product_attribute_id,
                name="Starter",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly", price_points=usd(3900)
                ),
            )
        ],
    )
    assert len(detail.product_attributes) == 2
    assert detail.product_attributes[0].name == "Starter"
    assert detail.product_attributes[0].pricing.price_points[0].unit_price == 3900
    assert len(detail.product_attributes[0].credit_benefits) == 1


def test_ai_sdr_catalog_fee_usage_and_outcome(client):
    product = client.products.create_product(name="AI SDR", external_id="ai-sdr")
    detail = client.products.update_product_by_external_id(
        "ai-sdr",
        product_attributes=[
            ProductAttributeUpsert(
                name="Platform fee",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly", price_points=usd(50000)
                ),
            ),
            ProductAttributeUpsert(
                name="Emails sent",
                pricing=ProductPricingInput_UsagePerUnit(event_name="email_sent", price_points=usd(10)),
            ),
            ProductAttributeUpsert(
                name="Meetings booked",
                pricing=ProductPricingInput_UsagePerUnit(
                    event_name="meeting_booked", signal_type="outcome", price_points=usd(5000)
                ),
            ),
        ],
    )
    assert detail.id == product.id
    fee, emails, meetings = detail.product_attributes
    assert fee.pricing.price_points[0].unit_price == 50000
    assert emails.pricing.event_name == "email_sent"
    assert meetings.pricing.signal_type == "outcome"
    fetched = client.pricing.get_pricing(meetings.product_attribute_id)
    assert fetched.pricing.price_points[0].unit_price == 5000


def test_graduated_and_bracketed_pricing_round_trip(client):
    credits = client.credits.create_credit_currency(name="Pages", key="pages")
    product = client.products.create_product(name="OCR")
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Pages",
                pricing=ProductPricingInput_UsageGraduated(
                    event_name="page",
                    price_points=[
                        ProductTieredPricePoint(
                            currency="EUR",
                            unit_price=0,
                            tiers=[
                                ProductTieredPricePointTiersItem(
                                    lower_bound=0, upper_bound=100, unit_amount=10
                                ),
                                ProductTieredPricePointTiersItem(lower_bound=100, unit_amount=5),
                            ],
                        )
                    ],
                ),
            ),
            ProductAttributeUpsert(
                name="Documents",
                pricing=ProductPricingInput_UsageBracketedPrepaidCredits(
                    event_name="document",
                    credits_currency_id=credits.id,
                    pricing_input={"kind": "signalQuantity", "path": "dimensions.pages"},
                    credit_unit_brackets=[{"upTo": 10, "creditUnits": 1}, {"creditUnits": 2.5}],
                ),
            ),
        ],
    )
    pages, documents = detail.product_attributes
    tiers = pages.pricing.price_points[0].tiers
    assert [(t.lower_bound, t.upper_bound, t.unit_amount) for t in tiers] == [(0, 100, 10), (100, None, 5)]
    extra = documents.pricing.model_extra
    assert extra["pricingInput"] == {"kind": "signalQuantity", "path": "dimensions.pages"}
    assert extra["creditUnitBrackets"] == [{"upTo": 10, "creditUnits": 1}, {"creditUnits": 2.5}]


def test_invalid_pricing_is_refused_naming_the_field_and_changes_nothing(client, make_client):
    product = client.products.create_product(name="Agent")
    with pytest.raises(BadRequestError) as raised:
        client.products.update_product_by_id(
            product.id,
            name="Renamed",
            product_attributes=[
                ProductAttributeUpsert(
                    name="Usage",
                    pricing=ProductPricingInput_UsagePrepaidCredits(
                        event_name="call", credits_currency_id="cc_missing", credit_cost=1
                    ),
                )
            ],
        )
    assert "productAttributes[0].pricing.creditsCurrencyId" in raised.value.body["error"]
    after = client.products.get_product_by_id(product.id)
    assert after.name == "Agent"
    assert after.product_attributes == []

    with pytest.raises(BadRequestError) as raised:
        client.products.update_product_by_id(
            product.id,
            product_attributes=[
                ProductAttributeUpsert(
                    name="Tiers",
                    pricing=ProductPricingInput_UsageGraduated(
                        event_name="x",
                        price_points=[
                            ProductTieredPricePoint(
                                currency="USD",
                                unit_price=0,
                                tiers=[
                                    ProductTieredPricePointTiersItem(
                                        lower_bound=0, upper_bound=100, unit_amount=1
                                    ),
                                    ProductTieredPricePointTiersItem(lower_bound=150, unit_amount=1),
                                ],
                            )
                        ],
                    ),
                )
            ],
        )
    assert "productAttributes[0].pricing.pricePoints[0].tiers[1]" in raised.value.body["error"]


def test_pricing_update_replaces_benefits_and_currency_archive(client):
    credits = client.credits.create_credit_currency(name="Credits", key="credits", description="d")
    product = client.products.create_product(name="Agent")
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Plan",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Annual", price_points=usd(100)
                ),
                credit_benefits=[ProductCreditBenefitInput(credits_currency_id=credits.id, amount=10)],
            )
        ],
    )
    attribute_id = detail.product_attributes[0].product_attribute_id
    updated = client.pricing.update_pricing(
        attribute_id,
        pricing=ProductPricingInput_RecurringPerUnit(billing_frequency="Monthly", price_points=usd(200)),
        credit_benefits=[],
    )
    assert updated.pricing.billing_frequency == "Monthly"
    assert updated.credit_benefits == []

    archived = client.credits.update_credit_currency_by_id(credits.id, status="archived", description=None)
    assert archived.status == "archived"
    assert archived.archived_at is not None
    assert archived.description is None
    assert [c.key for c in client.credits.list_credit_currencies(status="archived").data] == ["credits"]
    assert client.credits.list_credit_currencies(status="active").data == []
    with pytest.raises(BadRequestError) as raised:
        client.pricing.update_pricing(
            attribute_id,
            pricing=ProductPricingInput_UsagePrepaidCredits(
                event_name="e", credits_currency_id=credits.id, credit_cost=1
            ),
        )
    assert "archived" in raised.value.body["error"]
    with pytest.raises(BadRequestError):
        client.credits.create_credit_currency(name="Dup", key="credits")
    with pytest.raises(BadRequestError):
        client.credits.create_credit_currency(name="Bad", key="Has Spaces")


def test_other_organizations_pricing_is_not_found(client, other_client):
    product = client.products.create_product(name="Agent")
    detail = client.products.update_product_by_id(
        product.id,
        product_attributes=[
            ProductAttributeUpsert(
                name="Fee",
                pricing=ProductPricingInput_RecurringPerUnit(
                    billing_frequency="Monthly", price_points=usd(1)
                ),
            )
        ],
    )
    credits = client.credits.create_credit_currency(name="C", key="c")
    attribute_id = detail.product_attributes[0].product_attribute_id
    with pytest.raises(NotFoundError):
        other_client.pricing.get_pricing(attribute_id)
    with pytest.raises(NotFoundError):
        other_client.pricing.list_pricing(product_id=product.id)
    with pytest.raises(NotFoundError):
        other_client.pricing.update_pricing(
            attribute_id,
            pricing=ProductPricingInput_RecurringPerUnit(billing_frequency="Monthly", price_points=usd(999)),
        )
    with pytest.raises(NotFoundError):
        other_client.credits.update_credit_currency_by_id(credits.id, status="archived")
    assert client.pricing.get_pricing(attribute_id).pricing.price_points[0].unit_price == 1
    assert client.credits.list_credit_currencies().data[0].status == "active"
