"""POST costs/bulk (§3.9): both record types, all-or-nothing validation, idempotency, pricing, attribution."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.catalog.services import product_create
from apps.costs.models import CostRecord, ModelPrice
from apps.costs.pricing import PRICE_TABLE_VERSION, Usage, price_usage
from apps.customers.services import customer_alias_create, customer_create

pytestmark = pytest.mark.django_db
URL = "/api/v2/costs/bulk"
AT = "2026-03-01T12:00:00Z"


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Beta Co", external_id="beta")


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="Agent", external_id="agent-1")


def cost(**overrides):
    return {
        "type": "cost",
        "timestamp": AT,
        "customer": {"externalCustomerId": "beta"},
        "amount": 0.0123,
        "currency": "USD",
        **overrides,
    }


def usage(**overrides):
    return {
        "type": "usage",
        "timestamp": AT,
        "customer": {"externalCustomerId": "beta"},
        "vendor": "openai",
        "model": "gpt-4o-mini",
        "usage": {"inputTokens": 800, "outputTokens": 500, "cacheReadInputTokens": 200},
        **overrides,
    }


def post(api, costs):
    return api.post(URL, {"costs": costs}, format="json")


def test_a_cost_record_is_stored_as_given(api, organization, customer, product):
    response = post(
        api,
        [cost(product={"productId": product.display_id}, vendor="acme", model="m1", metadata={"job": "x"})],
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"ingested": 1, "duplicates": 0}
    record = CostRecord.objects.get(organization=organization)
    assert record.source == CostRecord.Source.BULK
    assert record.kind == CostRecord.Kind.COST
    assert record.price_status == CostRecord.PriceStatus.GIVEN
    assert record.amount == Decimal("0.0123")
    assert (record.currency, record.vendor, record.model) == ("USD", "acme", "m1")
    assert record.customer_id == customer.pk
    assert record.product_id == product.pk
    assert record.metadata == {"job": "x"}
    assert record.timestamp == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_usage_record_is_priced_from_the_table(api, organization, customer):
    response = post(api, [usage()])
    assert response.json() == {"ingested": 1, "duplicates": 0}
    record = CostRecord.objects.get(organization=organization)
    expected = price_usage(
        organization=organization,
        vendor="openai",
        model="gpt-4o-mini",
        usage=Usage(input_tokens=800, output_tokens=500, cache_read_tokens=200),
        at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    assert record.kind == CostRecord.Kind.USAGE
    assert record.price_status == CostRecord.PriceStatus.PRICED
    assert record.price_version == PRICE_TABLE_VERSION
    assert record.amount == expected.amount
    assert record.amount == (
        Decimal(800) * Decimal("0.15") + 500 * Decimal("0.6") + 200 * Decimal("0.075")
    ) / (1_000_000)
    assert (record.input_tokens, record.output_tokens, record.cache_read_tokens) == (800, 500, 200)


def test_an_organization_price_overrides_the_table(api, organization, customer):
    ModelPrice.objects.create(
        organization=organization,
        vendor="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal(1),
        output_per_million=Decimal(2),
    )
    post(api, [usage(usage={"inputTokens": 1_000_000, "outputTokens": 1_000_000})])
    record = CostRecord.objects.get(organization=organization)
    assert (record.price_status, record.price_version, record.amount) == ("override", "override", Decimal(3))


def test_cost_override_is_the_given_amount_and_keeps_the_tokens(api, organization, customer):
    post(api, [usage(costOverride={"amount": 0.5, "currency": "eur"})])
    record = CostRecord.objects.get(organization=organization)
    assert (record.price_status, record.amount, record.currency) == ("given", Decimal("0.5"), "EUR")
    assert (record.input_tokens, record.output_tokens) == (800, 500)
    assert record.price_version == ""


def test_an_unknown_model_is_kept_unpriced_not_zero(api, organization, customer):
    post(api, [usage(vendor="acme", model="acme-secret-model-9")])
    record = CostRecord.objects.get(organization=organization)
    assert record.price_status == CostRecord.PriceStatus.UNKNOWN_MODEL
    assert record.amount is None
    assert record.input_tokens == 800


def test_customer_by_id_alias_and_unknown_external_id(api, organization, customer):
    customer_alias_create(customer=customer, alias="beta-old")
    response = post(
        api,
        [
            cost(customer={"customerId": customer.display_id}),
            cost(customer={"externalCustomerId": "beta-old"}),
            cost(customer={"externalCustomerId": "nobody-yet"}),
        ],
    )
    assert response.json() == {"ingested": 3, "duplicates": 0}
    records = list(CostRecord.objects.filter(organization=organization).order_by("pk"))
    assert [r.customer_id for r in records] == [customer.pk, customer.pk, None]
    assert [r.external_customer_id for r in records] == [None, "beta-old", "nobody-yet"]


def test_unknown_external_product_is_kept_raw(api, organization, customer):
    post(api, [cost(product={"externalProductId": "not-yet"})])
    record = CostRecord.objects.get(organization=organization)
    assert (record.product_id, record.external_product_id) == (None, "not-yet")


def test_default_timestamp_is_receive_time(api, organization, customer):
    post(api, [cost(timestamp=None)])
    record = CostRecord.objects.get(organization=organization)
    assert abs((record.timestamp - record.created_at).total_seconds()) < 5


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"type": "bogus"}, "costs[1].type"),
        ("not an object", "costs[1]"),
        (cost(customer=None), "costs[1].customer"),
        (cost(customer={}), "costs[1].customer"),
        (cost(customer={"customerId": "cus_1", "externalCustomerId": "x"}), "costs[1].customer"),
        (cost(customer={"externalCustomerId": 7}), "costs[1].customer.externalCustomerId"),
        (cost(product={"productId": ""}), "costs[1].product"),
        (cost(amount=None), "costs[1].amount"),
        (cost(amount="1.5"), "costs[1].amount"),
        (cost(amount=-1), "costs[1].amount"),
        (cost(amount=True), "costs[1].amount"),
        (cost(amount=1e15), "costs[1].amount"),
        (cost(currency="dollars"), "costs[1].currency"),
        (cost(currency=None), "costs[1].currency"),
        (cost(timestamp="yesterday"), "costs[1].timestamp"),
        (cost(timestamp="2999-01-01T00:00:00Z"), "costs[1].timestamp"),
        (cost(metadata=[1]), "costs[1].metadata"),
        (cost(idempotencyKey=5), "costs[1].idempotencyKey"),
        (usage(vendor=None), "costs[1].vendor"),
        (usage(model=""), "costs[1].model"),
        (usage(usage=None), "costs[1].usage"),
        (usage(usage={}), "costs[1].usage"),
        (usage(usage={"inputTokens": -1}), "costs[1].usage.inputTokens"),
        (usage(usage={"inputTokens": 1.5}), "costs[1].usage.inputTokens"),
        (usage(usage={"outputTokens": "9"}), "costs[1].usage.outputTokens"),
        (usage(costOverride={"amount": 1}), "costs[1].costOverride.currency"),
        (usage(costOverride={"currency": "USD"}), "costs[1].costOverride.amount"),
        (usage(costOverride=3), "costs[1].costOverride"),
    ],
)
def test_any_invalid_record_fails_the_batch_naming_index_and_field(
    api, organization, customer, record, field
):
    response = post(api, [cost(), record, usage()])
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"].startswith(f"{field}:"), body
    assert not CostRecord.objects.filter(organization=organization).exists()


def test_every_bad_record_is_named(api, organization):
    response = post(api, [cost(amount=-1), cost(), usage(model=None)])
    assert response.status_code == 400
    assert "costs[0].amount" in response.json()["error"]
    assert "costs[2].model" in response.json()["error"]


@pytest.mark.parametrize("body", [{}, {"costs": None}, {"costs": {"a": 1}}, []])
def test_the_envelope_is_checked(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_accepts_floats_for_token_counts(api, organization, customer):
    post(api, [usage(usage={"inputTokens": 10.0, "outputTokens": 2.0})])
    assert CostRecord.objects.get(organization=organization).input_tokens == 10


def test_another_organizations_customer_id_is_404_and_nothing_is_stored(
    api, other_api, organization, other_organization, customer
):
    response = other_api.post(
        URL, {"costs": [cost(customer={"customerId": customer.display_id})]}, format="json"
    )
    assert response.status_code == 404
    assert "costs[0].customer.customerId" in response.json()["error"]
    response = post(api, [cost(), cost(customer={"customerId": "cus_doesnotexist"})])
    assert response.status_code == 404
    assert not CostRecord.objects.exists()


def test_another_organizations_product_id_is_404(api, other_organization, organization, customer):
    foreign = product_create(organization=other_organization, name="Theirs")
    response = post(api, [cost(product={"productId": foreign.display_id})])
    assert response.status_code == 404
    assert not CostRecord.objects.exists()


def test_idempotency_key_counts_duplicates_within_and_across_batches(api, organization, customer):
    first = post(
        api, [cost(idempotencyKey="k1"), cost(idempotencyKey="k1"), cost(idempotencyKey="k2"), cost()]
    )
    assert first.json() == {"ingested": 3, "duplicates": 1}
    again = post(api, [cost(idempotencyKey="k1", amount=9), cost(idempotencyKey="k3")])
    assert again.json() == {"ingested": 1, "duplicates": 1}
    assert CostRecord.objects.filter(organization=organization).count() == 4
    assert CostRecord.objects.get(organization=organization, idempotency_key="k1").amount == Decimal("0.0123")


def test_idempotency_keys_are_per_organization(api, other_api, organization, other_organization, customer):
    assert post(api, [cost(idempotencyKey="same")]).json() == {"ingested": 1, "duplicates": 0}
    response = other_api.post(URL, {"costs": [cost(idempotencyKey="same")]}, format="json")
    assert response.json() == {"ingested": 1, "duplicates": 0}


def test_batch_limit(api):
    response = post(api, [cost()] * 1001)
    assert response.status_code == 413
    assert not CostRecord.objects.exists()


def test_without_a_key_is_401(db):
    response = APIClient().post(URL, {"costs": [cost()]}, format="json")
    assert response.status_code == 401
