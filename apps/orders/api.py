"""Orders (§3.4) and their seats. (The customer state, which reads orders, seats and credit balances, is
served by the credits app: apps/credits/api.py.)"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import (
    EMPTY_RESPONSE,
    ApiSerializer,
    DateOrDateTimeField,
    ErrorOut,
    JsonObjectField,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.common.fields import CurrencyField
from apps.orders import selectors, services
from apps.orders.models import Order, OrderLine, OrderSeat

TAGS = ["Orders"]

# --- input ---------------------------------------------------------------------------------------------------


def _text(max_length=255, **kwargs):
    return serializers.CharField(max_length=max_length, required=False, allow_null=True, **kwargs)


def _decimal(**kwargs):
    return serializers.DecimalField(max_digits=20, decimal_places=6, min_value=0, **kwargs)


def _count(**kwargs):
    return serializers.IntegerField(min_value=0, required=False, allow_null=True, **kwargs)


class FrequencyOverrideIn(ApiSerializer):
    frequency = serializers.ChoiceField(choices=Order.Frequency.values)
    custom_months = serializers.IntegerField(min_value=1, max_value=120, required=False, allow_null=True)


class OverrideTierIn(ApiSerializer):
    lower_bound = _count()
    upper_bound = _count()
    unit_amount = _decimal(required=False, allow_null=True)
    flat_amount = _decimal(required=False, allow_null=True)
    tier_billing_type = serializers.ChoiceField(choices=["flat", "perUnit"], required=False, allow_null=True)
    index = serializers.DecimalField(max_digits=12, decimal_places=4, required=False, allow_null=True)
    number = serializers.IntegerField(required=False, allow_null=True)


class OverridePricePointIn(ApiSerializer):
    currency = serializers.CharField(max_length=3, required=False, allow_null=True)
    unit_price = _decimal()
    min_quantity = _count()
    included_quantity = _count()
    tiers = OverrideTierIn(many=True, required=False, allow_null=True)


class OverrideBenefitIn(ApiSerializer):
    id = serializers.CharField(max_length=64)
    amount = _decimal()
    credits_currency_id = _text(64)
    recipient = serializers.ChoiceField(choices=["organization", "seat"], required=False, allow_null=True)
    rollover_amount = _decimal(required=False, allow_null=True)
    rollover_duration = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    rollover_duration_unit = serializers.ChoiceField(
        choices=["days", "months"], required=False, allow_null=True
    )
    allocation_cadence = serializers.ChoiceField(
        choices=["upfront", "monthly"], required=False, allow_null=True
    )
    credit_grant_timing = serializers.ChoiceField(
        choices=["on_payment", "on_invoice_posted", "on_order_activation"], required=False, allow_null=True
    )


class OverridePricingInputRefIn(ApiSerializer):
    kind = serializers.ChoiceField(choices=["signalQuantity"])
    path = _text()


class OverrideBracketIn(ApiSerializer):
    up_to = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    credit_units = _decimal()
    credit_units_per_unit = _decimal(required=False, allow_null=True)


class OrderLinePricingIn(ApiSerializer):
    """§4.4: the order-line override vocabulary (lowercase enums, one price point)."""

    charge_type = serializers.ChoiceField(choices=["usage", "recurring", "oneTime", "seatBased"])
    pricing_model = serializers.ChoiceField(
        choices=[
            "perUnit",
            "volumePricing",
            "graduatedPricing",
            "prepaidCredits",
            "bracketedPrepaidCredits",
            "flat",
        ]
    )
    price_points = OverridePricePointIn()
    event_name = _text()
    billing_frequency = serializers.ChoiceField(
        choices=["monthly", "quarterly", "semiAnnually", "annual", "custom"], required=False, allow_null=True
    )
    billing_frequency_custom_months = serializers.IntegerField(
        min_value=1, max_value=120, required=False, allow_null=True
    )
    billing_type = serializers.ChoiceField(choices=["advance", "arrears"], required=False, allow_null=True)
    signal_type = serializers.ChoiceField(choices=["activity", "outcome"], required=False, allow_null=True)
    credits_currency_id = _text(64)
    credit_cost = _decimal(required=False, allow_null=True)
    overage_unit_price = _count()
    credit_rollover_amount = _decimal(required=False, allow_null=True)
    credit_benefits = OverrideBenefitIn(many=True, required=False, allow_null=True)
    pricing_input = OverridePricingInputRefIn(required=False, allow_null=True)
    credit_unit_brackets = OverrideBracketIn(many=True, required=False, allow_null=True)


class OrderLineAttributeIn(ApiSerializer):
    name = serializers.CharField(max_length=255)
    quantity = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    pricing = OrderLinePricingIn()


class OrderLineIn(ApiSerializer):
    product_id = serializers.CharField(max_length=64)
    name = _text()
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    start_date = serializers.DateTimeField(required=False, allow_null=True)
    end_date = serializers.DateTimeField(required=False, allow_null=True)
    attributes = OrderLineAttributeIn(many=True, required=False, allow_null=True)
    line_type = serializers.ChoiceField(choices=["STANDARD", "CREDIT"], required=False, allow_null=True)


class OrderUpdateIn(ApiSerializer):
    """Update body: every key optional (partial update); null clears."""

    name = _text()
    start_date = serializers.DateTimeField(required=False, allow_null=True)
    end_date = serializers.DateTimeField(required=False, allow_null=True)
    subscription_terms = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    creation_state = serializers.ChoiceField(
        choices=Order.CreationState.choices, required=False, allow_null=True
    )
    billing_anchor = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True)
    payment_terms = _text()
    external_id = _text()
    metadata = JsonObjectField(required=False, allow_null=True)
    billing_customer_id = _text(64)
    billing_contact_ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_null=True
    )
    auto_post_invoices = serializers.BooleanField(required=False, allow_null=True)
    auto_send_billing_emails = serializers.BooleanField(required=False, allow_null=True)
    auto_send_payment_emails = serializers.BooleanField(required=False, allow_null=True)
    purchase_order_reference = _text()


class OrderCreateIn(OrderUpdateIn):
    customer_id = serializers.CharField(max_length=64)
    currency = CurrencyField(required=False, allow_null=True)
    lines = OrderLineIn(many=True, required=False, allow_null=True)
    billing_frequency_override = FrequencyOverrideIn(required=False, allow_null=True)


class OrderListQuery(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)
    creation_state = serializers.ChoiceField(choices=Order.CreationState.choices, required=False)
    status = serializers.ChoiceField(choices=Order.Status.values, required=False)
    start_date_from = DateOrDateTimeField(required=False)
    start_date_to = DateOrDateTimeField(required=False)
    end_date_from = DateOrDateTimeField(required=False)
    end_date_to = DateOrDateTimeField(required=False)


class SeatListQuery(ApiSerializer):
    product_external_id = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=OrderSeat.Status.values, required=False)


class SeatAssignmentIn(ApiSerializer):
    user_external_id = serializers.CharField(max_length=255, required=False, allow_null=True)


class BatchAssignmentIn(ApiSerializer):
    seat_id = serializers.CharField(max_length=64)
    user_external_id = serializers.CharField(max_length=255, required=False, allow_null=True)


class BatchAssignmentsIn(ApiSerializer):
    assignments = BatchAssignmentIn(many=True)


# --- output --------------------------------------------------------------------------------------------------


class FrequencyOverrideOut(ApiSerializer):
    frequency = serializers.CharField()
    custom_months = serializers.IntegerField(required=False)


class OrderOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    customer_id = serializers.CharField(source="customer.display_id")
    billing_customer_id = serializers.CharField(source="billing_customer.display_id", allow_null=True)
    billing_contact_ids = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    end_date = serializers.DateTimeField(allow_null=True)
    name = serializers.CharField()
    start_date = serializers.DateTimeField()
    subscription_terms = serializers.IntegerField(allow_null=True)
    billed_amount_no_tax = serializers.SerializerMethodField()
    billed_tax = serializers.SerializerMethodField()
    estimated_tax = serializers.SerializerMethodField()
    order_amount = serializers.SerializerMethodField()
    pending_billing_amount = serializers.SerializerMethodField()
    total_amount = serializers.SerializerMethodField()
    total_billed_amount = serializers.SerializerMethodField()
    creation_state = serializers.ChoiceField(choices=Order.CreationState.choices)
    status = serializers.ChoiceField(choices=Order.Status.values)
    payment_terms = serializers.CharField(allow_null=True)
    number = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    billing_anchor = serializers.IntegerField()
    metadata = JsonObjectField(allow_null=True)
    auto_post_invoices = serializers.BooleanField()
    auto_send_billing_emails = serializers.BooleanField()
    auto_send_payment_emails = serializers.BooleanField()
    version = serializers.IntegerField()
    billing_frequency_overridden = serializers.SerializerMethodField()
    billing_frequency_override = serializers.SerializerMethodField()
    purchase_order_reference = serializers.CharField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)

    def _zero(self, order: Order) -> int:
        return 0  # nothing is billed until the billing app exists

    get_billed_amount_no_tax = get_billed_tax = get_estimated_tax = _zero
    get_pending_billing_amount = get_total_billed_amount = _zero

    def get_order_amount(self, order: Order) -> int:
        return selectors.order_amount(order=order)

    get_total_amount = get_order_amount

    def get_billing_frequency_overridden(self, order: Order) -> bool:
        return order.billing_frequency_override is not None

    def get_billing_frequency_override(self, order: Order) -> dict | None:
        if order.billing_frequency_override is None:
            return None
        override = {"frequency": order.billing_frequency_override}
        if order.billing_frequency_custom_months is not None:
            override["customMonths"] = order.billing_frequency_custom_months
        return override


class OrderLineOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    product_id = serializers.CharField(source="product.display_id")
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    start_date = serializers.DateTimeField()
    end_date = serializers.DateTimeField(allow_null=True)
    line_type = serializers.ChoiceField(choices=OrderLine.LineType.values)


class SeatAssigneeOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    external_id = serializers.CharField()
    email = serializers.CharField(allow_null=True)


class OrderSeatOut(ApiSerializer):
    id = serializers.UUIDField()
    order_id = serializers.CharField(source="order.display_id")
    product_external_id = serializers.CharField(
        source="order_line_attribute.order_line.product.external_id", allow_null=True
    )
    status = serializers.ChoiceField(choices=OrderSeat.Status.values)
    assignee = SeatAssigneeOut(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------------------------


def _order(request, order_id: str) -> Order:
    return selectors.order_get(organization=request.organization, order_id=order_id)


def _fresh(request, order: Order) -> dict:
    """The order as stored now (amounts read its lines again)."""
    return OrderOut(_order(request, order.display_id)).data


class OrderCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_orders",
        parameters=[PageParams, OrderListQuery],
        responses=page_of(OrderOut),
    )
    def get(self, request):
        filters = validated(OrderListQuery, request.query_params)
        return paginated(
            request, selectors.order_list(organization=request.organization, **filters), OrderOut
        )

    @extend_schema(tags=TAGS, operation_id="create_order", request=OrderCreateIn, responses={201: OrderOut})
    def post(self, request):
        data = validated(OrderCreateIn, request.data)
        order = services.order_create(organization=request.organization, **data)
        return Response(_fresh(request, order), status=201)


class OrderItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_order_by_id", responses=OrderOut)
    def get(self, request, order_id: str):
        return Response(OrderOut(_order(request, order_id)).data)

    @extend_schema(tags=TAGS, operation_id="update_order_by_id", request=OrderUpdateIn, responses=OrderOut)
    def put(self, request, order_id: str):
        order = _order(request, order_id)
        data = validated(OrderUpdateIn, request.data)
        return Response(_fresh(request, services.order_update(order=order, **data)))

    @extend_schema(tags=TAGS, operation_id="delete_order_by_id", responses={200: EMPTY_RESPONSE})
    def delete(self, request, order_id: str):
        services.order_delete(order=_order(request, order_id))
        return Response({})


class OrderActivateApi(APIView):
    @extend_schema(tags=TAGS, operation_id="activate_order_by_id", request=None, responses=OrderOut)
    def post(self, request, order_id: str):
        order = services.order_activate(order=_order(request, order_id))
        return Response(_fresh(request, order))


class OrderLinesApi(APIView):
    @extend_schema(
        tags=TAGS, operation_id="get_order_lines", parameters=[PageParams], responses=page_of(OrderLineOut)
    )
    def get(self, request, order_id: str):
        return paginated(request, selectors.order_line_list(order=_order(request, order_id)), OrderLineOut)


class OrderSeatsApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_order_seats",
        parameters=[PageParams, SeatListQuery],
        responses=page_of(OrderSeatOut),
    )
    def get(self, request, order_id: str):
        order = _order(request, order_id)
        filters = validated(SeatListQuery, request.query_params)
        return paginated(request, selectors.order_seat_list(order=order, **filters), OrderSeatOut)


class OrderSeatItemApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="update_order_seat_assignment",
        request=SeatAssignmentIn,
        responses={200: OrderSeatOut, 409: ErrorOut},
        description="Assign the seat to a customer user of the order's customer (by external id); null or "
        "absent unassigns. 409 when another user holds the seat or the user holds a seat of the same line.",
    )
    def put(self, request, order_id: str, seat_id: str):
        order = _order(request, order_id)
        data = validated(SeatAssignmentIn, request.data)
        seat = services.order_seat_assign(
            order=order, seat_id=seat_id, user_external_id=data.get("user_external_id")
        )
        return Response(OrderSeatOut(seat).data)


class OrderSeatBatchApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="batch_order_seat_assignments",
        request=BatchAssignmentsIn,
        responses={
            200: inline_serializer("BatchSeatAssignmentsResponse", {"data": OrderSeatOut(many=True)}),
            409: ErrorOut,
        },
        description="Apply the assignments in order, all or nothing; answers the seats they touched.",
    )
    def post(self, request, order_id: str):
        order = _order(request, order_id)
        data = validated(BatchAssignmentsIn, request.data)
        seats = services.order_seat_assign_batch(order=order, assignments=data["assignments"])
        return Response({"data": OrderSeatOut(seats, many=True).data})
