"""Span-based signals (`paid.trace.signal`, §5.3) and the links between cost spans and signals."""

import json

import pytest
from django.test import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from apps.costs.models import CostRecord
from apps.customers.services import customer_create
from apps.signals.models import Signal
from apps.signals.services import signal_ingest
from tests.costs.otlp_helpers import export_request, llm_attributes, new_span_id, new_trace_id, span

pytestmark = pytest.mark.django_db


def post(key, *spans):
    response = Client().post(
        "/v1/traces",
        data=export_request(*spans).SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    return ExportTraceServiceResponse.FromString(response.content)


def signal_span(trace_id, *, cost_tracing=False, data=None, customer="acme", span_id=None):
    payload = dict(data or {})
    if cost_tracing:
        payload["paid"] = {"enable_cost_tracing": True}
    attributes = {
        "event_name": "chat_message",
        "external_customer_id": customer,
        "external_agent_id": "chatbot",
    }
    if payload:
        attributes["data"] = json.dumps(payload)
    return span(name="paid.trace.signal", trace_id=trace_id, span_id=span_id, **attributes)


@pytest.fixture
def acme(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme")


def test_signal_span_becomes_a_signal_with_its_trace_id(api_key, organization, acme):
    trace_id = new_trace_id()
    reply = post(api_key, signal_span(trace_id, data={"words": 12}))
    assert not reply.HasField("partial_success")
    signal = Signal.objects.get(organization=organization)
    assert signal.event_name == "chat_message"
    assert signal.customer_id == acme.pk and signal.external_product_id == "chatbot"
    assert signal.data == {"words": 12}
    assert signal.trace_id == trace_id
    assert signal.timestamp.isoformat() == "2025-06-01T12:00:00+00:00"


def test_retried_signal_span_is_stored_once(api_key, organization, acme):
    one = signal_span(new_trace_id())
    post(api_key, one)
    post(api_key, one)
    assert Signal.objects.filter(organization=organization).count() == 1


def test_cost_tracing_signal_takes_the_costs_already_in_its_trace(api_key, organization, acme):
    trace_id, other_trace = new_trace_id(), new_trace_id()
    post(api_key, span(trace_id=trace_id, **llm_attributes()), span(trace_id=other_trace, **llm_attributes()))
    post(api_key, signal_span(trace_id, cost_tracing=True))
    signal = Signal.objects.get(organization=organization)
    assert CostRecord.objects.get(trace_id=trace_id).signal_id == signal.pk
    assert CostRecord.objects.get(trace_id=other_trace).signal_id is None


def test_cost_spans_arriving_after_the_signal_join_it(api_key, organization, acme):
    trace_id = new_trace_id()
    post(api_key, signal_span(trace_id, cost_tracing=True))
    post(
        api_key,
        span(trace_id=trace_id, **llm_attributes()),
        span(trace_id=new_trace_id(), **llm_attributes()),
    )
    signal = Signal.objects.get(organization=organization)
    assert CostRecord.objects.get(trace_id=trace_id).signal_id == signal.pk
    assert CostRecord.objects.exclude(trace_id=trace_id).get().signal_id is None


def test_same_batch_either_order(api_key, organization, acme):
    trace_id = new_trace_id()
    post(api_key, signal_span(trace_id, cost_tracing=True), span(trace_id=trace_id, **llm_attributes()))
    assert CostRecord.objects.get(trace_id=trace_id).signal_id == Signal.objects.get().pk


def test_signal_without_cost_tracing_takes_nothing(api_key, organization, acme):
    trace_id = new_trace_id()
    post(api_key, span(trace_id=trace_id, **llm_attributes()), signal_span(trace_id))
    post(api_key, span(trace_id=trace_id, **llm_attributes()))
    assert Signal.objects.filter(organization=organization).count() == 1
    assert not CostRecord.objects.filter(signal_id__isnull=False).exists()


def test_late_cost_span_joins_a_cost_attributed_signal_of_its_scope(organization, api_key, acme):
    signal_ingest(
        organization=organization,
        signals=[
            {
                "eventName": "chat_message",
                "customer": {"externalCustomerId": "acme"},
                "attribution": {"externalProductId": "chatbot"},
                "data": {"paid": {"paid_scope_id": 4242}},
            }
        ],
    )
    signal = Signal.objects.get(organization=organization)
    post(
        api_key,
        span(**llm_attributes(paid_scope_id=4242)),
        span(**llm_attributes(paid_scope_id=1)),
        span(**llm_attributes(customer="someone-else", paid_scope_id=4242)),
    )
    linked = CostRecord.objects.filter(signal_id=signal.pk)
    assert [(r.external_customer_id, r.paid_scope_id) for r in linked] == [("acme", 4242)]


def test_bad_signal_spans_are_reported_and_the_rest_stored(api_key, organization, acme):
    no_customer = span(name="paid.trace.signal", event_name="x")
    not_json = span(name="paid.trace.signal", event_name="x", external_customer_id="acme", data="{oops")
    good = signal_span(new_trace_id(), span_id=new_span_id())
    reply = post(api_key, no_customer, not_json, good)
    assert reply.partial_success.rejected_spans == 2
    assert "customer" in reply.partial_success.error_message
    assert Signal.objects.filter(organization=organization).count() == 1


def test_other_organization_signal_is_never_linked(
    api_key, other_api, organization, other_organization, acme
):
    from apps.accounts.services import api_key_create

    _, other_key = api_key_create(organization=other_organization, name="x")
    trace_id = new_trace_id()
    post(other_key, signal_span(trace_id, cost_tracing=True))
    post(api_key, span(trace_id=trace_id, **llm_attributes()))
    assert CostRecord.objects.get(organization=organization).signal_id is None
