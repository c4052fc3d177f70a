"""From a meter's page, a usage line of its product is priced from the meter, and back."""

from decimal import Decimal

import pytest

from apps.catalog.models import ProductAttribute
from apps.catalog.services import credit_currency_create, product_attributes_upsert, product_create
from apps.meters.services import meter_create

pytestmark = pytest.mark.django_db

USD = [{"currency": "USD", "unit_price": Decimal(25)}]


@pytest.fixture
def voice(organization):
    product = product_create(organization=organization, name="Voice agent", external_id="voice")
    credits = credit_currency_create(organization=organization, name="Minutes", key="minutes")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Platform",
                "pricing": {
                    "pricing_type": "RecurringPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": USD,
                },
            },
            {
                "name": "Calls",
                "pricing": {"pricing_type": "UsagePerUnit", "event_name": "call", "price_points": USD},
            },
            {
                "name": "Bracketed",
                "pricing": {
                    "pricing_type": "UsageBracketedPrepaidCredits",
                    "event_name": "call",
                    "credits_currency_id": credits.display_id,
                    "pricing_input": {"kind": "signalQuantity", "path": "minutes"},
                    "credit_unit_brackets": [{"credit_units": 1}],
                },
            },
        ],
    )
    return product


@pytest.fixture
def meter(organization, voice):
    return meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Completed calls",
        event_name="phone_call",
        operation="count",
        filters=[{"field": "call_completed", "op": "=", "value": True}],
    )


def line(name):
    return ProductAttribute.objects.get(name=name)


def test_the_meter_page_offers_the_products_usage_lines(dashboard, meter):
    page = dashboard.get(f"/meters/{meter.display_id}/").content.decode()
    assert "Pricing from this meter" in page and "No pricing line uses this meter yet." in page
    assert f'value="{line("Calls").display_id}"' in page and f'value="{line("Bracketed").display_id}"' in page
    assert f'value="{line("Platform").display_id}"' not in page  # a recurring fee takes no meter


def test_use_the_meter_then_count_the_event_again(dashboard, meter):
    calls = line("Calls")
    url = f"/meters/{meter.display_id}/pricing/"
    response = dashboard.post(url, {"line": calls.display_id, "action": "use"}, follow=True)
    assert "now takes its quantity from this meter" in response.content.decode()
    calls.refresh_from_db()
    assert calls.pricing["meter_id"] == meter.display_id and calls.event_name is None
    assert (
        "Count phone_call signals instead" in dashboard.get(f"/meters/{meter.display_id}/").content.decode()
    )

    response = dashboard.post(url, {"line": calls.display_id, "action": "stop"}, follow=True)
    assert "counts phone_call signals again" in response.content.decode()
    calls.refresh_from_db()
    assert "meter_id" not in calls.pricing and calls.event_name == "phone_call"


def test_a_line_that_needs_a_quantity_mapping_says_why_it_cannot_go_back(dashboard, meter):
    bracketed = line("Bracketed")
    url = f"/meters/{meter.display_id}/pricing/"
    dashboard.post(url, {"line": bracketed.display_id, "action": "use"})
    bracketed.refresh_from_db()
    assert bracketed.pricing["meter_id"] == meter.display_id and "pricing_input" not in bracketed.pricing
    response = dashboard.post(url, {"line": bracketed.display_id, "action": "stop"}, follow=True)
    assert "was not changed: pricing.pricingInput is required" in response.content.decode()
    bracketed.refresh_from_db()
    assert bracketed.pricing["meter_id"] == meter.display_id


def test_lines_of_other_products_and_organizations_are_refused(
    dashboard, organization, other_organization, meter
):
    chat = product_create(organization=organization, name="Chat")
    product_attributes_upsert(
        product=chat,
        attributes=[
            {
                "name": "Chats",
                "pricing": {"pricing_type": "UsagePerUnit", "event_name": "chat", "price_points": USD},
            }
        ],
    )
    theirs = product_create(organization=other_organization, name="Theirs")
    product_attributes_upsert(
        product=theirs,
        attributes=[
            {
                "name": "Their calls",
                "pricing": {"pricing_type": "UsagePerUnit", "event_name": "c", "price_points": USD},
            }
        ],
    )
    url = f"/meters/{meter.display_id}/pricing/"
    before = list(ProductAttribute.objects.order_by("pk").values_list("pricing", flat=True))
    page = dashboard.post(
        url, {"line": line("Chats").display_id, "action": "use"}, follow=True
    ).content.decode()
    assert "belongs to another product" in page
    page = dashboard.post(
        url, {"line": line("Their calls").display_id, "action": "use"}, follow=True
    ).content.decode()
    assert "Choose one of the product" in page
    assert list(ProductAttribute.objects.order_by("pk").values_list("pricing", flat=True)) == before
