"""Value metrics (§3.12): list, create, get, update, archive; every write answers a `WriteAck` carrying the new
value-model version (docs/value.md, "Value metrics")."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import ApiSerializer, ErrorOut, PageParams, page_of, paginated, validated
from apps.value import selectors, services
from apps.value.models import ValueMetric

TAGS = ["Value metrics"]
RATE_EXPRESSION = "unit_value * rate"


@extend_schema_field({"type": "object", "additionalProperties": {}})
class _Anything(serializers.JSONField):
    """A nested wire object, checked by `services` (which names the offending key)."""


class ValueMetricIn(ApiSerializer):
    name = _Anything()
    slug = _Anything(required=False, allow_null=True)
    unit = _Anything()
    monetary_conversion = _Anything(required=False, allow_null=True)
    formula = _Anything()
    signal = _Anything()
    category = _Anything(required=False, allow_null=True)
    description = _Anything(required=False, allow_null=True)
    long_description = _Anything(required=False, allow_null=True)
    sources = _Anything(required=False, allow_null=True)
    expected_active_version = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class ValueMetricUpdateIn(ApiSerializer):
    name = _Anything(required=False)
    unit = _Anything(required=False)
    monetary_conversion = _Anything(required=False, allow_null=True)
    variables = _Anything(required=False, allow_null=True)
    archived_at = serializers.DateTimeField(required=False, allow_null=True)
    category = _Anything(required=False, allow_null=True)
    description = _Anything(required=False, allow_null=True)
    long_description = _Anything(required=False, allow_null=True)
    sources = _Anything(required=False, allow_null=True)
    expected_active_version = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class ValueMetricListQuery(PageParams):
    include_archived = serializers.BooleanField(required=False, default=False)


class ArchiveQuery(ApiSerializer):
    expected_active_version = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class WriteAckOut(ApiSerializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="The value-model version this write published.")


def _number(text: str | None) -> int | float | None:
    """A stored decimal string as a JSON number (an integer when it is whole)."""
    if text is None:
        return None
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def _conversion(metric: ValueMetric) -> dict | None:
    conversion = metric.monetary_conversion
    if conversion is None:
        return None
    rate = _number(conversion["valuePerUnit"])
    return {
        "valuePerUnit": rate,
        "label": conversion["label"],
        "expression": RATE_EXPRESSION,
        "variables": [{"id": "rate", "label": conversion["label"], "default": rate}],
    }


def _summary(metric: ValueMetric) -> dict:
    return {
        "slug": metric.slug,
        "name": metric.name,
        "category": metric.category or None,
        "unit": metric.unit,
        "description": metric.description or None,
        "archivedAt": serializers.DateTimeField().to_representation(metric.archived_at)
        if metric.archived_at
        else None,
        "monetaryConversion": _conversion(metric),
    }


def _detail(metric: ValueMetric) -> dict:
    signal = {**metric.signal, "defaults": {k: _number(v) for k, v in metric.signal["defaults"].items()}}
    return {
        **_summary(metric),
        "longDescription": metric.long_description or None,
        "sources": metric.sources,
        "formula": {"id": metric.slug, **metric.formula},
        "signals": [signal],
    }


class ValueMetricSummaryOut(ApiSerializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    unit = _Anything()
    description = serializers.CharField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    monetary_conversion = _Anything(allow_null=True)

    def to_representation(self, instance):
        return _summary(instance)


def _ack(ack: services.WriteAck, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(WriteAckOut(ack).data, status=status_code)


class ValueMetricListApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_value_metrics",
        parameters=[ValueMetricListQuery],
        responses=page_of(ValueMetricSummaryOut),
    )
    def get(self, request):
        query = validated(ValueMetricListQuery, request.query_params)
        metrics = selectors.value_metric_list(
            organization=request.organization, include_archived=query["include_archived"]
        )
        return paginated(request, metrics, ValueMetricSummaryOut)

    @extend_schema(
        tags=TAGS,
        operation_id="create_value_metric",
        request=ValueMetricIn,
        responses={201: WriteAckOut, 409: ErrorOut},
    )
    def post(self, request):
        data = validated(ValueMetricIn, request.data)
        ack = services.value_metric_create(organization=request.organization, **data)
        return _ack(ack, status.HTTP_201_CREATED)


class ValueMetricApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_value_metric", responses={200: {"type": "object"}})
    def get(self, request, slug: str):
        metric = selectors.value_metric_get(organization=request.organization, slug=slug)
        return Response(_detail(metric))

    @extend_schema(
        tags=TAGS,
        operation_id="update_value_metric",
        request=ValueMetricUpdateIn,
        responses={200: WriteAckOut, 409: ErrorOut},
    )
    def patch(self, request, slug: str):
        changes = dict(validated(ValueMetricUpdateIn, request.data))
        expected = changes.pop("expected_active_version", None)
        ack = services.value_metric_update(
            organization=request.organization, slug=slug, changes=changes, expected_active_version=expected
        )
        return _ack(ack)

    @extend_schema(
        tags=TAGS,
        operation_id="archive_value_metric",
        parameters=[
            OpenApiParameter("expectedActiveVersion", int, required=False),
        ],
        responses={200: WriteAckOut, 409: ErrorOut},
    )
    def delete(self, request, slug: str):
        query = validated(ArchiveQuery, request.query_params)
        ack = services.value_metric_archive(
            organization=request.organization,
            slug=slug,
            expected_active_version=query.get("expected_active_version"),
        )
        return _ack(ack)
