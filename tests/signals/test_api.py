"""POST /api/v2/signals/bulk at the HTTP level: the envelope's shape errors, and `data` that only the standard
JSON parser reads exactly (big integers, NaN, lone surrogates) going through ingest and back out of the list."""

import json
import secrets

import pytest
from rest_framework import serializers

from apps.common.api import ApiSerializer
from apps.signals import services
from apps.signals.api import BulkSignalsIn
from apps.signals.models import Signal

pytestmark = pytest.mark.django_db

URL = "/api/v2/signals/bulk"


def post(api, raw: bytes):
    return api.generic("POST", URL, raw, content_type="application/json")


def sig(event="chat", **extra):
    return {"eventName": event, "customer": {"externalCustomerId": "acme"}, **extra}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "signals: This field is required."),
        ({"signals": None}, "signals: This field may not be null."),
        ({"signals": "x"}, 'signals: Expected a list of items but got type "str".'),
        ({"signals": {"eventName": "x"}}, 'signals: Expected a list of items but got type "dict".'),
        ({"signals": 5}, 'signals: Expected a list of items but got type "int".'),
        ({"signals": True}, 'signals: Expected a list of items but got type "bool".'),
        ([], "Expected a JSON object as the request body, got an array."),
    ],
)
def test_a_body_that_is_not_a_signal_list_is_400_with_its_message(api, body, message):
    response = post(api, json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "VALIDATION_ERROR", "details": message}
    assert not Signal.objects.exists()


def test_more_than_a_batch_is_413(api):
    response = post(api, json.dumps({"signals": [sig()] * (services.MAX_BATCH + 1)}).encode())
    assert response.status_code == 413
    assert response.json() == {
        "error": f"at most {services.MAX_BATCH} signals per request; got {services.MAX_BATCH + 1}",
        "code": "PAYLOAD_TOO_LARGE",
    }
    assert not Signal.objects.exists()


def test_items_reach_the_service_as_sent(api):
    """No per-item pass in the serializer: items of any JSON type are the service's to judge, one by one."""
    items = [
        sig("ok"),
        "text",
        7,
        None,
        [sig()],
        {"eventName": "x"},
        sig("ok2", data={"n": [1, {"a": None}]}),
    ]
    response = post(api, json.dumps({"signals": items}).encode())
    assert response.status_code == 200
    body = response.json()
    assert (body["ingested"], body["failed"]) == (2, 5)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, None),
        (2, None),
        (3, None),
        (4, None),
        (5, "customer"),
    ]
    assert body["errors"][0]["message"] == "signals[1]: must be a JSON object"
    assert Signal.objects.get(event_name="ok2").data == {"n": [1, {"a": None}]}


BIG = {
    "u64_max": 2**64 - 1,
    "past_u64": 2**64,
    "past_i64": -(2**63) - 1,
    "huge": int("9" * 60),
    "nested": {"list": [10**19, -(10**25), 1.5, 123456789012345678]},
}


def test_big_integers_round_trip_exactly_through_ingest_and_list(api):
    raw = json.dumps({"signals": [sig("big", idempotencyKey="k1", data=BIG)]}).encode()
    response = post(api, raw)
    assert response.json()["ingested"] == 1, response.content
    assert Signal.objects.get().data == BIG
    listed = api.get("/api/v2/signals/")
    assert listed.status_code == 200
    [item] = json.loads(listed.content)["data"]
    assert item["data"] == BIG
    assert all(type(item["data"][key]) is int for key in ("u64_max", "past_u64", "past_i64", "huge"))
    # As digits on the wire, not as floats.
    assert b'"past_u64":18446744073709551616' in listed.content.replace(b" ", b"")
    assert b"9" * 60 in listed.content
    # And a replay of it is a duplicate: the key was read the same way.
    assert post(api, raw).json()["duplicates"] == 1


@pytest.mark.parametrize(
    ("raw_data", "message"),
    [
        (b'{"x": NaN}', "signals[0].data: contains NaN or Infinity"),
        (b'{"x": [1, -Infinity]}', "signals[0].data: contains NaN or Infinity"),
        (b'{"x": 1e400}', "signals[0].data: contains NaN or Infinity"),
        (b'{"x": "\\ud800"}', "signals[0].data: contains a lone surrogate"),
    ],
)
def test_data_only_the_standard_parser_reads_fails_the_item_as_before(api, raw_data, message):
    raw = b'{"signals": [{"eventName": "x", "customer": {"externalCustomerId": "acme"}, "data": ' + raw_data
    raw += b'}, {"eventName": "fine", "customer": {"externalCustomerId": "acme"}}]}'
    response = post(api, raw)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["ingested"], body["failed"]) == (1, 1)
    assert body["errors"] == [{"index": 0, "field": "data", "message": message}]


def test_a_lone_surrogate_in_a_text_field_fails_the_item_as_before(api):
    raw = b'{"signals": [{"eventName": "a\\udc00", "customer": {"externalCustomerId": "acme"}}]}'
    body = post(api, raw).json()
    assert body["failed"] == 1
    assert body["errors"][0]["message"] == "signals[0].eventName: is not valid Unicode (lone surrogate)"


def test_malformed_json_is_the_parse_error_envelope(api):
    response = post(api, b'{"signals": [')
    assert response.status_code == 400
    assert response.json()["code"] == "PARSE_ERROR"
    assert response.json()["error"].startswith("Malformed JSON: Expecting value")


def test_a_batch_draws_its_display_ids_in_one_random_read(api, monkeypatch):
    reads = []
    real = secrets.token_bytes

    def token_bytes(n):
        reads.append(n)
        return real(n)

    monkeypatch.setattr(secrets, "token_bytes", token_bytes)
    body = post(api, json.dumps({"signals": [sig(idempotencyKey=f"k{i % 40}") for i in range(50)]}).encode())
    assert body.json()["ingested"] == 40
    assert reads == [16 * 40]
    assert len(set(Signal.objects.values_list("display_id", flat=True))) == 40


@pytest.mark.parametrize("value", [None, "x", {"eventName": "x"}, 5, True, 1.5])
def test_the_envelope_errors_are_list_fields_own(value):
    class PlainList(ApiSerializer):
        signals = serializers.ListField()

    for body in ({"signals": value}, {}):
        ours, plain = BulkSignalsIn(data=body), PlainList(data=body)
        assert not ours.is_valid() and not plain.is_valid()
        assert ours.errors == plain.errors
