"""A meter as a usage line's quantity source (`pricing.meterId`, a Tally extension): what is accepted, what is
refused (naming the field, changing nothing), and what it does to the meter's life cycle."""

import pytest

from apps.catalog.models import ProductAttribute
from apps.catalog.services import credit_currency_create, product_create
from apps.customers.services import customer_create
from apps.meters.services import meter_create
from apps.orders.services import order_create

pytestmark = pytest.mark.django_db

PRICE = [{"currency": "USD", "unitPrice": 25}]


@pytest.fixture
def voice(organization):
    return product_create(organization=organization, name="Voice agent", external_id="voice")


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


def _put(api, product, pricing, name="Calls"):
    body = {"name": product.name, "productAttributes": [{"name": name, "pricing": pricing}]}
    return api.put(f"/api/v2/products/{product.display_id}", body, format="json")


def _credits(organization):
    return credit_currency_create(
        organization=organization, name="Call credits", key="call_credits"
    ).display_id


def test_usage_line_takes_its_quantity_from_a_meter(api, voice, meter):
    response = _put(
        api, voice, {"pricingType": "UsagePerUnit", "meterId": meter.display_id, "pricePoints": PRICE}
    )
    assert response.status_code == 200, response.json()
    attribute = ProductAttribute.objects.get(product=voice)
    assert attribute.pricing["meter_id"] == meter.display_id
    assert attribute.event_name is None  # the meter chooses the signals
    (line,) = api.get(f"/api/v2/products/{voice.display_id}").json()["productAttributes"]
    assert line["pricing"]["meterId"] == meter.display_id
    assert "eventName" not in line["pricing"]


@pytest.mark.parametrize(
    "pricing",
    [
        {
            "pricingType": "UsageGraduated",
            "pricePoints": [{"currency": "USD", "tiers": [{"lowerBound": 0, "unitAmount": 5}]}],
        },
        {
            "pricingType": "UsageVolume",
            "pricePoints": [{"currency": "USD", "tiers": [{"lowerBound": 0, "unitAmount": 5}]}],
        },
        {"pricingType": "UsagePrepaidCredits", "creditCost": 2},
        {"pricingType": "UsageBracketedPrepaidCredits", "creditUnitBrackets": [{"creditUnits": 1}]},
    ],
)
def test_every_usage_and_prepaid_credit_type_may_use_a_meter(api, organization, voice, meter, pricing):
    if "Credit" in pricing["pricingType"]:
        pricing["creditsCurrencyId"] = _credits(organization)
    response = _put(api, voice, {**pricing, "meterId": meter.display_id})
    assert response.status_code == 200, response.json()
    assert ProductAttribute.objects.get(product=voice).pricing["meter_id"] == meter.display_id


def _refused(api, product, pricing, field, code=400):
    before = list(ProductAttribute.objects.values_list("pk", "pricing"))
    response = _put(api, product, pricing)
    assert response.status_code == code, response.json()
    assert field in response.json()["error"], response.json()
    assert list(ProductAttribute.objects.values_list("pk", "pricing")) == before
    return response.json()


def test_event_name_and_pricing_input_are_not_used_with_a_meter(api, organization, voice, meter):
    base = {"pricingType": "UsagePerUnit", "meterId": meter.display_id, "pricePoints": PRICE}
    _refused(api, voice, {**base, "eventName": "phone_call"}, "productAttributes[0].pricing.eventName")
    credits = _credits(organization)
    prepaid = {
        "pricingType": "UsagePrepaidCredits",
        "meterId": meter.display_id,
        "creditsCurrencyId": credits,
    }
    _refused(
        api,
        voice,
        {**prepaid, "creditCost": 1, "pricingInput": {"kind": "signalQuantity", "path": "minutes"}},
        "productAttributes[0].pricing.pricingInput",
    )


def test_without_a_meter_the_event_name_is_still_required(api, voice):
    _refused(api, voice, {"pricingType": "UsagePerUnit", "pricePoints": PRICE}, "pricing.eventName")


def test_only_usage_lines_take_a_meter(api, voice, meter):
    pricing = {
        "pricingType": "RecurringPerUnit",
        "billingFrequency": "Monthly",
        "meterId": meter.display_id,
        "pricePoints": PRICE,
    }
    body = _refused(api, voice, pricing, "productAttributes[0].pricing.meterId")
    assert "not used by pricingType RecurringPerUnit" in body["error"]
    cost_plus = {"pricingType": "UsageCostPlus", "costPlusMultiplier": 1.2, "meterId": meter.display_id}
    _refused(api, voice, cost_plus, "productAttributes[0].pricing.meterId")


def test_the_meter_must_exist_be_live_be_ours_and_measure_this_product(
    api, organization, other_organization, voice, meter
):
    pricing = {"pricingType": "UsagePerUnit", "pricePoints": PRICE}
    body = _refused(api, voice, {**pricing, "meterId": "mtr_nope"}, "productAttributes[0].pricing.meterId")
    assert "mtr_nope" in body["error"]

    theirs = product_create(organization=other_organization, name="Theirs")
    their_meter = meter_create(
        organization=other_organization,
        product_id=theirs.display_id,
        name="x",
        event_name="phone_call",
        operation="count",
    )
    _refused(
        api, voice, {**pricing, "meterId": their_meter.display_id}, "productAttributes[0].pricing.meterId"
    )

    chat = product_create(organization=organization, name="Chat")
    chat_meter = meter_create(
        organization=organization, product_id=chat.display_id, name="m", event_name="chat", operation="count"
    )
    body = _refused(
        api, voice, {**pricing, "meterId": chat_meter.display_id}, "productAttributes[0].pricing.meterId"
    )
    assert "another product" in body["error"]

    assert api.delete(f"/api/v2/meters/{meter.display_id}").status_code in (200, 204)
    _refused(api, voice, {**pricing, "meterId": meter.display_id}, "productAttributes[0].pricing.meterId")


def test_a_priced_meter_cannot_be_archived_or_moved_to_another_product(api, organization, voice, meter):
    assert (
        _put(
            api, voice, {"pricingType": "UsagePerUnit", "meterId": meter.display_id, "pricePoints": PRICE}
        ).status_code
        == 200
    )
    response = api.delete(f"/api/v2/meters/{meter.display_id}")
    assert response.status_code == 409
    assert response.json()["code"] == "METER_IN_USE" and "Calls" in response.json()["error"]

    other = product_create(organization=organization, name="Other")
    response = api.put(f"/api/v2/meters/{meter.display_id}", {"productId": other.display_id}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "METER_IN_USE"
    # what it measures may still change while no active order uses it
    response = api.put(f"/api/v2/meters/{meter.display_id}", {"rounding": "down"}, format="json")
    assert response.status_code == 200, response.json()


def test_an_order_snapshots_the_meter_and_then_locks_it(api, organization, voice, meter):
    assert (
        _put(
            api, voice, {"pricingType": "UsagePerUnit", "meterId": meter.display_id, "pricePoints": PRICE}
        ).status_code
        == 200
    )
    customer = customer_create(organization=organization, name="Acme", external_id="acme")
    order = order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": voice.display_id}],
        creation_state="active",
    )
    (attribute,) = [a for line in order.lines.all() for a in line.attributes.all()]
    assert attribute.pricing["meter_id"] == meter.display_id
    response = api.put(f"/api/v2/meters/{meter.display_id}", {"rounding": "down"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "METER_LOCKED"
