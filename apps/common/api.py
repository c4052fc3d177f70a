"""The API's wire conventions, in one place.

- camelCase on the wire, snake_case in Python: `ApiSerializer` renames its own declared fields in both
  directions, so free-form values (`data`, `metadata`) are never touched.
- The error envelope `{error, code?, details?}` for every failure (`exception_handler`).
- The list envelope `{data, pagination: {limit, offset, total, hasMore}}` (`paginated`).
- Paths that answer with and without a trailing slash and never redirect (`route`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.urls import re_path
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from apps.common.exceptions import DomainError
from apps.common.naming import to_camel, to_snake

logger = logging.getLogger(__name__)


# --- serializers -------------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


# A serializer whose declared fields are camelCase on the wire. Unknown input keys are ignored (callers may add
# keys through `request_options`); explicit `null` is kept distinct from an omitted key, so partial updates can
# clear a field. (A comment, not a docstring: drf-spectacular would show a docstring on every component.)
class ApiSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {_json_type(data)}."]}
            )
        renamed = {}
        for key, value in data.items():
            snake = to_snake(key)
            if snake in self.fields:
                renamed[snake] = value
        return super().to_internal_value(renamed)

    def to_representation(self, instance):
        return {to_camel(key): value for key, value in super().to_representation(instance).items()}


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JsonObjectField(serializers.JSONField):
    """A free-form JSON object (`metadata`, `data`): stored and returned exactly as sent."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_object")
        return data


_DECODED_PLUS_OFFSET = re.compile(r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


@extend_schema_field(
    {"type": "string", "description": "A date (`2026-06-30`, midnight UTC) or an ISO-8601 date-time."}
)
class DateOrDateTimeField(serializers.Field):
    """A range filter: `2026-06-30` (midnight UTC) or any ISO-8601 datetime."""

    default_error_messages = {"invalid": "Expected a date (YYYY-MM-DD) or an ISO-8601 datetime."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        # An unencoded `+05:00` in a query string arrives as " 05:00".
        data = _DECODED_PLUS_OFFSET.sub(r"\1+\2", data)
        try:
            parsed = parse_datetime(data)
            if parsed is None and (day := parse_date(data)) is not None:
                parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs) -> dict:
    """Validate `data`; raises ValidationError (400 in the error envelope)."""
    if not isinstance(data, Mapping):
        # Before DRF sees it: a `null` body would otherwise read "This field may not be null."
        raise serializers.ValidationError(
            f"Expected a JSON object as the request body, got {_json_type(data)}."
        )
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- pagination --------------------------------------------------------------------------------------------

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageParams(ApiSerializer):
    limit = serializers.IntegerField(min_value=0, required=False, default=DEFAULT_LIMIT)
    offset = serializers.IntegerField(min_value=0, required=False, default=0)


class PaginationOut(ApiSerializer):
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    total = serializers.IntegerField()
    has_more = serializers.BooleanField()


def page_of(serializer_class: type[serializers.Serializer]):
    """OpenAPI shape of the list envelope around `serializer_class`."""
    name = serializer_class.__name__.removesuffix("Out")
    return inline_serializer(
        f"{name}Page", {"data": serializer_class(many=True), "pagination": PaginationOut()}
    )


# Views declare it for codes beyond the ones `postprocess_schema` documents everywhere (e.g. `{409: ErrorOut}`).
@extend_schema_serializer(component_name="ErrorResponse")
class ErrorOut(ApiSerializer):
    """The error envelope of every failed request."""

    error = serializers.CharField()
    code = serializers.CharField(required=False)
    details = serializers.CharField(required=False)


# What DELETE routes answer: `{}` with 200, never 204 (the SDK parses every 2xx body as JSON). As a schema, not a
# serializer: drf-spectacular would document a serializer without fields as "No response body".
EMPTY_RESPONSE = OpenApiResponse(
    response={"type": "object", "properties": {}, "description": "Always `{}`."}, description="Done."
)


def paginated(
    request, queryset: QuerySet, serializer_class: type[serializers.Serializer], **context
) -> Response:
    """The standard list envelope over `queryset` (already filtered and ordered)."""
    page = validated(PageParams, request.query_params)
    limit, offset = min(page["limit"], MAX_LIMIT), page["offset"]
    total = queryset.count()
    rows = list(queryset[offset : offset + limit]) if limit else []
    return Response(
        {
            "data": serializer_class(rows, many=True, context=context).data,
            "pagination": {
                "limit": limit,
                "offset": offset,
                "total": total,
                "hasMore": offset + len(rows) < total,
            },
        }
    )


# --- parsing -----------------------------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "PAYLOAD_TOO_LARGE"


# orjson reads an integer past 64 bits (19-20 digits and up) as a float without a word; `json.loads` keeps it
# exact. So a body with a run of 19+ digits anywhere (in a string too) goes to `json.loads`. Found by mapping
# every digit to "0" and everything else to " " and looking for 19 zeros: ~0.4 ms on a 430 KB batch, where the
# regex `[0-9]{19}` takes ~6 ms.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def _has_long_digit_run(raw: bytes) -> bool:
    return _LONG_DIGIT_RUN in raw.translate(_DIGITS_AS_ZERO)


class JsonParser(BaseParser):
    """JSON bodies up to `API_MAX_BODY_BYTES`; an empty body is `{}` (e.g. `POST orders/{id}/activate`).

    orjson parses the body (a 1,000-signal batch: ~3.5 ms of CPU instead of 4-12, docs/benchmarks.md) where its
    answer is the standard parser's. A body with a run of 19+ digits (an integer that may not fit 64 bits) goes
    to `json.loads`, and so does any body orjson refuses: NaN and Infinity, a number past the float range
    (`1e400`, which `json.loads` reads as inf), a lone surrogate, a BOM or UTF-16/32 text, deep nesting, and
    malformed JSON, whose error message stays `json.loads`'s."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        if not raw.strip():
            return {}
        if not _has_long_digit_run(raw):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass  # the standard parser decides, and words the error as before
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc


# --- errors ------------------------------------------------------------------------------------------------


def _flatten(detail, path: str = "") -> list[str]:
    if isinstance(detail, Mapping):
        messages = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else to_camel(str(key))
            messages += _flatten(value, f"{path}.{name}" if path and name else (name or path))
        return messages
    if isinstance(detail, list):
        if all(not isinstance(item, Mapping | list) for item in detail):
            return [f"{path}: {item}" if path else str(item) for item in detail]
        messages = []
        for index, item in enumerate(detail):
            if item:
                messages += _flatten(item, f"{path}[{index}]")
        return messages
    return [f"{path}: {detail}" if path else str(detail)]


def error_body(message: str, *, code: str | None = None, details: str | None = None) -> dict:
    body = {"error": message}
    if code:
        body["code"] = code
    if details:
        body["details"] = details
    return body


def exception_handler(exc, context):
    """Every API failure as `{error, code?, details?}` with the right status; nothing leaks as HTML."""
    if isinstance(exc, DomainError):
        message, details = exc.message, None
        if exc.field:
            field = to_camel(exc.field)
            details = f"field: {field}"
            # The error names the field, as validation errors do ("name: This field is required.").
            message = message if field in message else f"{field}: {message}"
        return Response(error_body(message, code=exc.code, details=details), status=exc.status_code)
    if isinstance(exc, Http404):
        return Response(error_body(str(exc) or "Not found", code="NOT_FOUND"), status=404)
    if isinstance(exc, exceptions.ValidationError):
        messages = _flatten(exc.detail)
        return Response(
            error_body(
                "; ".join(messages) or "Invalid request", code="VALIDATION_ERROR", details="\n".join(messages)
            ),
            status=400,
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(
            error_body("Unauthorized", code="UNAUTHORIZED", details=str(exc.detail)), status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes.upper() if isinstance(codes, str) else None
        response = Response(error_body(str(exc.detail), code=code), status=exc.status_code)
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    logger.exception("Unhandled API error", exc_info=exc)
    return Response(error_body("Internal server error", code="INTERNAL_ERROR"), status=500)


@csrf_exempt  # an unknown path is a 404 for POST too, not a CSRF failure page
def api_not_found(request, *args, **kwargs):
    """Catch-all for unknown API paths: a 404 in the error envelope instead of an HTML page."""
    return JsonResponse(error_body(f"No API route for {request.path}", code="NOT_FOUND"), status=404)


# --- routing -----------------------------------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+)\}")

# §1.1: the collection paths the SDK calls with a trailing slash; every other path is documented without one.
PAID_SLASHED_PATHS = frozenset(
    {
        "checkouts",
        "contacts",
        "customer-groups",
        "customer-portals",
        "customers",
        "experimental/views",
        "invoices",
        "orders",
        "payment-allocations",
        "payment-methods",
        "payments",
        "plans",
        "pricing",
        "products",
        "signals",
        "value-metrics",
        "value-models",
        "value-receipts",
        "webhooks",
    }
)
slashed_paths: set[str] = set(PAID_SLASHED_PATHS)


def route(pattern: str, view, name: str | None = None):
    """`route("customers/external/{external_id}", view)` answers with and without a trailing slash.

    Both forms are served (a redirect would turn the SDK's POST into a bodiless GET); the OpenAPI schema shows
    the one the contract uses. A Tally extension collection that should be documented with a trailing slash
    says so in its pattern: `route("meters/", view)`."""
    if pattern.endswith("/"):
        slashed_paths.add(pattern.strip("/"))
    regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", pattern.strip("/"))
    return re_path(rf"^{regex}/?$", view, name=name)
