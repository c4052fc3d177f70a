"""`POST /v1/traces` through Django's test client: formats, compression, auth, limits, bad bodies."""

import gzip
import json
from decimal import Decimal

import pytest
from django.test import Client
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from apps.accounts.services import api_key_create, api_key_revoke
from apps.costs.models import CostRecord
from apps.costs.pricing import PRICE_TABLE_VERSION
from apps.customers.services import customer_create
from tests.costs.otlp_helpers import export_request, llm_attributes, new_span_id, new_trace_id, span

pytestmark = pytest.mark.django_db
URL = "/v1/traces"
PB = "application/x-protobuf"


def post(body: bytes, *, key=None, content_type=PB, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if key is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return Client().post(URL, data=body, content_type=content_type, **extra)


def test_protobuf_export_stores_a_priced_attributed_cost_record(api_key, organization):
    customer = customer_create(organization=organization, name="Acme", external_id="acme")
    trace_id, span_id = new_trace_id(), new_span_id()
    body = export_request(
        span(
            trace_id=trace_id,
            span_id=span_id,
            **llm_attributes(paid_scope_id=77, **{"metadata.team.id": "t1"}),
        )
    ).SerializeToString()

    response = post(body, key=api_key)

    assert response.status_code == 200
    assert response["Content-Type"] == PB
    reply = ExportTraceServiceResponse.FromString(response.content)
    assert not reply.HasField("partial_success")
    record = CostRecord.objects.get(organization=organization)
    assert record.source == "span" and record.kind == "usage"
    assert (record.vendor, record.model) == ("openai", "gpt-4o-mini")
    assert (record.input_tokens, record.output_tokens, record.cache_read_tokens) == (1000, 300, 200)
    assert record.customer_id == customer.pk and record.external_customer_id == "acme"
    assert record.product_id is None and record.external_product_id == "chatbot"  # unknown product: kept raw
    assert (record.trace_id, record.span_id, record.paid_scope_id) == (trace_id, span_id, 77)
    assert record.metadata == {"team": {"id": "t1"}}
    assert record.price_status == "priced" and record.price_version == PRICE_TABLE_VERSION
    expected = (1000 * Decimal("0.15") + 300 * Decimal("0.6") + 200 * Decimal("0.075")) / 1_000_000
    assert record.amount == expected
    assert record.timestamp.isoformat() == "2025-06-01T12:00:00+00:00"


def test_retried_export_does_not_duplicate(api_key, organization):
    body = export_request(span(**llm_attributes())).SerializeToString()
    assert post(body, key=api_key).status_code == 200
    assert post(body, key=api_key).status_code == 200
    assert CostRecord.objects.filter(organization=organization).count() == 1


def test_unknown_customer_is_kept_raw_and_alias_resolves(api_key, organization):
    from apps.customers.services import customer_alias_create

    customer = customer_create(organization=organization, name="Acme", external_id="acme-main")
    customer_alias_create(customer=customer, alias="acme-alias")
    body = export_request(
        span(**llm_attributes(customer="acme-alias")), span(**llm_attributes(customer="nobody"))
    ).SerializeToString()
    assert post(body, key=api_key).status_code == 200
    by_external = {
        r.external_customer_id: r.customer_id for r in CostRecord.objects.filter(organization=organization)
    }
    assert by_external == {"acme-alias": customer.pk, "nobody": None}


def test_gen_ai_attributes_and_unknown_model(api_key, organization):
    body = export_request(
        span(
            name="paid.trace.anthropic.messages",
            **{
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "my-private-model",
                "gen_ai.usage.input_tokens": 500,
                "gen_ai.usage.output_tokens": 40,
                "gen_ai.usage.cache_creation_input_tokens": 100,
                "gen_ai.usage.reasoning_output_tokens": 10,
                "external_customer_id": "acme",
            },
        ),
        span(name="paid.trace.parent_span", external_customer_id="acme"),  # no usage: nothing stored
    ).SerializeToString()
    assert post(body, key=api_key).status_code == 200
    record = CostRecord.objects.get(organization=organization)
    assert (record.vendor, record.model) == ("anthropic", "my-private-model")
    assert (record.input_tokens, record.cache_creation_tokens, record.output_tokens) == (400, 100, 40)
    assert record.reasoning_tokens == 10
    assert record.amount is None and record.price_status == "unknown_model"


def test_json_export(api_key, organization):
    trace_id, span_id = new_trace_id(), new_span_id()
    payload = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "x"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "openinference.instrumentation.openai"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "paid.trace.ChatCompletion",
                                "kind": 3,
                                "startTimeUnixNano": "1748779200000000000",
                                "endTimeUnixNano": "1748779201000000000",
                                "attributes": [
                                    {"key": "llm.model_name", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "llm.provider", "value": {"stringValue": "openai"}},
                                    {"key": "llm.token_count.prompt", "value": {"intValue": "100"}},
                                    {"key": "llm.token_count.completion", "value": {"intValue": 20}},
                                    {"key": "external_customer_id", "value": {"stringValue": "acme"}},
                                    {"key": "paid_scope_id", "value": {"intValue": "12345"}},
                                ],
                                "status": {"code": 1},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = post(json.dumps(payload).encode(), key=api_key, content_type="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}
    record = CostRecord.objects.get(organization=organization)
    assert (record.trace_id, record.span_id) == (trace_id, span_id)
    assert (record.input_tokens, record.output_tokens, record.paid_scope_id) == (100, 20, 12345)
    assert record.timestamp.isoformat() == "2025-06-01T12:00:00+00:00"


def test_gzip_protobuf(api_key, organization):
    body = gzip.compress(export_request(span(**llm_attributes())).SerializeToString())
    response = post(body, key=api_key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert CostRecord.objects.filter(organization=organization).count() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [
        (b"\xff\xff\xff\x01garbage", PB, {}, 400),
        (b"{not json", "application/json", {}, 400),
        (b"[1, 2]", "application/json", {}, 400),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            {},
            400,
        ),
        (b'{"resourceSpans": "nope"}', "application/json", {}, 400),
        (b"not gzip at all", PB, {"Content-Encoding": "gzip"}, 400),
        (gzip.compress(b"x" * 100)[:-8], PB, {"Content-Encoding": "gzip"}, 400),
        (b"abc", PB, {"Content-Encoding": "br"}, 415),
        (b"abc", "text/plain", {}, 415),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(
    api_key, organization, body, content_type, headers, status
):
    response = post(body, key=api_key, content_type=content_type, **headers)
    assert response.status_code == status
    if content_type == "application/json":
        assert response.json()["message"]
    elif content_type == PB:
        assert status_pb2.Status.FromString(response.content).message
    assert not CostRecord.objects.exists()


def test_body_limits_before_and_after_gzip(api_key, organization, settings):
    settings.API_MAX_BODY_BYTES = 300
    big = export_request(*[span(**llm_attributes()) for _ in range(5)]).SerializeToString()
    assert len(big) > 300
    assert post(big, key=api_key).status_code == 413
    bomb = gzip.compress(b"\x00" * 100_000)
    assert len(bomb) < 300
    assert post(bomb, key=api_key, **{"Content-Encoding": "gzip"}).status_code == 413
    assert not CostRecord.objects.exists()


def test_auth(api_key, organization, other_organization):
    body = export_request(span(**llm_attributes())).SerializeToString()
    missing = post(body)
    assert missing.status_code == 401 and "Bearer" in missing["WWW-Authenticate"]
    assert "Authorization" in status_pb2.Status.FromString(missing.content).message
    assert post(body, key="tly_not-a-key").status_code == 401
    assert (
        Client().post(URL, data=body, content_type=PB, HTTP_AUTHORIZATION=f"Basic {api_key}").status_code
        == 401
    )
    json_reply = post(b"{}", content_type="application/json")
    assert json_reply.status_code == 401 and json_reply.json()["code"] == 16  # UNAUTHENTICATED
    revoked_obj, revoked = api_key_create(organization=organization, name="old")
    api_key_revoke(organization=organization, key_id=revoked_obj.pk)
    assert post(body, key=revoked).status_code == 401
    _, other_key = api_key_create(organization=other_organization, name="x")
    assert post(body, key=other_key).status_code == 200
    assert not CostRecord.objects.filter(organization=organization).exists()
    assert CostRecord.objects.filter(organization=other_organization).count() == 1
    assert Client().get(URL).status_code == 405


def test_spans_without_valid_ids_are_reported_as_rejected(api_key, organization):
    bad = span(**llm_attributes())
    bad.span_id = b"\x01"
    good = span(**llm_attributes())
    response = post(export_request(bad, good).SerializeToString(), key=api_key)
    assert response.status_code == 200
    reply = ExportTraceServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_spans == 1
    assert "spanId" in reply.partial_success.error_message
    assert CostRecord.objects.filter(organization=organization).count() == 1
    as_json = json_format.MessageToDict(reply)
    assert as_json["partialSuccess"]["rejectedSpans"] == "1"
