"""Signals (§3.5): bulk ingestion, list, get."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import (
    ApiSerializer,
    DateOrDateTimeField,
    JsonObjectField,
    PageParams,
    PayloadTooLarge,
    page_of,
    paginated,
    validated,
)
from apps.signals import selectors, services
from apps.signals.models import Signal

TAGS = ["Signals"]


class BulkSignalsOut(ApiSerializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    failed = serializers.IntegerField()
    errors = serializers.ListField(
        child=serializers.DictField(), help_text="Tally extension: per-item errors."
    )


class BulkSignalsIn(ApiSerializer):
    # Items are checked one by one by the service (a bad item fails alone); here only the envelope.
    signals = serializers.ListField()


class SignalListQuery(ApiSerializer):
    signal_name = serializers.CharField(required=False)
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)
    product_id = serializers.CharField(required=False)
    external_product_id = serializers.CharField(required=False)
    created_at_from = DateOrDateTimeField(required=False)
    created_at_to = DateOrDateTimeField(required=False)


class SignalOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    name = serializers.CharField(source="event_name")
    customer_id = serializers.SerializerMethodField()
    external_customer_id = serializers.CharField(allow_null=True)
    product_id = serializers.SerializerMethodField()
    external_product_id = serializers.CharField(allow_null=True)
    trace_id = serializers.CharField(allow_null=True)
    data = JsonObjectField(allow_null=True)
    timestamp = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_customer_id(self, signal: Signal) -> str | None:
        return signal.customer.display_id if signal.customer_id else signal.customer_ref

    def get_product_id(self, signal: Signal) -> str | None:
        return signal.product.display_id if signal.product_id else signal.product_ref


class SignalBulkApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="create_signals",
        request=inline_serializer(
            "BulkSignalsIn", {"signals": serializers.ListField(child=serializers.DictField())}
        ),
        responses=BulkSignalsOut,
    )
    def post(self, request):
        signals = validated(BulkSignalsIn, request.data)["signals"]
        if len(signals) > services.MAX_BATCH:
            raise PayloadTooLarge(f"at most {services.MAX_BATCH} signals per request; got {len(signals)}")
        result = services.signal_ingest(organization=request.organization, signals=signals)
        return Response(BulkSignalsOut(result).data)


class SignalCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_signals",
        parameters=[PageParams, SignalListQuery],
        responses=page_of(SignalOut),
    )
    def get(self, request):
        filters = validated(SignalListQuery, request.query_params)
        return paginated(
            request, selectors.signal_list(organization=request.organization, **filters), SignalOut
        )


class SignalItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_signal_by_id", responses=SignalOut)
    def get(self, request, signal_id: str):
        return Response(
            SignalOut(selectors.signal_get(organization=request.organization, signal_id=signal_id)).data
        )
