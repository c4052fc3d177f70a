"""A signal's `data.costData` (§5.5): a precomputed cost or usage attributes become a cost record linked to it."""

from decimal import Decimal

import pytest

from apps.catalog.services import product_create
from apps.costs.models import CostRecord, ModelPrice
from apps.costs.pricing import PRICE_TABLE_VERSION
from apps.costs.services import signal_costs_process
from apps.customers.services import customer_create
from apps.signals.models import Signal

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Beta Co", external_id="beta")


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="Agent", external_id="agent-1")


def send(api, capture, *datas, key=None):
    signals = [
        {
            "eventName": "answer",
            "customer": {"externalCustomerId": "beta"},
            "attribution": {"externalProductId": "agent-1"},
            "timestamp": "2026-03-01T12:00:00Z",
            "data": data,
            **({"idempotencyKey": f"{key}-{i}"} if key else {}),
        }
        for i, data in enumerate(datas)
    ]
    with capture(execute=True):
        response = api.post("/api/v2/signals/bulk", {"signals": signals}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_precomputed_cost(api, organization, customer, product, django_capture_on_commit_callbacks):
    send(
        api,
        django_capture_on_commit_callbacks,
        {
            "quantity": 1,
            "costData": {
                "vendor": "my-vendor",
                "cost": {"amount": 0.042, "currency": "USD"},
                "gen_ai.response.model": "gpt-4o",
                "start_time": "2026-03-01T11:59:58Z",
            },
        },
    )
    signal = Signal.objects.get(organization=organization)
    record = CostRecord.objects.get(organization=organization)
    assert record.source == CostRecord.Source.SIGNAL
    assert record.kind == CostRecord.Kind.COST
    assert (record.amount, record.currency, record.price_status) == (Decimal("0.042"), "USD", "given")
    assert (record.vendor, record.model) == ("my-vendor", "gpt-4o")
    assert record.signal_id == signal.pk
    assert (record.customer_id, record.product_id) == (customer.pk, product.pk)
    assert record.external_customer_id == "beta"
    assert record.timestamp.isoformat() == "2026-03-01T11:59:58+00:00"


def test_usage_attributes_are_priced_by_model(
    api, organization, customer, product, django_capture_on_commit_callbacks
):
    send(
        api,
        django_capture_on_commit_callbacks,
        {
            "costData": {
                "vendor": "openai",
                "attributes": {
                    "gen_ai.response.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 500,
                    "gen_ai.usage.cached_input_tokens": 200,
                    "gen_ai.usage.cache_creation_input_tokens": 0,
                },
            }
        },
    )
    record = CostRecord.objects.get(organization=organization)
    assert record.kind == CostRecord.Kind.USAGE
    assert (record.price_status, record.price_version) == ("priced", PRICE_TABLE_VERSION)
    # input_tokens counts the whole prompt: 800 uncached at $0.15/M, 200 cached at $0.075/M, 500 out at $0.6/M.
    assert (record.input_tokens, record.cache_read_tokens, record.output_tokens) == (800, 200, 500)
    assert (
        record.amount == (800 * Decimal("0.15") + 200 * Decimal("0.075") + 500 * Decimal("0.6")) / 1_000_000
    )
    assert record.timestamp.isoformat() == "2026-03-01T12:00:00+00:00"  # the signal's


def test_usage_attributes_use_an_organization_price(
    api, organization, customer, django_capture_on_commit_callbacks
):
    ModelPrice.objects.create(
        organization=organization,
        vendor="acme",
        model="acme-1",
        input_per_million=Decimal(10),
        output_per_million=Decimal(20),
    )
    attributes = {"gen_ai.response.model": "acme-1", "gen_ai.usage.input_tokens": 100_000}
    send(api, django_capture_on_commit_callbacks, {"costData": {"vendor": "acme", "attributes": attributes}})
    record = CostRecord.objects.get(organization=organization)
    assert (record.price_status, record.amount) == ("override", Decimal(1))


def test_unknown_model_is_flagged(api, organization, customer, django_capture_on_commit_callbacks):
    attributes = {"gen_ai.response.model": "nobody-knows-7", "gen_ai.usage.output_tokens": 10}
    send(api, django_capture_on_commit_callbacks, {"costData": {"vendor": "x", "attributes": attributes}})
    record = CostRecord.objects.get(organization=organization)
    assert (record.price_status, record.amount, record.output_tokens) == ("unknown_model", None, 10)


@pytest.mark.parametrize(
    "cost_data",
    [
        "a string",
        {"vendor": "x"},
        {"vendor": "x", "cost": {"amount": -1, "currency": "USD"}},
        {"vendor": "x", "cost": {"amount": "1", "currency": "USD"}},
        {"vendor": "x", "attributes": {"gen_ai.usage.input_tokens": 5}},  # no model
        {"vendor": "x", "attributes": {"gen_ai.response.model": "gpt-4o"}},  # no tokens
    ],
)
def test_malformed_cost_data_keeps_the_signal_and_records_no_cost(
    api, organization, customer, django_capture_on_commit_callbacks, cost_data
):
    assert send(api, django_capture_on_commit_callbacks, {"costData": cost_data})["ingested"] == 1
    assert Signal.objects.filter(organization=organization).count() == 1
    assert not CostRecord.objects.exists()


def test_one_record_per_signal_when_processed_again(
    api, organization, customer, django_capture_on_commit_callbacks
):
    cost_data = {"vendor": "v", "cost": {"amount": 1, "currency": "USD"}}
    send(api, django_capture_on_commit_callbacks, {"costData": cost_data}, {"costData": cost_data})
    ids = list(Signal.objects.filter(organization=organization).values_list("display_id", flat=True))
    signal_costs_process(organization.pk, ids)
    assert CostRecord.objects.filter(organization=organization).count() == 2
    assert set(CostRecord.objects.values_list("signal_id", flat=True)) == set(
        Signal.objects.values_list("pk", flat=True)
    )


def test_a_replayed_signal_adds_no_cost(api, organization, customer, django_capture_on_commit_callbacks):
    cost_data = {"vendor": "v", "cost": {"amount": 1, "currency": "USD"}}
    send(api, django_capture_on_commit_callbacks, {"costData": cost_data}, key="k")
    assert send(api, django_capture_on_commit_callbacks, {"costData": cost_data}, key="k")["duplicates"] == 1
    assert CostRecord.objects.filter(organization=organization).count() == 1


def test_signals_without_cost_data_queue_nothing(
    api, organization, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.post(
            "/api/v2/signals/bulk",
            {
                "signals": [
                    {"eventName": "e", "customer": {"externalCustomerId": "beta"}, "data": {"quantity": 1}}
                ]
            },
            format="json",
        )
    assert not [c for c in callbacks if "costs" in repr(getattr(c, "__code__", c))]
    assert len(callbacks) <= 1  # rating's own
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.post(
            "/api/v2/signals/bulk",
            {
                "signals": [
                    {"eventName": "e", "customer": {"externalCustomerId": "beta"}, "data": {"costData": {}}}
                ]
            },
            format="json",
        )
    assert len(callbacks) == 2  # rating's and costs'


def test_other_organizations_cost_data_stays_theirs(
    api, other_api, organization, other_organization, customer, django_capture_on_commit_callbacks
):
    cost_data = {"vendor": "v", "cost": {"amount": 2, "currency": "USD"}}
    send(other_api, django_capture_on_commit_callbacks, {"costData": cost_data})
    record = CostRecord.objects.get()
    assert record.organization_id == other_organization.pk
    assert record.customer_id is None  # "beta" is a customer of `organization` only
    assert Signal.objects.get(pk=record.signal_id).organization_id == other_organization.pk
