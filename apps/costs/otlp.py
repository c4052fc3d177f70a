"""OTLP/HTTP trace ingestion: `POST /v1/traces` (contract §5.1, docs/costs.md "OTLP ingestion").

Takes an `ExportTraceServiceRequest` as protobuf (`application/x-protobuf`, what the Paid SDK's exporter sends)
or OTLP/JSON (`application/json`: trace and span ids in hex, enums as numbers), optionally gzip-compressed
(`Content-Encoding: gzip`), with `Authorization: Bearer <API key>`. Answers as the OTLP spec asks: 200 with an
`ExportTraceServiceResponse` in the request's format (`partialSuccess` when some spans were rejected), and errors
as a `google.rpc.Status` in the request's format: 400 undecodable body, 401 missing or bad key, 413 too large,
415 other content types. None of these is retried by the exporter; 5xx would be."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.accounts.services import api_key_authenticate
from apps.costs.spans import SpanIn, spans_ingest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _reply(message, *, as_json: bool, status: int = 200) -> HttpResponse:
    if as_json:
        body = json_format.MessageToJson(message, indent=None).encode()
        return HttpResponse(body, status=status, content_type=JSON)
    return HttpResponse(message.SerializeToString(), status=status, content_type=PROTOBUF)


def _error(refused: _Refused, *, as_json: bool) -> HttpResponse:
    response = _reply(
        status_pb2.Status(code=refused.code, message=refused.message), as_json=as_json, status=refused.status
    )
    if refused.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _body(request: HttpRequest) -> bytes:
    """The (decompressed) body, at most `API_MAX_BODY_BYTES` before and after decompression."""
    limit = settings.API_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _Refused(
            413, code_pb2.RESOURCE_EXHAUSTED, f"Request body is {declared} bytes; the limit is {limit} bytes."
        )
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _Refused(413, code_pb2.RESOURCE_EXHAUSTED, f"Request body exceeds the limit of {limit} bytes.")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise _Refused(
            415, code_pb2.INVALID_ARGUMENT, f"Unsupported Content-Encoding {encoding!r}; use gzip."
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise _Refused(400, code_pb2.INVALID_ARGUMENT, f"Body is not valid gzip: {exc}") from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise _Refused(
            413, code_pb2.RESOURCE_EXHAUSTED, f"Decompressed body exceeds the limit of {limit} bytes."
        )
    if not inflater.eof:
        raise _Refused(400, code_pb2.INVALID_ARGUMENT, "Body is not valid gzip: truncated stream.")
    return body


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex where protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in (
                "traceId",
                "spanId",
                "parentSpanId",
                "trace_id",
                "span_id",
                "parent_span_id",
            ) and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise _Refused(
                        400, code_pb2.INVALID_ARGUMENT, f"{key} {value[:40]!r} is not hex."
                    ) from exc
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def _decode(body: bytes, *, as_json: bool) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if as_json:
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refused(400, code_pb2.INVALID_ARGUMENT, f"Malformed JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _Refused(
                400, code_pb2.INVALID_ARGUMENT, "Body must be a JSON object (ExportTraceServiceRequest)."
            )
        _hex_ids_to_base64(data)
        try:
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
            raise _Refused(
                400, code_pb2.INVALID_ARGUMENT, f"Not an ExportTraceServiceRequest: {exc}"
            ) from exc
        return request
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise _Refused(
            400, code_pb2.INVALID_ARGUMENT, f"Not a protobuf ExportTraceServiceRequest: {exc}"
        ) from exc
    return request


def _value(any_value) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind)


def _spans(request: ExportTraceServiceRequest) -> tuple[list[SpanIn], int, list[str]]:
    """The request's spans with valid ids; (spans, rejected, messages) — a span without a 16-byte trace id and
    8-byte span id cannot be made idempotent, so it is rejected."""
    spans: list[SpanIn] = []
    rejected = 0
    messages: list[str] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8 or not any(span.trace_id):
                    rejected += 1
                    messages.append(f"span {span.name!r}: needs a 16-byte traceId and an 8-byte spanId")
                    continue
                start_ns = span.start_time_unix_nano or span.end_time_unix_nano
                start_at = (
                    datetime.fromtimestamp(start_ns / 1e9, tz=UTC) if start_ns else datetime.now(tz=UTC)
                )
                spans.append(
                    SpanIn(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        name=span.name,
                        start_at=start_at,
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                    )
                )
    return spans, rejected, messages


@csrf_exempt
@require_POST
def traces_export(request: HttpRequest) -> HttpResponse:
    """`POST /v1/traces`: store the spans' costs and signals (apps/costs/spans.py)."""
    content_type = request.content_type.lower() if request.content_type else ""
    as_json = content_type == JSON
    try:
        if content_type not in (PROTOBUF, JSON):
            raise _Refused(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"Unsupported Content-Type {content_type!r}; use {PROTOBUF} or {JSON}.",
            )
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise _Refused(401, code_pb2.UNAUTHENTICATED, "Missing 'Authorization: Bearer <API key>' header.")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(401, code_pb2.UNAUTHENTICATED, "Expected 'Authorization: Bearer <API key>'.")
        api_key = api_key_authenticate(raw_key=token.strip())
        if api_key is None:
            raise _Refused(401, code_pb2.UNAUTHENTICATED, "Invalid or revoked API key.")
        export = _decode(_body(request), as_json=as_json)
    except _Refused as refused:
        return _error(refused, as_json=as_json)
    spans, rejected, messages = _spans(export)
    result = spans_ingest(organization=api_key.organization, spans=spans)
    response = ExportTraceServiceResponse()
    rejected += result.rejected
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = "; ".join([*messages, *result.errors])[:2000]
    return _reply(response, as_json=as_json)
