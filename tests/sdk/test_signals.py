"""Signals (§3.5) through paid-python: bulk ingest, list, get."""

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError

from apps.accounts.services import organization_settings_update
from apps.signals.models import Signal, SignalKey
from apps.signals.tasks import attribute_unresolved

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_signal_is_stored_once_and_listed_back_identically(client):
    customer = client.customers.create_customer(name="Acme", external_id="acme")
    product = client.products.create_product(name="Bot", external_id="bot")
    data = {"quantity": 3, "nested": {"camelKey": [1, 2.5, None, True, "x"]}, "snake_key": "12"}
    signal = {
        "event_name": "chat_message",
        "customer": {"external_customer_id": "acme"},
        "attribution": {"external_product_id": "bot"},
        "data": data,
        "idempotency_key": "msg-1",
        "timestamp": "2026-11-01T10:00:00Z",
    }
    first = client.signals.create_signals(signals=[signal])
    assert (first.ingested, first.duplicates, first.failed) == (1, 0, 0)
    again = client.signals.create_signals(signals=[signal])
    assert (again.ingested, again.duplicates, again.failed) == (0, 1, 0)

    listed = client.signals.list_signals(external_customer_id="acme")
    assert listed.pagination.total == 1
    item = listed.data[0]
    assert (item.name, item.customer_id, item.product_id) == ("chat_message", customer.id, product.id)
    assert item.external_customer_id == "acme"
    assert item.data == data
    assert client.signals.get_signal_by_id(item.id).data == data


def _signal(event="chat", customer="acme", **extra):
    return {"event_name": event, "customer": {"external_customer_id": customer}, **extra}


def test_partial_failure_stores_the_valid_items_and_reports_the_others(client, http):
    batch = [
        _signal(idempotency_key="a"),
        {"customer": {"external_customer_id": "acme"}},  # no eventName
        _signal(data={"quantity": 2}),
    ]
    response = client.signals.create_signals(signals=batch)
    assert (response.ingested, response.duplicates, response.failed) == (2, 0, 1)
    [error] = response.model_extra["errors"]
    assert error["index"] == 1
    assert "eventName" in error["message"]

    raw = http.post(
        "signals/bulk",
        json={"signals": [{"eventName": "x", "customer": {"externalCustomerId": "acme"}, "data": [1]}]},
    )
    assert raw.status_code == 200
    assert raw.json() == {
        "ingested": 0,
        "duplicates": 0,
        "failed": 1,
        "errors": [{"index": 0, "field": "data", "message": "signals[0].data: must be a JSON object"}],
    }
    assert client.signals.list_signals().pagination.total == 2


def test_duplicates_within_and_across_requests(client):
    first = client.signals.create_signals(
        signals=[_signal(idempotency_key="k1"), _signal(idempotency_key="k1"), _signal(idempotency_key="k2")]
    )
    assert (first.ingested, first.duplicates, first.failed) == (2, 1, 0)
    second = client.signals.create_signals(
        signals=[_signal(idempotency_key="k2"), _signal(idempotency_key="k3"), _signal()]
    )
    assert (second.ingested, second.duplicates, second.failed) == (2, 1, 0)
    assert client.signals.list_signals().pagination.total == 4


def test_unknown_customers_are_stored_and_attributed_later(client):
    response = client.signals.create_signals(
        signals=[
            _signal(customer="not-yet"),
            {"event_name": "by-id", "customer": {"customer_id": "cus_unknown"}},
        ]
    )
    assert (response.ingested, response.failed) == (2, 0)
    [item] = client.signals.list_signals(external_customer_id="not-yet").data
    assert (item.customer_id, item.external_customer_id) == (None, "not-yet")
    [item] = client.signals.list_signals(customer_id="cus_unknown").data
    assert (item.customer_id, item.external_customer_id) == ("cus_unknown", None)

    customer = client.customers.create_customer(name="Late", external_id="not-yet")
    assert attribute_unresolved() == 1
    [item] = client.signals.list_signals(customer_id=customer.id).data
    assert (item.customer_id, item.external_customer_id) == (customer.id, "not-yet")


def test_odd_data_round_trips_through_the_sdk(client):
    data = {
        "deep": {"a": [{"b": {"c": [[1, [2, [3.5]]]]}}]},
        "dotted.key": {"spaced key": {"camelCase": "ünï 🚀"}},
        "one": 1,
        "one_float": 1.0,
        "bool": True,
        "bool_string": "true",
        "null": None,
        "empty": {},
        "big": 2**63 + 1,
        "mixed": [1, "1", 1.0, False, None, {}],
    }
    client.signals.create_signals(signals=[_signal(data=data)])
    [item] = client.signals.list_signals().data
    assert json.dumps(item.data, sort_keys=True) == json.dumps(data, sort_keys=True)
    assert json.dumps(client.signals.get_signal_by_id(item.id).data, sort_keys=True) == json.dumps(
        data, sort_keys=True
    )


def test_list_filters_and_order(client):
    client.customers.create_customer(name="Acme", external_id="acme")
    client.customers.create_customer_alias(
        client.customers.get_customer_by_external_id("acme").id, alias="acme-alias"
    )
    bot = client.products.create_product(name="Bot", external_id="bot")
    client.signals.create_signals(signals=[_signal("first", attribution={"external_product_id": "bot"})])
    client.signals.create_signals(signals=[_signal("second", customer="acme-alias")])
    client.signals.create_signals(signals=[_signal("third", customer="ghost")])

    def names(**filters):
        return [item.name for item in client.signals.list_signals(**filters).data]

    assert names() == ["third", "second", "first"]
    assert names(signal_name="second") == ["second"]
    assert names(external_customer_id="acme-alias") == ["second", "first"]
    assert names(external_customer_id="ghost") == ["third"]
    assert names(product_id=bot.id) == ["first"]
    assert names(external_product_id="bot") == ["first"]
    assert names(created_at_from="2000-01-01") == ["third", "second", "first"]
    assert names(created_at_to="2000-01-01") == []
    page = client.signals.list_signals(limit=1, offset=1)
    assert ([item.name for item in page.data], page.pagination.total, page.pagination.has_more) == (
        ["second"],
        3,
        True,
    )


def test_get_and_404(client):
    client.signals.create_signals(signals=[_signal(timestamp=datetime(2026, 1, 31, 23, tzinfo=UTC))])
    [item] = client.signals.list_signals().data
    got = client.signals.get_signal_by_id(item.id)
    assert (got.id, got.name, got.created_at) == (item.id, "chat", item.created_at)
    with pytest.raises(NotFoundError):
        client.signals.get_signal_by_id("sig_missing")


def test_a_timestamp_with_an_offset_is_the_same_instant(client, http):
    tz = timezone(timedelta(hours=5, minutes=30))
    client.signals.create_signals(signals=[_signal(timestamp=datetime(2026, 1, 1, 5, 30, tzinfo=tz))])
    [item] = http.get("signals/").json()["data"]
    assert item["timestamp"].endswith("Z")
    assert datetime.fromisoformat(item["timestamp"]) == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_batch_over_1000_is_413(client):
    with pytest.raises(ApiError) as raised:
        client.signals.create_signals(signals=[_signal(idempotency_key=str(i)) for i in range(1001)])
    assert raised.value.status_code == 413
    assert "1000" in raised.value.body["error"]
    assert client.signals.create_signals(signals=[_signal() for _ in range(1000)]).ingested == 1000


def test_a_body_over_the_byte_limit_is_413(client, settings):
    settings.API_MAX_BODY_BYTES = 2048
    with pytest.raises(ApiError) as raised:
        client.signals.create_signals(signals=[_signal(data={"blob": "x" * 3000})])
    assert raised.value.status_code == 413
    assert raised.value.body["code"] == "PAYLOAD_TOO_LARGE"
    assert client.signals.list_signals().pagination.total == 0


@pytest.mark.parametrize(
    "body", [{}, {"signals": "x"}, {"signals": {"eventName": "x"}}, {"signals": None}, []]
)
def test_a_body_that_is_not_a_signal_list_is_400(client, http, body):
    response = http.post("signals/bulk", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    with pytest.raises(BadRequestError):
        client.signals.create_signals(
            signals=[], request_options={"additional_body_parameters": {"signals": 5}}
        )


# --- concurrency ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (SQLite serializes them)"
)
def test_concurrent_clients_store_each_idempotency_key_once(make_client, api_key, organization):
    """10,000 signals, 20 % of them replayed keys (within a batch, across batches of one client, across
    clients), from 4 clients at once in batches of 1,000: exactly the 8,000 unique keys are stored."""
    rng = random.Random(7)
    batches = []
    for index in range(10):
        own = [f"key-{index}-{n}" for n in range(800)]
        batches.append(own)
    for index, batch in enumerate(batches):
        replays = (
            rng.sample(batch, 100)  # within the batch
            + rng.sample(batches[(index + 1) % 10][:800], 50)  # another client's batch
            + rng.sample(batches[(index + 4) % 10][:800], 50)  # same client when index + 4 < 10
        )
        batch.extend(replays)
        rng.shuffle(batch)
    assert sum(map(len, batches)) == 10_000
    unique = {key for batch in batches for key in batch}
    assert len(unique) == 8_000

    clients = [make_client(api_key) for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(worker: int):
        barrier.wait()
        return [
            clients[worker].signals.create_signals(
                signals=[_signal(customer=f"c{n % 7}", idempotency_key=key) for n, key in enumerate(batch)]
            )
            for batch in batches[worker::4]
        ]

    with ThreadPoolExecutor(4) as pool:
        responses = [response for result in pool.map(run, range(4)) for response in result]

    assert len(responses) == 10
    assert sum(r.failed for r in responses) == 0
    assert sum(r.ingested for r in responses) == 8_000
    assert sum(r.ingested + r.duplicates for r in responses) == 10_000
    stored = list(Signal.objects.filter(organization=organization).values_list("idempotency_key", flat=True))
    assert len(stored) == 8_000
    assert set(stored) == unique
    assert set(SignalKey.objects.filter(organization=organization).values_list("key", flat=True)) == unique


def test_with_auto_create_customers_an_unknown_external_id_becomes_a_customer(client, organization):
    response = client.signals.create_signals(signals=[_signal(customer="before")])
    assert response.ingested == 1
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_external_id("before")

    organization_settings_update(organization=organization, auto_create_customers=True)
    response = client.signals.create_signals(
        signals=[_signal(customer="walk-in"), _signal(customer="walk-in"), _signal(customer="before")]
    )
    assert (response.ingested, response.failed) == (3, 0)
    walk_in = client.customers.get_customer_by_external_id("walk-in")
    assert (walk_in.name, walk_in.external_id) == ("walk-in", "walk-in")
    assert [
        item.customer_id for item in client.signals.list_signals(external_customer_id="walk-in").data
    ] == [
        walk_in.id,
        walk_in.id,
    ]
    before = client.customers.get_customer_by_external_id("before")
    # The signal stored before the setting was on is attributed later, like any late customer's (by the
    # schedule, or by rating, which attributes before it prices).
    attribute_unresolved()
    assert [item.customer_id for item in client.signals.list_signals(external_customer_id="before").data] == [
        before.id,
        before.id,
    ]
