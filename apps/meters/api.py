"""Meters (a Tally extension, not in Paid's API): CRUD, and a preview of saved or unsaved definitions."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import (
    EMPTY_RESPONSE,
    ApiSerializer,
    DateOrDateTimeField,
    ErrorOut,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.common.openapi import TALLY_EXTENSION
from apps.meters import selectors, services
from apps.meters.definition import OPERATIONS, ROUNDINGS, MeterDefinition
from apps.meters.models import Meter

TAGS = ["Meters", TALLY_EXTENSION]

_FILTERS_SCHEMA = {
    "type": "array",
    "description": "Data filters, all of which must match: `{field, op, value?}` with `field` a dotted path "
    "into signal data and `op` one of `=`, `!=`, `>`, `>=`, `<`, `<=`, `in`, `exists`, `not exists`.",
    "items": {
        "type": "object",
        "properties": {"field": {"type": "string"}, "op": {"type": "string"}, "value": {}},
        "required": ["field", "op"],
    },
}


@extend_schema_field(_FILTERS_SCHEMA)
class FiltersField(serializers.JSONField):
    """Validated by MeterDefinition, which names the offending entry (`filters[1].op`)."""


class MeterIn(ApiSerializer):
    product_id = serializers.CharField()
    name = serializers.CharField(max_length=255)
    event_name = serializers.CharField(max_length=255)
    operation = serializers.ChoiceField(choices=OPERATIONS)
    field = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    filters = FiltersField(required=False, default=list)
    rounding = serializers.ChoiceField(choices=ROUNDINGS, required=False, default="up")


class MeterUpdateIn(ApiSerializer):
    product_id = serializers.CharField(required=False)
    name = serializers.CharField(max_length=255, required=False)
    event_name = serializers.CharField(max_length=255, required=False)
    operation = serializers.ChoiceField(choices=OPERATIONS, required=False)
    field = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    filters = FiltersField(required=False)
    rounding = serializers.ChoiceField(choices=ROUNDINGS, required=False)


class MeterListQuery(ApiSerializer):
    product_id = serializers.CharField(required=False)
    include_archived = serializers.BooleanField(required=False, default=False)


PreviewWindowIn = type(
    "PreviewWindowIn",
    (ApiSerializer,),
    {
        "from": DateOrDateTimeField(required=False, help_text="Inclusive; default: 30 days before `to`."),
        "to": DateOrDateTimeField(required=False, help_text="Exclusive; default: now."),
    },
)

PreviewDefinitionIn = type(
    "PreviewDefinitionIn",
    (ApiSerializer,),
    {
        "product_id": serializers.CharField(),
        "name": serializers.CharField(required=False, allow_blank=True),
        "event_name": serializers.CharField(max_length=255),
        "operation": serializers.ChoiceField(choices=OPERATIONS),
        "field": serializers.CharField(required=False, allow_null=True, allow_blank=True),
        "filters": FiltersField(required=False, default=list),
        "rounding": serializers.ChoiceField(choices=ROUNDINGS, required=False, default="up"),
        "from": DateOrDateTimeField(required=False),
        "to": DateOrDateTimeField(required=False),
    },
)


class MeterOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    product_id = serializers.CharField(source="product.display_id")
    name = serializers.CharField()
    event_name = serializers.CharField()
    operation = serializers.ChoiceField(choices=OPERATIONS)
    field = serializers.SerializerMethodField()
    filters = FiltersField()
    rounding = serializers.ChoiceField(choices=ROUNDINGS)
    locked = serializers.SerializerMethodField(
        help_text="Referenced by an active order: its definition can no longer change."
    )
    archived_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_field(self, meter: Meter) -> str | None:
        return meter.field or None

    def get_locked(self, meter: Meter) -> bool:
        return services.meter_is_locked(meter)


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class MeterQuantityOut(ApiSerializer):
    customer_id = serializers.CharField(allow_null=True, help_text="Display id, or the customerId as sent.")
    external_customer_id = serializers.CharField(allow_null=True)
    customer_name = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField(help_text="Whole units, after the meter's rounding.")
    exact_quantity = serializers.SerializerMethodField(help_text="The exact count or sum, a decimal string.")
    signal_count = serializers.IntegerField(help_text="Signals that contributed to the quantity.")

    def get_exact_quantity(self, row) -> str:
        return _decimal_text(row.exact_quantity)


MeterPreviewOut = inline_serializer(
    "MeterPreviewOut",
    {
        "data": MeterQuantityOut(many=True),
        "totals": inline_serializer(
            "MeterPreviewTotals",
            {
                "quantity": serializers.IntegerField(),
                "exact_quantity": serializers.CharField(),
                "signal_count": serializers.IntegerField(),
                "skipped": serializers.IntegerField(
                    help_text="Sum meters: matching signals whose field is missing or not a number."
                ),
            },
        ),
        "window": inline_serializer(
            "MeterPreviewWindow", {"from": serializers.DateTimeField(), "to": serializers.DateTimeField()}
        ),
    },
)


def _preview_response(preview: selectors.MeterPreview) -> Response:
    moment = serializers.DateTimeField()
    return Response(
        {
            "data": MeterQuantityOut(preview.rows, many=True).data,
            "totals": {
                "quantity": preview.quantity,
                "exactQuantity": _decimal_text(preview.exact_quantity),
                "signalCount": preview.signal_count,
                "skipped": preview.skipped,
            },
            "window": {
                "from": moment.to_representation(preview.window_from),
                "to": moment.to_representation(preview.window_to),
            },
        }
    )


def _meter(request, meter_id: str) -> Meter:
    return selectors.meter_get(organization=request.organization, meter_id=meter_id)


class MeterCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_meters",
        parameters=[PageParams, MeterListQuery],
        responses=page_of(MeterOut),
    )
    def get(self, request):
        filters = validated(MeterListQuery, request.query_params)
        return paginated(
            request, selectors.meter_list(organization=request.organization, **filters), MeterOut
        )

    @extend_schema(tags=TAGS, operation_id="create_meter", request=MeterIn, responses={201: MeterOut})
    def post(self, request):
        data = validated(MeterIn, request.data)
        meter = services.meter_create(organization=request.organization, **data)
        return Response(MeterOut(meter).data, status=201)


class MeterItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_meter", responses=MeterOut)
    def get(self, request, meter_id: str):
        return Response(MeterOut(_meter(request, meter_id)).data)

    @extend_schema(
        tags=TAGS,
        operation_id="update_meter",
        request=MeterUpdateIn,
        responses={200: MeterOut, 409: ErrorOut},
        description="Partial update. A meter used by an active order answers 409 METER_LOCKED to any change "
        "of what it measures (renaming is allowed): create a new meter instead.",
    )
    def put(self, request, meter_id: str):
        meter = _meter(request, meter_id)
        data = validated(MeterUpdateIn, request.data, partial=True)
        return Response(MeterOut(services.meter_update(meter=meter, **data)).data)

    @extend_schema(
        tags=TAGS,
        operation_id="archive_meter",
        responses={200: EMPTY_RESPONSE, 409: ErrorOut},
        description="Archives the meter (hidden from lists, still readable). 409 METER_LOCKED while an active "
        "order uses it.",
    )
    def delete(self, request, meter_id: str):
        services.meter_archive(meter=_meter(request, meter_id))
        return Response({})


class MeterPreviewApi(APIView):
    @extend_schema(
        tags=TAGS, operation_id="preview_meter", request=PreviewWindowIn, responses=MeterPreviewOut
    )
    def post(self, request, meter_id: str):
        meter = _meter(request, meter_id)
        window = validated(PreviewWindowIn, request.data)
        preview = selectors.meter_preview_compute(
            organization=request.organization,
            product=meter.product,
            definition=selectors.meter_definition(meter=meter),
            window_from=window.get("from"),
            window_to=window.get("to"),
            meter=meter,
        )
        return _preview_response(preview)


class MeterDefinitionPreviewApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="preview_meter_definition",
        request=PreviewDefinitionIn,
        responses=MeterPreviewOut,
        description="Previews a definition that is not saved (the meter builder).",
    )
    def post(self, request):
        data = validated(PreviewDefinitionIn, request.data)
        product = services.meter_product(organization=request.organization, product_id=data["product_id"])
        definition = MeterDefinition.from_wire(
            event_name=data["event_name"],
            operation=data["operation"],
            field=data.get("field"),
            filters=data.get("filters"),
            rounding=data.get("rounding"),
        )
        preview = selectors.meter_preview_compute(
            organization=request.organization,
            product=product,
            definition=definition,
            window_from=data.get("from"),
            window_to=data.get("to"),
        )
        return _preview_response(preview)
