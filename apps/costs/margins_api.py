"""Margins API (a Tally extension, docs/costs.md "Margins"): revenue against cost over a period, grouped by
customer, product or event name, and one signal's margin with its cost breakdown. Amounts are exact decimal
strings in MAJOR units of their currency (`"500.00"` dollars), never converted between currencies."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import ApiSerializer, DateOrDateTimeField, validated
from apps.common.openapi import TALLY_EXTENSION
from apps.costs.margins import GROUPS, margin_period, margin_report, signal_margin
from apps.signals.selectors import signal_get

TAGS = ["Costs", TALLY_EXTENSION]


def decimal_text(value: Decimal | None) -> str | None:
    """Exact, without exponent or trailing zeros past the cents: 1.5 → "1.50", 0.000123 → "0.000123"."""
    if value is None:
        return None
    text = format(value.normalize() if value else Decimal(0), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


class MarginQuery(ApiSerializer):
    from_ = DateOrDateTimeField(
        required=False, help_text="Period start (inclusive); default: `to` minus 30 days."
    )
    to = DateOrDateTimeField(required=False, help_text="Period end (exclusive); default: now.")
    group_by = serializers.ChoiceField(choices=GROUPS, required=False, default="customer")

    def to_internal_value(self, data):
        data = {("from_" if key == "from" else key): value for key, value in data.items()}
        return super().to_internal_value(data)


class MarginRowOut(ApiSerializer):
    key = serializers.CharField(
        allow_null=True, help_text="Customer or product display id, or the event name; null = none."
    )
    label = serializers.CharField()
    currency = serializers.CharField()
    revenue = serializers.SerializerMethodField()
    fee_revenue = serializers.SerializerMethodField()
    usage_revenue = serializers.SerializerMethodField()
    credit_revenue = serializers.SerializerMethodField()
    credits_burned = serializers.SerializerMethodField()
    credits_value = serializers.SerializerMethodField()
    unpriced_credits = serializers.SerializerMethodField()
    uninvoiced_quantity = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    cost_records = serializers.IntegerField()
    unpriced_costs = serializers.IntegerField(help_text="Cost records of unknown models (no amount).")
    margin = serializers.SerializerMethodField()
    margin_percent = serializers.SerializerMethodField(help_text="null without revenue.")

    def get_revenue(self, row) -> str:
        return decimal_text(row.revenue)

    def get_fee_revenue(self, row) -> str:
        return decimal_text(row.fee_revenue)

    def get_usage_revenue(self, row) -> str:
        return decimal_text(row.usage_revenue)

    def get_credit_revenue(self, row) -> str:
        return decimal_text(row.credit_revenue)

    def get_credits_burned(self, row) -> str:
        return decimal_text(row.credits_burned)

    def get_credits_value(self, row) -> str:
        return decimal_text(row.credits_value)

    def get_unpriced_credits(self, row) -> str:
        return decimal_text(row.unpriced_credits)

    def get_uninvoiced_quantity(self, row) -> str:
        return decimal_text(row.uninvoiced_quantity)

    def get_cost(self, row) -> str:
        return decimal_text(row.cost)

    def get_margin(self, row) -> str:
        return decimal_text(row.margin)

    def get_margin_percent(self, row) -> str | None:
        percent = row.margin_percent
        return None if percent is None else decimal_text(percent.quantize(Decimal("0.01")))


class MarginReportOut(ApiSerializer):
    from_ = serializers.DateTimeField(source="start")
    to = serializers.DateTimeField(source="end")
    group_by = serializers.CharField()
    data = MarginRowOut(many=True, source="rows")
    totals = serializers.SerializerMethodField()

    def get_totals(self, report) -> list[dict]:
        return MarginRowOut(report.totals(), many=True).data


class MarginsApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_margins",
        parameters=[MarginQuery],
        responses=MarginReportOut,
        description="Revenue against cost over `[from, to)`, one row per group and currency (Tally extension).",
    )
    def get(self, request):
        query = validated(MarginQuery, request.query_params)
        start, end = margin_period(start=query.get("from_"), end=query.get("to"), now=timezone.now())
        report = margin_report(
            organization=request.organization, start=start, end=end, group_by=query["group_by"]
        )
        return Response(MarginReportOut(report).data)


class SignalMarginApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="get_signal_margin",
        responses={200: OpenApiTypes.OBJECT},
        description="One signal's revenue, cost, margin and cost breakdown (Tally extension).",
    )
    def get(self, request, signal_id: str):
        signal = signal_get(organization=request.organization, signal_id=signal_id)
        result = signal_margin(organization=request.organization, signal_pk=signal.pk)
        percent = result.margin_percent
        return Response(
            {
                "signalId": signal.display_id,
                "eventName": signal.event_name,
                "customerId": signal.customer.display_id if signal.customer else None,
                "currency": result.currency,
                "revenue": decimal_text(result.revenue),
                "usageRevenue": decimal_text(result.usage_revenue),
                "creditRevenue": decimal_text(result.credit_revenue),
                "creditsBurned": decimal_text(result.credits_burned),
                "unpricedCredits": decimal_text(result.unpriced_credits),
                "uninvoicedQuantity": decimal_text(result.uninvoiced_quantity),
                "cost": decimal_text(result.cost),
                "costsByCurrency": {c: decimal_text(a) for c, a in sorted(result.costs.items())},
                "unpricedCosts": result.unpriced_costs,
                "margin": decimal_text(result.margin),
                "marginPercent": None if percent is None else decimal_text(percent.quantize(Decimal("0.01"))),
                "breakdown": [{**item, "amount": decimal_text(item["amount"])} for item in result.breakdown],
                "costs": [
                    {
                        "id": rec.display_id,
                        "timestamp": rec.timestamp.isoformat(),
                        "source": rec.source,
                        "vendor": rec.vendor,
                        "model": rec.model,
                        "amount": decimal_text(rec.amount),
                        "currency": rec.currency,
                        "priceStatus": rec.price_status,
                        "traceId": rec.trace_id,
                        "spanId": rec.span_id,
                    }
                    for rec in result.records
                ],
            }
        )
