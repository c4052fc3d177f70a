"""Credits of the Paid v2 API: customer credit balances, manual grants and pending consumption (§2.1), the
ledger's transactions (§3.6), and the customer state (§2.1 `customers/⟨c⟩/state`, served here because it is
the lowest layer that reads customers, orders, seats and credit balances)."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import (
    ApiSerializer,
    DateOrDateTimeField,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.credits import selectors, services
from apps.customers.selectors import customer_get, customer_get_by_external_id
from apps.orders.selectors import customer_orders_state

TAGS = ["Customers"]


def decimal_string(value: Decimal) -> str:
    """An exact decimal string without exponent or trailing zeros (`-3`, `0.5`, `1000`)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _credits(**kwargs):
    # A JSON number on the wire (REST_FRAMEWORK COERCE_DECIMAL_TO_STRING is off).
    return serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False, **kwargs)


# --- input ---------------------------------------------------------------------------------------------------


class GrantIn(ApiSerializer):
    credit_currency_key = serializers.CharField(max_length=64)
    amount = serializers.DecimalField(max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    # Not in the SDK's model: pass it with `request_options={"additional_body_parameters": {...}}` or as the
    # `Idempotency-Key` header.
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_null=True)


class TransactionListQuery(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)
    credits_currency_id = serializers.CharField(required=False)
    credit_currency_key = serializers.CharField(required=False)
    type = serializers.ChoiceField(choices=["grant", "spend", "pendingGrant"], required=False)
    order_id = serializers.CharField(required=False)
    created_at_from = DateOrDateTimeField(required=False)
    created_at_to = DateOrDateTimeField(required=False)


# --- output --------------------------------------------------------------------------------------------------


class CreditLotOut(ApiSerializer):
    """§2.1 `CreditGrant`: one lot of a balance."""

    available = _credits()
    used = _credits()
    total = _credits()
    rollover_amount = _credits(allow_null=True)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField(allow_null=True)
    rollover_end_date = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    is_in_rollover_window = serializers.BooleanField()


class CreditBalanceOut(ApiSerializer):
    credits_currency_id = serializers.CharField()
    currency_name = serializers.CharField()
    currency_key = serializers.CharField()
    available = _credits()
    used = _credits()
    total = _credits()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    rollover_end_date = serializers.DateTimeField(allow_null=True)
    recipient = serializers.CharField(help_text="organization | seat")
    grants = CreditLotOut(many=True)


class CreditRefCustomerOut(ApiSerializer):
    id = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)


class CreditRefCurrencyOut(ApiSerializer):
    key = serializers.CharField()
    name = serializers.CharField()


class GrantResultOut(ApiSerializer):
    amount = serializers.IntegerField(help_text="Whole credits, truncated toward zero.")
    amount_decimal = serializers.CharField()
    starts_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(help_text="active")


class GrantCustomerCreditsOut(ApiSerializer):
    created = serializers.BooleanField()
    customer = CreditRefCustomerOut()
    credit_currency = CreditRefCurrencyOut()
    grant = GrantResultOut()
    created_at = serializers.DateTimeField()


class PendingConsumptionOut(ApiSerializer):
    credits = serializers.SerializerMethodField()
    credits_decimal = serializers.SerializerMethodField()
    credit_currency = CreditRefCurrencyOut(source="credits_currency")
    order_id = serializers.CharField(source="order.display_id", allow_null=True)
    event_name = serializers.CharField(allow_null=True)
    external_user_id = serializers.CharField(allow_null=True)
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField(source="created_at")

    def get_credits(self, consumption) -> int:
        return int(consumption.amount)

    def get_credits_decimal(self, consumption) -> str:
        return decimal_string(consumption.amount)


class CreditTransactionCustomerOut(ApiSerializer):
    id = serializers.CharField(source="customer_id")
    external_id = serializers.CharField(source="customer_external_id", allow_null=True)


class CreditTransactionCurrencyOut(ApiSerializer):
    key = serializers.CharField(source="currency_key")
    name = serializers.CharField(source="currency_name")


class CreditTransactionProductOut(ApiSerializer):
    id = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()

    def to_representation(self, instance):
        return instance  # already the wire dict (selectors.Transaction.product)


class CreditTransactionOut(ApiSerializer):
    id = serializers.CharField()
    customer = CreditTransactionCustomerOut(source="*")
    credit_currency = CreditTransactionCurrencyOut(source="*")
    type = serializers.CharField(help_text="grant | spend | pendingGrant")
    kind = serializers.CharField(
        help_text="Tally extension: the ledger kind (grant, spend, expiry, rollover, adjustment, pendingGrant)."
    )
    amount = serializers.SerializerMethodField()
    origin_code = serializers.CharField()
    event_name = serializers.CharField(allow_null=True)
    signal_id = serializers.CharField(allow_null=True)
    order_id = serializers.CharField(allow_null=True)
    product = CreditTransactionProductOut(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_amount(self, transaction) -> str:
        return decimal_string(transaction.amount)


class CustomerStateOut(ApiSerializer):
    customer = serializers.DictField()
    default_currency = serializers.CharField()
    orders = serializers.ListField(child=serializers.DictField())
    seats = serializers.DictField()
    checkout_links = serializers.ListField(child=serializers.DictField())
    credits = serializers.DictField()
    timestamp = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------------------------


def _customer(request, *, customer_id: str | None = None, external_id: str | None = None):
    if external_id is not None:
        return customer_get_by_external_id(organization=request.organization, external_id=external_id)
    return customer_get(organization=request.organization, customer_id=customer_id)


class CreditBalancesApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="get_customer_credit_balances",
        responses=inline_serializer("CreditBalanceList", {"data": CreditBalanceOut(many=True)}),
        description="One balance per credit currency and recipient: the customer's organization pool, and its "
        "seat pools summed. `available` is the sum of the spendable lots in `grants`.",
    )
    def get(self, request, **ids):
        balances = selectors.credit_balance_list(customer=_customer(request, **ids))
        return Response({"data": CreditBalanceOut(balances, many=True).data})


class CreditGrantsApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="grant_customer_credits",
        request=GrantIn,
        responses={201: GrantCustomerCreditsOut, 200: GrantCustomerCreditsOut},
        description="Grant credits to the customer's organization pool. With an `idempotencyKey` (body) or "
        "`Idempotency-Key` header, replaying the same request answers 200 with `created: false`; the same key "
        "with a different request is a 400 `IDEMPOTENCY_KEY_REUSED`.",
    )
    def post(self, request, **ids):
        customer = _customer(request, **ids)
        data = validated(GrantIn, request.data)
        key = data.pop("idempotency_key", None) or request.headers.get("Idempotency-Key") or None
        result = services.credit_grant_manual(
            organization=request.organization, customer=customer, idempotency_key=key, **data
        )
        lot, currency = result.grant, result.grant.pool.credits_currency
        body = {
            "created": result.created,
            "customer": {"id": customer.display_id, "external_id": customer.external_id},
            "credit_currency": {"key": currency.key, "name": currency.name},
            "grant": {
                "amount": int(lot.amount),
                "amount_decimal": decimal_string(lot.amount),
                "starts_at": lot.starts_at,
                "expires_at": lot.expires_at,
                "status": "active",
            },
            "created_at": lot.created_at,
        }
        return Response(GrantCustomerCreditsOut(body).data, status=201 if result.created else 200)


class PendingConsumptionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_customer_pending_credit_consumption",
        parameters=[PageParams],
        responses=page_of(PendingConsumptionOut),
    )
    def get(self, request, **ids):
        customer = _customer(request, **ids)
        return paginated(
            request, selectors.credit_pending_consumption_list(customer=customer), PendingConsumptionOut
        )


class CreditTransactionsApi(APIView):
    @extend_schema(
        tags=["Credits"],
        operation_id="list_credit_transactions",
        parameters=[PageParams, TransactionListQuery],
        responses=page_of(CreditTransactionOut),
        description="Ledger entries and pending grants, newest first. Credits in (grants, rollovers, positive "
        "adjustments) are `grant`, credits out (spends, expiries, negative adjustments) are `spend`; `kind` "
        "tells them apart.",
    )
    def get(self, request):
        filters = validated(TransactionListQuery, request.query_params)
        transactions = selectors.credit_transaction_list(organization=request.organization, **filters)
        return paginated(request, transactions, CreditTransactionOut)


def _address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {key: value for key, value in address.items() if value is not None}


def _state_balances(balances) -> list[dict]:
    return [
        {
            "creditsCurrencyId": balance.credits_currency_id,
            "currencyName": balance.currency_name,
            "currencyKey": balance.currency_key,
            "balance": balance.available,
        }
        for balance in balances
    ]


class CustomerStateApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_customer_state_by_id", responses=CustomerStateOut)
    def get(self, request, **ids):
        customer = _customer(request, **ids)
        now = timezone.now()
        state = customer_orders_state(customer=customer)
        seat_balances = selectors.credit_seat_balance_map(
            organization_id=customer.organization_id, seat_ids=[seat.pk for seat in state.seats], now=now
        )
        dt = serializers.DateTimeField()
        seats = [
            {
                "id": str(seat.pk),
                "orderId": seat.order.display_id,
                "product": {
                    "id": (product := seat.order_line_attribute.order_line.product).display_id,
                    "externalId": product.external_id,
                    "name": product.name,
                },
                "status": seat.status,
                "assignee": None
                if seat.assignee is None
                else {
                    "id": seat.assignee.display_id,
                    "externalId": seat.assignee.external_id,
                    "name": seat.assignee.name,
                    "email": seat.assignee.email,
                },
                "credits": {"balances": _state_balances(seat_balances.get(seat.pk, []))},
            }
            for seat in state.seats
        ]
        assigned = sum(1 for seat in state.seats if seat.assignee_id is not None)
        balances = [
            balance
            for balance in selectors.credit_balance_list(customer=customer, now=now)
            if balance.recipient == "organization"
        ]
        body = {
            "customer": {
                "id": customer.display_id,
                "name": customer.name,
                "externalId": customer.external_id,
                "billingAddress": _address(customer.billing_address),
            },
            "defaultCurrency": customer.default_currency,
            "orders": [
                {
                    "id": order.display_id,
                    "externalId": order.external_id,
                    "name": order.name,
                    "state": order.status_at(now),
                    "currency": order.currency,
                    "startDate": dt.to_representation(order.start_date),
                    "endDate": dt.to_representation(order.end_date) if order.end_date else None,
                    "effectiveUntil": dt.to_representation(order.end_date) if order.end_date else None,
                }
                for order in state.orders
            ],
            "seats": {
                "total": len(seats),
                "assigned": assigned,
                "unassigned": len(seats) - assigned,
                "data": seats,
            },
            "checkoutLinks": [],  # filled by the checkout app (selectors.customer_state_extend)
            "credits": {"balances": _state_balances(balances)},
            "timestamp": dt.to_representation(now),
        }
        selectors.customer_state_extend.send(customer=customer, state=body, now=now)
        return Response(body)
