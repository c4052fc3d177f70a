"""Signals (§3.5): bulk ingestion, list, get; and the JSON paths seen in their data (analytics)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.selectors import product_get
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
from apps.common.exceptions import NotFound, ReferenceNotFound
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


class _SignalItems(serializers.ListField):
    """The `signals` array as sent: ListField's shape checks and messages (required, not null, a list), without
    its per-item pass over up to 1,000 items, which the service makes anyway."""

    def to_internal_value(self, data):
        if isinstance(data, list):
            return data
        # Anything else (an object, a string, a number) fails with ListField's own message.
        return super().to_internal_value(data)


class BulkSignalsIn(ApiSerializer):
    # Items are checked one by one by the service (a bad item fails alone); here only the envelope.
    signals = _SignalItems()


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


# --- signal metadata (analytics) ---------------------------------------------------------------------------


class SignalMetadataQuery(ApiSerializer):
    signal_name = serializers.CharField(required=False, max_length=255)
    from_date = DateOrDateTimeField(required=False, help_text="Inclusive; default: 30 days before `toDate`.")
    to_date = DateOrDateTimeField(required=False, help_text="Exclusive; default: now.")
    product_id = serializers.CharField(
        required=False,
        help_text="Tally extension: only the signals of this product (its id), as a meter on it reads them.",
    )


class SignalPathOut(ApiSerializer):
    path = serializers.CharField(help_text="Dotted object keys into `data` (`usage.minutes`).")
    types = serializers.ListField(
        child=serializers.CharField(),
        help_text="JSON types seen: string, number, boolean, null, object, array.",
    )
    signal_count = serializers.IntegerField(help_text="Tally extension: sampled signals that had the path.")


class SignalNameMetadataOut(ApiSerializer):
    signal_name = serializers.CharField()
    paths = SignalPathOut(many=True)
    sampled_signals = serializers.IntegerField(
        source="sampled",
        help_text="Tally extension: how many of the newest signals in the window were read (at most "
        f"{selectors.METADATA_SAMPLE} per name, {selectors.METADATA_SAMPLE_ONE_NAME} when `signalName` is "
        "given); fewer means every signal in the window was read.",
    )


SignalMetadataOut = inline_serializer(
    "SignalMetadataOut",
    {
        "signals": SignalNameMetadataOut(many=True),
        "meta": inline_serializer(
            "SignalMetadataMeta",
            {"from_date": serializers.DateTimeField(), "to_date": serializers.DateTimeField()},
        ),
    },
)


class SignalMetadataApi(APIView):
    @extend_schema(
        tags=["Analytics"],
        operation_id="get_signals_metadata",
        parameters=[SignalMetadataQuery],
        responses=SignalMetadataOut,
        description="The JSON paths (and the JSON types seen at each) in the `data` of signals whose timestamp "
        "falls in `[fromDate, toDate)` (default: the last 30 days), per signal name. Each name contributes its "
        "newest signals in the window, up to a bound (`sampledSignals`).",
    )
    def get(self, request):
        query = validated(SignalMetadataQuery, request.query_params)
        product = None
        if "product_id" in query:
            try:
                product = product_get(organization=request.organization, product_id=query["product_id"])
            except NotFound:
                raise ReferenceNotFound("Product", query["product_id"], field="productId") from None
        metadata = selectors.signal_metadata(
            organization=request.organization,
            signal_name=query.get("signal_name"),
            product=product,
            window_from=query.get("from_date"),
            window_to=query.get("to_date"),
        )
        moment = serializers.DateTimeField()
        return Response(
            {
                "signals": SignalNameMetadataOut(metadata.signals, many=True).data,
                "meta": {
                    "fromDate": moment.to_representation(metadata.window_from),
                    "toDate": moment.to_representation(metadata.window_to),
                },
            }
        )
