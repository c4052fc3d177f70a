"""Costs (§3.9): `POST costs/bulk`, manual cost records (docs/costs.md, "Manual costs and linking")."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import ApiSerializer, PayloadTooLarge, validated
from apps.costs import services

TAGS = ["Costs"]


class _CostItems(serializers.ListField):
    """The `costs` array as sent; the service checks each record (all or nothing)."""

    def to_internal_value(self, data):
        if isinstance(data, list):
            return data
        return super().to_internal_value(data)


class BulkCostsIn(ApiSerializer):
    costs = _CostItems()


class CostIngestOut(ApiSerializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Records whose idempotencyKey was already seen.")


class CostBulkApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="create_costs",
        request=inline_serializer(
            "BulkCostsIn", {"costs": serializers.ListField(child=serializers.DictField())}
        ),
        responses=CostIngestOut,
    )
    def post(self, request):
        costs = validated(BulkCostsIn, request.data)["costs"]
        if len(costs) > services.MAX_BATCH:
            raise PayloadTooLarge(f"at most {services.MAX_BATCH} cost records per request; got {len(costs)}")
        result = services.cost_records_ingest(organization=request.organization, costs=costs)
        return Response(CostIngestOut(result).data)
