"""services.pricing_clean: which PricingInput fields each pricingType takes, and the errors naming them."""

import pytest

from apps.catalog.pricing import PricingError
from apps.catalog.serializers import PricingIn
from apps.catalog.services import PRICING_RULES, credit_currency_create, credit_currency_update, pricing_clean
from apps.common.exceptions import DomainError, ReferenceNotFound

pytestmark = pytest.mark.django_db

USD = [{"currency": "usd", "unitPrice": 1000}]
TIERED = [
    {"currency": "USD", "tiers": [{"lowerBound": 0, "upperBound": 10, "unitAmount": 5}, {"lowerBound": 10}]}
]


@pytest.fixture
def credits(organization):
    return credit_currency_create(organization=organization, name="Credits", key="credits")


def minimal(pricing_type: str, currency_id: str) -> dict:
    """The smallest valid wire PricingInput of each type."""
    rule = PRICING_RULES[pricing_type]
    body = {"pricingType": pricing_type}
    if rule.billing_frequency == "required":
        body["billingFrequency"] = "Monthly"
    if rule.price_points == "simple":
        body["pricePoints"] = USD
    if rule.price_points == "tiered":
        body["pricePoints"] = TIERED
    values = {
        "event_name": "call",
        "credits_currency_id": currency_id,
        "credit_cost": 2,
        "percentage_value": 10,
        "cost_plus_multiplier": 1.2,
        "pricing_input": {"kind": "signalQuantity"},
        "credit_unit_brackets": [{"upTo": 10, "creditUnits": 1}, {"creditUnits": 2}],
    }
    for name in rule.required:
        body[
            {
                "event_name": "eventName",
                "credits_currency_id": "creditsCurrencyId",
                "credit_cost": "creditCost",
                "percentage_value": "percentageValue",
                "cost_plus_multiplier": "costPlusMultiplier",
                "pricing_input": "pricingInput",
                "credit_unit_brackets": "creditUnitBrackets",
            }[name]
        ] = values[name]
    return body


def clean(organization, body: dict):
    serializer = PricingIn(data=body)
    serializer.is_valid(raise_exception=True)
    return pricing_clean(organization=organization, pricing=serializer.validated_data)


@pytest.mark.parametrize("pricing_type", sorted(PRICING_RULES))
def test_every_pricing_type_has_a_valid_minimal_form(organization, credits, pricing_type):
    stored, currency = clean(organization, minimal(pricing_type, credits.display_id))
    rule = PRICING_RULES[pricing_type]
    assert (stored["charge_type"], stored["pricing_model"]) == (rule.charge_type, rule.pricing_model)
    assert currency == (credits if "credits_currency_id" in rule.required else None)
    for point in stored.get("price_points", []):
        assert point["currency"] == "USD"  # normalised


@pytest.mark.parametrize("pricing_type", sorted(PRICING_RULES))
def test_every_required_field_is_named_when_missing(organization, credits, pricing_type):
    body = minimal(pricing_type, credits.display_id)
    for key in [k for k in body if k not in ("pricingType",)]:
        partial = {k: v for k, v in body.items() if k != key}
        if key == "billingFrequency" and PRICING_RULES[pricing_type].billing_frequency != "required":
            continue
        with pytest.raises(PricingError) as raised:
            clean(organization, partial)
        assert raised.value.field.startswith(f"pricing.{key}"), (pricing_type, key, raised.value.field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "pricingType": "RecurringPerUnit",
                "billingFrequency": "Monthly",
                "pricePoints": USD,
                "creditCost": 1,
            },
            "pricing.creditCost",
        ),
        (
            {"pricingType": "UsagePerUnit", "eventName": "e", "pricePoints": USD, "billingType": "Advance"},
            "pricing.billingType",
        ),
        (
            {"pricingType": "RecurringPerUnit", "billingFrequency": "Custom", "pricePoints": USD},
            "pricing.billingFrequencyCustomMonths",
        ),
        (
            {
                "pricingType": "RecurringPerUnit",
                "billingFrequency": "Monthly",
                "billingFrequencyCustomMonths": 2,
                "pricePoints": USD,
            },
            "pricing.billingFrequencyCustomMonths",
        ),
        (
            {"pricingType": "OneTimePerUnit", "billingFrequency": "Monthly", "pricePoints": USD},
            "pricing.billingFrequency",
        ),
        (
            {"pricingType": "RecurringPerUnit", "billingFrequency": "Monthly", "pricePoints": [*USD, *USD]},
            "pricing.pricePoints[1].currency",
        ),
        (
            {
                "pricingType": "RecurringPerUnit",
                "billingFrequency": "Monthly",
                "pricePoints": [{"currency": "XXQ"}],
            },
            "pricing.pricePoints[0].currency",
        ),
        (
            {"pricingType": "RecurringPerUnit", "billingFrequency": "Monthly", "pricePoints": TIERED},
            "pricing.pricePoints[0].tiers",
        ),
        (
            {"pricingType": "RecurringGraduated", "billingFrequency": "Monthly", "pricePoints": USD},
            "pricing.pricePoints[0].tiers",
        ),
        (
            {
                "pricingType": "UsageBracketedPrepaidCredits",
                "eventName": "e",
                "pricingInput": {"kind": "signalQuantity"},
                "creditUnitBrackets": [
                    {"upTo": 5, "creditUnits": 1},
                    {"creditUnits": 1, "creditUnitsPerUnit": 2},
                ],
            },
            "pricing.creditUnitBrackets",
        ),
    ],
)
def test_invalid_combinations_name_the_field(organization, body, field):
    with pytest.raises(PricingError) as raised:
        clean(organization, body)
    assert raised.value.field.startswith(field), raised.value.field


def test_credit_currency_must_exist_in_the_organization_and_be_active(
    organization, other_organization, credits
):
    theirs = credit_currency_create(organization=other_organization, name="Theirs", key="theirs")
    with pytest.raises(ReferenceNotFound) as raised:
        clean(organization, minimal("UsagePrepaidCredits", theirs.display_id))
    assert raised.value.field == "pricing.creditsCurrencyId"
    credit_currency_update(currency=credits, status="archived")
    with pytest.raises(DomainError, match="archived"):
        clean(organization, minimal("UsagePrepaidCredits", credits.display_id))


def test_decimals_are_kept_exactly(organization, credits):
    body = {**minimal("UsagePrepaidCredits", credits.display_id), "creditCost": 0.000001, "unitValue": 2.5}
    stored, _ = clean(organization, body)
    assert stored["credit_cost"] == "0.000001"
    assert stored["unit_value"] == "2.5"


def test_whole_decimals_are_stored_as_integers(organization, credits):
    body = {**minimal("UsagePrepaidCredits", credits.display_id), "creditCost": "1.000000"}
    body["pricePoints"] = [{"currency": "USD", "unitPrice": "7900.000000"}]
    stored, _ = clean(organization, body)
    assert stored["credit_cost"] == 1
    assert stored["price_points"][0]["unit_price"] == 7900
