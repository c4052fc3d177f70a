"""Signal ingestion, listing and late attribution, at the service/selector layer."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from apps.catalog.services import product_create
from apps.common.exceptions import NotFound
from apps.customers.services import customer_alias_create, customer_create, customer_update
from apps.signals import services
from apps.signals.models import Signal, SignalKey
from apps.signals.selectors import signal_get, signal_list
from apps.signals.services import (
    KEY_RETENTION,
    MAX_FUTURE,
    _Invalid,
    _parse,
    _parse_fast,
    signal_attribute_unresolved,
    signal_ingest,
    signal_keys_purge,
    signals_ingested,
)
from apps.signals.tasks import attribute_unresolved

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def sig(event="chat", *, customer=None, **extra):
    return {"eventName": event, "customer": customer or {"externalCustomerId": "acme"}, **extra}


@pytest.fixture
def acme(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


# --- validation ----------------------------------------------------------------------------------------------

INVALID = [
    ({"customer": {"externalCustomerId": "acme"}}, "eventName"),
    (sig(eventName=None), "eventName"),
    (sig(eventName=""), "eventName"),
    (sig(eventName=12), "eventName"),
    (sig(eventName="x" * 256), "eventName"),
    (sig(eventName="a\x00b"), "eventName"),
    ({"eventName": "chat"}, "customer"),
    (sig(customer={"customerId": "cus_1", "externalCustomerId": "acme"}), "customer"),
    (sig(customer={"name": "acme"}), "customer"),
    ({"eventName": "chat", "customer": "acme"}, "customer"),
    (sig(customer={"externalCustomerId": "x" * 256}), "customer.externalCustomerId"),
    (sig(customer={"externalCustomerId": 42}), "customer.externalCustomerId"),
    (sig(attribution="prod_1"), "attribution"),
    (sig(attribution=["prod_1"]), "attribution"),
    (sig(attribution={}), "attribution"),
    (sig(attribution={"productId": "prod_1", "externalProductId": "bot"}), "attribution"),
    (sig(customerUnit="u1"), "customerUnit"),
    (sig(customerUnit={"externalCustomerUnitId": 5}), "customerUnit.externalCustomerUnitId"),
    (sig(data=[1, 2]), "data"),
    (sig(data="quantity=1"), "data"),
    (sig(data=3), "data"),
    (sig(data={"x": float("nan")}), "data"),
    (sig(data={"x": [float("inf")]}), "data"),
    (sig(data={"x": "a\x00b"}), "data"),
    (sig(data={"x": "\ud800"}), "data"),
    (sig(timestamp="yesterday"), "timestamp"),
    (sig(timestamp="2026-11-01"), "timestamp"),
    (sig(timestamp=1761998400), "timestamp"),
    (sig(timestamp="2026-13-01T00:00:00Z"), "timestamp"),
    (sig(timestamp="2026-11-02T12:00:00.000001Z"), "timestamp"),
    (sig(timestamp="2026-11-02T13:00:01+01:00"), "timestamp"),
    (sig(idempotencyKey="k" * 256), "idempotencyKey"),
    (sig(idempotencyKey=7), "idempotencyKey"),
    ("not a signal", None),
    (None, None),
]


@pytest.mark.parametrize(("bad", "field"), INVALID)
def test_an_invalid_item_fails_alone_with_its_index_and_field(organization, frozen, bad, field):
    result = signal_ingest(organization=organization, signals=[sig(idempotencyKey="ok-1"), bad, sig()])
    assert (result.ingested, result.duplicates, result.failed) == (2, 0, 1)
    [error] = result.errors
    assert error["index"] == 1
    assert error["field"] == field
    prefix = f"signals[1].{field}:" if field else "signals[1]:"
    assert error["message"].startswith(prefix), error
    assert Signal.objects.filter(organization=organization).count() == 2
    assert list(SignalKey.objects.values_list("key", flat=True)) == ["ok-1"]


def test_the_edges_that_are_valid(organization, frozen):
    result = signal_ingest(
        organization=organization,
        signals=[
            sig(eventName="x" * 255),
            sig(timestamp="2026-11-02T12:00:00Z"),  # exactly 24 h ahead
            sig(timestamp="2026-11-02T13:00:00+01:00"),  # the same instant
            sig(idempotencyKey="k" * 255),
            sig(customer={"externalCustomerId": "c" * 255}),
            sig(data={}),
            sig(data=None, attribution=None, customerUnit=None, idempotencyKey=None, timestamp=None),
            sig(customerUnit={"externalCustomerUnitId": "unit-unknown"}),
            sig(data={"literal": "\\u0000 is six characters"}),
        ],
    )
    assert (result.ingested, result.failed, result.errors) == (9, 0, [])


def test_every_invalid_item_is_reported(organization):
    result = signal_ingest(organization=organization, signals=[{}, sig(), 5, sig(data=[])])
    assert (result.ingested, result.failed) == (1, 3)
    assert [error["index"] for error in result.errors] == [0, 2, 3]


# --- duplicates ----------------------------------------------------------------------------------------------


def test_duplicates_within_a_batch_keep_the_first(organization):
    result = signal_ingest(
        organization=organization,
        signals=[
            sig("first", idempotencyKey="k1"),
            sig("second", idempotencyKey="k1"),
            sig("other", idempotencyKey="k2"),
            sig("no key"),
            sig("no key"),
        ],
    )
    assert (result.ingested, result.duplicates, result.failed) == (4, 1, 0)
    assert sorted(Signal.objects.values_list("event_name", flat=True)) == [
        "first",
        "no key",
        "no key",
        "other",
    ]


def test_duplicates_across_batches_and_a_failed_first_copy(organization):
    signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1")])
    result = signal_ingest(
        organization=organization,
        signals=[
            sig(idempotencyKey="k1"),
            sig(idempotencyKey="k1"),
            sig(idempotencyKey="k3", data="invalid"),  # an invalid item does not take its key
            sig(idempotencyKey="k3"),
        ],
    )
    assert (result.ingested, result.duplicates, result.failed) == (1, 2, 1)
    assert Signal.objects.filter(idempotency_key="k1").count() == 1
    assert Signal.objects.filter(idempotency_key="k3").count() == 1


def test_keys_are_per_organization(organization, other_organization):
    signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1")])
    result = signal_ingest(organization=other_organization, signals=[sig(idempotencyKey="k1")])
    assert (result.ingested, result.duplicates) == (1, 0)


def test_keys_are_kept_at_least_35_days(organization):
    with time_machine.travel(NOW, tick=False):
        signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1")])
    with time_machine.travel(NOW + timedelta(days=35), tick=False):
        assert signal_keys_purge() == 0
        assert signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1")]).duplicates == 1
    assert timedelta(days=35) <= KEY_RETENTION
    assert signal_keys_purge(now=NOW + KEY_RETENTION + timedelta(seconds=1)) == 1


# --- resolution ----------------------------------------------------------------------------------------------


def test_unknown_customer_is_stored_with_its_raw_ids(organization):
    result = signal_ingest(
        organization=organization,
        signals=[
            sig(customer={"externalCustomerId": "nobody"}, attribution={"externalProductId": "nothing"}),
            sig(customer={"customerId": "cus_nope"}, attribution={"productId": "prod_nope"}),
        ],
    )
    assert (result.ingested, result.failed) == (2, 0)
    first, second = Signal.objects.order_by("id")
    assert (first.customer_id, first.external_customer_id, first.customer_ref) == (None, "nobody", None)
    assert (first.product_id, first.external_product_id) == (None, "nothing")
    assert (second.customer_id, second.customer_ref, second.product_ref) == (None, "cus_nope", "prod_nope")


def test_customer_by_id_external_id_and_alias(organization, acme):
    customer_alias_create(customer=acme, alias="acme-alias")
    signal_ingest(
        organization=organization,
        signals=[
            sig("by-id", customer={"customerId": acme.display_id}),
            sig("by-external", customer={"externalCustomerId": "acme"}),
            sig("by-alias", customer={"externalCustomerId": "acme-alias"}),
        ],
    )
    assert dict(Signal.objects.values_list("event_name", "customer_id")) == {
        "by-id": acme.pk,
        "by-external": acme.pk,
        "by-alias": acme.pk,
    }
    assert Signal.objects.get(event_name="by-alias").external_customer_id == "acme-alias"


def test_another_organizations_customer_and_product_are_never_attributed(organization, other_organization):
    theirs = customer_create(organization=other_organization, name="Globex", external_id="globex")
    their_product = product_create(organization=other_organization, name="P", external_id="their-product")
    signal_ingest(
        organization=organization,
        signals=[
            sig(
                customer={"customerId": theirs.display_id},
                attribution={"productId": their_product.display_id},
            ),
            sig(
                customer={"externalCustomerId": "globex"}, attribution={"externalProductId": "their-product"}
            ),
        ],
    )
    assert list(Signal.objects.values_list("customer_id", "product_id")) == [(None, None), (None, None)]
    assert signal_attribute_unresolved(organization=organization) == 0
    assert list(Signal.objects.values_list("customer_id", "product_id")) == [(None, None), (None, None)]


def test_product_by_id_and_external_id(organization, acme):
    bot = product_create(organization=organization, name="Bot", external_id="bot")
    signal_ingest(
        organization=organization,
        signals=[
            sig("by-id", attribution={"productId": bot.display_id}),
            sig("by-external", attribution={"externalProductId": "bot"}),
            sig("none"),
        ],
    )
    assert dict(Signal.objects.values_list("event_name", "product_id")) == {
        "by-id": bot.pk,
        "by-external": bot.pk,
        "none": None,
    }


# --- time ----------------------------------------------------------------------------------------------------


def test_timestamp_defaults_to_now_and_ingest_time_is_recorded(organization, frozen):
    signal_ingest(
        organization=organization, signals=[sig("now"), sig("then", timestamp="2026-10-31T08:30:00Z")]
    )
    now, then = (Signal.objects.get(event_name=name) for name in ("now", "then"))
    assert now.timestamp == now.created_at == NOW
    assert then.timestamp == datetime(2026, 10, 31, 8, 30, tzinfo=UTC)
    assert then.created_at == NOW


@pytest.mark.parametrize(
    "sent",
    [
        "2026-10-31T14:30:00+05:00",
        "2026-10-31T04:30:00-05:00",
        "2026-10-31T09:30:00.000000Z",
        "2026-10-31T09:30:00",  # naive: read as UTC
        "2026-10-31 09:30:00+00:00",
    ],
)
def test_a_timestamp_with_any_offset_is_stored_as_the_same_instant(organization, frozen, sent):
    signal_ingest(organization=organization, signals=[sig(timestamp=sent)])
    stored = Signal.objects.get()
    assert stored.timestamp == datetime(2026, 10, 31, 9, 30, tzinfo=UTC)
    assert stored.timestamp.utcoffset() == timedelta(0)


# --- data ----------------------------------------------------------------------------------------------------

ODD = {
    "deep": {"a": {"b": {"c": {"d": {"e": {"f": [[[{"g": "h"}]]]}}}}}},
    "ünïcødé": "日本語",
    "emoji 🚀": "✓",
    "dotted.key": 1,
    "spaced key": 2,
    "camelCase": 3,
    "snake_case": 4,
    "UPPER": 5,
    "": "empty key",
    "big": 2**63 + 1,
    "bigger": -(10**30),
    "one_float": 1.0,
    "one_int": 1,
    "zero_float": 0.0,
    "half": 0.5,
    "tiny": 1e-7,
    "precise": 0.1 + 0.2,
    "true": True,
    "true_string": "true",
    "false": False,
    "zero_string": "0",
    "null": None,
    "null_string": "null",
    "empty_object": {},
    "empty_list": [],
    "empty_string": "",
    "mixed": [1, 1.0, "1", True, None, {}, [], {"x": [False]}],
    "quantity": "12",
    "paid": {"paid_scope_id": "s1", "enable_cost_tracing": True},
    "costData": {"vendor": "openai", "cost": 0.0025},
    "escapes": 'quote " backslash \\ newline \n tab \t',
}


def test_data_round_trips_exactly(organization):
    signal_ingest(organization=organization, signals=[sig(data=ODD)])
    stored = Signal.objects.get().data
    assert stored == ODD
    # `==` says 1 == 1.0 == True; the JSON text does not.
    assert json.dumps(stored, sort_keys=True) == json.dumps(ODD, sort_keys=True)
    assert json.dumps(
        signal_get(organization=organization, signal_id=Signal.objects.get().display_id).data, sort_keys=True
    ) == json.dumps(ODD, sort_keys=True)


def test_data_is_not_shared_with_the_caller(organization):
    data = {"quantity": 1}
    signal_ingest(organization=organization, signals=[sig(data=data)])
    data["quantity"] = 2
    assert Signal.objects.get().data == {"quantity": 1}


# --- list and get --------------------------------------------------------------------------------------------


@pytest.fixture
def listed(organization, other_organization, acme):
    """Signals over three ingest times, plus one of another organization that no filter may return."""
    customer_alias_create(customer=acme, alias="acme-alias")
    bot = product_create(organization=organization, name="Bot", external_id="bot")
    with time_machine.travel(datetime(2026, 10, 1, tzinfo=UTC), tick=False):
        signal_ingest(
            organization=organization,
            signals=[
                sig("a", attribution={"externalProductId": "bot"}),
                sig("b", customer={"externalCustomerId": "acme-alias"}),
            ],
        )
    with time_machine.travel(datetime(2026, 10, 2, tzinfo=UTC), tick=False):
        signal_ingest(
            organization=organization,
            signals=[
                sig("a", customer={"customerId": acme.display_id}, attribution={"productId": bot.display_id}),
                sig(
                    "c",
                    customer={"externalCustomerId": "ghost"},
                    attribution={"externalProductId": "ghost-p"},
                ),
            ],
        )
    with time_machine.travel(datetime(2026, 10, 3, tzinfo=UTC), tick=False):
        signal_ingest(organization=organization, signals=[sig("d", customer={"customerId": "cus_unknown"})])
        signal_ingest(
            organization=other_organization,
            signals=[
                sig("a", attribution={"externalProductId": "bot"}),
                sig("b", customer={"customerId": acme.display_id}),
            ],
        )
    return {"acme": acme, "bot": bot}


def names(qs):
    return [(s.event_name, s.created_at.day) for s in qs]


def test_list_is_newest_first_and_of_one_organization(organization, listed):
    assert names(signal_list(organization=organization)) == [("d", 3), ("c", 2), ("a", 2), ("b", 1), ("a", 1)]


def test_list_filters(organization, listed):
    acme, bot = listed["acme"], listed["bot"]

    def by(**filters):
        return names(signal_list(organization=organization, **filters))

    assert by(signal_name="a") == [("a", 2), ("a", 1)]
    assert by(signal_name="A") == []
    assert by(customer_id=acme.display_id) == [("a", 2), ("b", 1), ("a", 1)]
    assert by(customer_id="cus_unknown") == [("d", 3)]
    assert by(external_customer_id="acme") == [("a", 2), ("b", 1), ("a", 1)]
    assert by(external_customer_id="acme-alias") == [("a", 2), ("b", 1), ("a", 1)]
    assert by(external_customer_id="ghost") == [("c", 2)]
    assert by(external_customer_id="nobody") == []
    assert by(product_id=bot.display_id) == [("a", 2), ("a", 1)]
    assert by(external_product_id="bot") == [("a", 2), ("a", 1)]
    assert by(external_product_id="ghost-p") == [("c", 2)]
    assert by(created_at_from=datetime(2026, 10, 2, tzinfo=UTC)) == [("d", 3), ("c", 2), ("a", 2)]
    assert by(created_at_to=datetime(2026, 10, 2, tzinfo=UTC)) == [("c", 2), ("a", 2), ("b", 1), ("a", 1)]
    assert by(
        created_at_from=datetime(2026, 10, 1, 0, 0, 1, tzinfo=UTC),
        created_at_to=datetime(2026, 10, 2, 23, tzinfo=UTC),
    ) == [("c", 2), ("a", 2)]
    assert by(signal_name="a", external_customer_id="acme", product_id=bot.display_id) == [("a", 2), ("a", 1)]


def test_get_by_id_and_not_another_organizations(organization, other_organization, listed):
    mine = Signal.objects.filter(organization=organization).first()
    assert signal_get(organization=organization, signal_id=mine.display_id) == mine
    theirs = Signal.objects.filter(organization=other_organization).first()
    with pytest.raises(NotFound):
        signal_get(organization=organization, signal_id=theirs.display_id)
    with pytest.raises(NotFound):
        signal_get(organization=organization, signal_id="sig_missing")


# --- attribution later ---------------------------------------------------------------------------------------


def test_signals_of_a_customer_that_appears_later_are_attributed(organization, other_organization):
    signal_ingest(
        organization=organization,
        signals=[
            sig("new", customer={"externalCustomerId": "late"}),
            sig("renamed", customer={"externalCustomerId": "late-alias"}),
            sig("gets-id", customer={"externalCustomerId": "old-id"}),
            sig("product", attribution={"externalProductId": "late-product"}),
            sig("never", customer={"externalCustomerId": "never"}),
        ],
    )
    signal_ingest(
        organization=other_organization, signals=[sig("theirs", customer={"externalCustomerId": "late"})]
    )
    Signal.objects.filter(event_name="renamed").update(rating=Signal.Rating.SKIPPED)
    assert signal_attribute_unresolved(organization=organization) == 0

    late = customer_create(organization=organization, name="Late", external_id="late")
    customer_alias_create(customer=late, alias="late-alias")
    other = customer_create(organization=organization, name="Other")
    customer_update(customer=other, external_id="old-id")
    product = product_create(organization=organization, name="P", external_id="late-product")

    assert attribute_unresolved(organization.pk) == 4
    assert dict(
        Signal.objects.filter(organization=organization).values_list("event_name", "customer_id")
    ) == {
        "new": late.pk,
        "renamed": late.pk,
        "gets-id": other.pk,
        "product": None,  # "acme" is still unknown
        "never": None,
    }
    assert Signal.objects.get(event_name="product").product_id == product.pk
    assert Signal.objects.get(event_name="renamed").rating == Signal.Rating.PENDING
    assert Signal.objects.get(event_name="theirs").customer_id is None
    assert attribute_unresolved() == 0  # idempotent, every organization
    listed = signal_list(organization=organization, customer_id=late.display_id)
    assert sorted(s.event_name for s in listed) == ["new", "renamed"]


# --- the fast path and the write path ------------------------------------------------------------------------

VALID = [
    sig(),
    sig(customer={"customerId": "cus_1"}),
    sig(attribution={"productId": "prod_1"}),
    sig(attribution={"externalProductId": "bot"}, customerUnit={"externalCustomerUnitId": "u1"}),
    sig(customerUnit={}),
    sig(customerUnit={"other": 1}),
    sig(customer={"externalCustomerId": "acme", "unknownKey": 1}),
    sig(eventName="日本語"),
    sig(idempotencyKey="ключ"),
    sig(timestamp="2026-10-31T09:30:00Z"),
    sig(timestamp="2026-10-31T09:30:00+05:00"),
    sig(timestamp="2026-10-31 09:30"),
    sig(data={"a": "ü", "b": [1, 2.5, None, True]}),
    sig(data={"literal": "\\u0000 is six characters"}),
    sig(data={1: "int key"}),
]


@pytest.mark.parametrize("item", [bad for bad, _ in INVALID] + VALID)
def test_the_fast_path_accepts_only_what_the_exact_checker_accepts_and_reads_it_the_same(frozen, item):
    fast = _parse_fast(item, NOW, NOW + MAX_FUTURE)
    try:
        exact = _parse(item, NOW)
    except _Invalid:
        assert fast is None
    else:
        assert fast is None or fast == exact


def test_the_fast_path_takes_the_plain_shapes(frozen):
    plain = sig(
        attribution={"externalProductId": "bot"},
        timestamp="2026-10-31T09:30:00Z",
        idempotencyKey="k1",
        data={"quantity": 2, "model": "gpt-4o", "nested": {"ok": True}},
    )
    assert _parse_fast(plain, NOW, NOW + MAX_FUTURE) is not None


@pytest.mark.parametrize(
    "text",
    [
        "tab\there",
        "new\nline",
        "back\\slash",
        "\\N",
        "\\.",
        "carriage\rreturn",
        "日本語 🚀",
        "'quote\"",
        "%s %%",
    ],
)
def test_text_that_means_something_to_copy_is_stored_as_sent(organization, text):
    result = signal_ingest(
        organization=organization,
        signals=[
            {
                "eventName": text,
                "customer": {"externalCustomerId": text},
                "attribution": {"productId": text},
                "customerUnit": {"externalCustomerUnitId": text},
                "idempotencyKey": text,
                "data": {text: text},
            }
        ],
    )
    assert (result.ingested, result.failed) == (1, 0), result.errors
    stored = Signal.objects.get()
    assert (stored.event_name, stored.external_customer_id, stored.product_ref) == (text, text, text)
    assert (stored.external_customer_unit_id, stored.idempotency_key, stored.data) == (
        text,
        text,
        {text: text},
    )
    assert stored.customer_ref is None and stored.external_product_id is None


def test_stored_columns_and_defaults(organization, acme, frozen):
    bot = product_create(organization=organization, name="Bot", external_id="bot")
    signal_ingest(
        organization=organization,
        signals=[sig(attribution={"externalProductId": "bot"}, idempotencyKey="k1", data={"quantity": 1})],
    )
    stored = Signal.objects.get()
    assert stored.display_id.startswith("sig_") and len(stored.display_id) == 20
    assert (stored.organization_id, stored.customer_id, stored.product_id) == (
        organization.pk,
        acme.pk,
        bot.pk,
    )
    assert (stored.rating, stored.rating_error, stored.trace_id) == (Signal.Rating.PENDING, "", None)
    assert stored.created_at == stored.timestamp == NOW
    if connection.vendor == "postgresql":
        assert services._copy_plan().types is not None  # the binary COPY wrote this row


def test_a_batch_is_one_transaction(organization, monkeypatch):
    """A failure while storing the signals leaves nothing behind, not even the claimed idempotency keys: a
    retry of the batch is then stored, not counted as duplicates."""

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_store", broken)
    with pytest.raises(RuntimeError):
        signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1"), sig(idempotencyKey="k2")])
    assert not SignalKey.objects.exists() and not Signal.objects.exists()
    monkeypatch.undo()
    result = signal_ingest(
        organization=organization, signals=[sig(idempotencyKey="k1"), sig(idempotencyKey="k2")]
    )
    assert (result.ingested, result.duplicates) == (2, 0)


def test_a_full_batch_of_mixed_items(organization, acme, frozen):
    items = []
    for n in range(1000):
        if n % 10 == 0:
            items.append(sig(eventName=""))  # invalid
        else:
            items.append(sig(idempotencyKey=f"k{n - n % 5}", data={"n": n}))  # k0, k5, k10, …: 200 keys
    result = signal_ingest(organization=organization, signals=items)
    assert (result.ingested, result.duplicates, result.failed) == (200, 700, 100)
    assert Signal.objects.count() == result.ingested == SignalKey.objects.count()
    assert Signal.objects.filter(customer=acme).count() == result.ingested


def test_the_ingested_hook_is_sent_once_per_batch_that_stored_signals(organization, monkeypatch):
    sent = []
    monkeypatch.setattr(signals_ingested, "_receivers", [lambda **kwargs: sent.append(kwargs)])
    signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1"), sig(idempotencyKey="k2")])
    signal_ingest(organization=organization, signals=[sig(idempotencyKey="k1")])  # a replay stores nothing
    signal_ingest(organization=organization, signals=[{}])
    assert sent == [{"organization_id": organization.pk, "traced_signal_ids": []}]


FAST_DATA = [
    {"quantity": 3, "model": "gpt-4o", "ok": True, "ratio": 0.1 + 0.2},
    {"tiny": 1e-7, "small": 1e-5, "huge": 1e22, "big_float": 1e16, "neg": -2.5e-8, "zero": -0.0, "one": 1.0},
    {"u64": 2**64 - 1, "i64": -(2**63), "nested": {"list": [1, 1.0, "1", False, {"deep": []}]}},
    {"ünï": "日本語 🚀", "escapes": 'quote " backslash \\ newline \n tab \t', "ctrl": "\x01\x1f\x7f"},
]


@pytest.mark.parametrize("data", FAST_DATA)
def test_data_written_by_orjson_is_stored_as_the_standard_encoder_would(organization, monkeypatch, data):
    assert services._dump_fast(data) is not None  # this data takes the fast encoder
    signal_ingest(organization=organization, signals=[sig("fast", data=data)])
    monkeypatch.setattr(services, "_dump_fast", lambda data: None)
    signal_ingest(organization=organization, signals=[sig("standard", data=data)])
    fast, standard = (Signal.objects.get(event_name=name).data for name in ("fast", "standard"))
    assert json.dumps(fast, sort_keys=True) == json.dumps(standard, sort_keys=True)
    if connection.vendor == "postgresql":  # the stored jsonb itself, not just what Python reads back
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT event_name, data::text FROM {Signal._meta.db_table} ORDER BY event_name")
            (_, fast_text), (_, standard_text) = cursor.fetchall()
        assert fast_text == standard_text


@pytest.mark.parametrize(
    "data",
    [
        {"x": float("nan")},
        {"x": [float("inf")]},
        {"x": None},
        {"x": 2**64},
        {"x": -(2**63) - 1},
        {"x": "\ud800"},
        {"x": "a\x00b"},
        {1: "int key"},
    ],
)
def test_the_fast_encoder_leaves_what_it_cannot_vouch_for_to_the_standard_one(data):
    assert services._dump_fast(data) is None


@pytest.fixture
def text_copy(monkeypatch):
    """The text COPY plan, used when a column's type has no binary mapping."""
    monkeypatch.setattr(services, "_BINARY_TYPES", {})
    services._copy_plan.cache_clear()
    yield
    services._copy_plan.cache_clear()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is the PostgreSQL write path")
def test_the_text_copy_plan_stores_the_same(organization, text_copy, frozen):
    assert services._copy_plan().types is None
    text = "tab\there \\N back\\slash\nnew line 日本語"
    result = signal_ingest(
        organization=organization,
        signals=[sig(text, idempotencyKey=text, data={text: [1, 1.0, None, True, ODD]}), sig("plain")],
    )
    assert (result.ingested, result.failed) == (2, 0)
    stored = Signal.objects.get(event_name=text)
    assert (stored.idempotency_key, stored.rating, stored.rating_error) == (text, Signal.Rating.PENDING, "")
    assert json.dumps(stored.data, sort_keys=True) == json.dumps(
        {text: [1, 1.0, None, True, ODD]}, sort_keys=True
    )
    assert Signal.objects.get(event_name="plain").data is None
