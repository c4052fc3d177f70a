"""Building OTLP ExportTraceServiceRequests for the tests."""

import secrets
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def _any(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def span(*, name="paid.trace.ChatCompletion", trace_id=None, span_id=None, start=START, **attributes) -> Span:
    start_ns = int(start.timestamp() * 1e9)
    return Span(
        trace_id=bytes.fromhex(trace_id or new_trace_id()),
        span_id=bytes.fromhex(span_id or new_span_id()),
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 1_000_000,
        attributes=[KeyValue(key=k, value=_any(v)) for k, v in attributes.items()],
    )


def llm_attributes(customer="acme", product="chatbot", model="gpt-4o-mini", **extra) -> dict:
    """What the SDK's OpenInference OpenAI instrumentation records (prompt = total input, cached included)."""
    attributes = {
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.model_name": model,
        "llm.token_count.prompt": 1200,
        "llm.token_count.completion": 300,
        "llm.token_count.prompt_details.cache_read": 200,
        "llm.token_count.total": 1500,
        "openinference.span.kind": "LLM",
        "paid.sdk.version": "python-1.12.0",
    }
    if customer is not None:
        attributes["external_customer_id"] = customer
    if product is not None:
        attributes["external_agent_id"] = product
    attributes.update(extra)
    return attributes


def export_request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    )
