"""Billing of the Paid v2 API: invoices and their lines (§3.8), manual payments (§3.14) and payment allocations
(§6); plus Tally extensions to post, void and reissue an invoice and to generate an order's invoices on demand.

Money on the wire is integer minor units (cents) everywhere, the invoice's `taxRate` a percent (8.25)."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.billing import selectors, services
from apps.billing.invoicing import round_half_up
from apps.billing.models import Invoice, InvoiceLine, Payment
from apps.billing.views import invoice_pdf_response
from apps.common.api import (
    ApiSerializer,
    DateOrDateTimeField,
    JsonObjectField,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.common.exceptions import Conflict, DomainError
from apps.common.fields import CurrencyField
from apps.common.openapi import TALLY_EXTENSION
from apps.customers.selectors import customer_get, customer_get_by_external_id
from apps.orders.selectors import order_get

INVOICE_TAGS = ["Invoices"]
PAYMENT_TAGS = ["Payments"]
ALLOCATION_TAGS = ["Payment allocations"]


def _rate(**kwargs):
    # A JSON number on the wire (REST_FRAMEWORK COERCE_DECIMAL_TO_STRING is off).
    return serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False, **kwargs)


# --- input ---------------------------------------------------------------------------------------------------


class InvoiceListQuery(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)
    order_id = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=Invoice.Status.values, required=False)
    payment_status = serializers.ChoiceField(choices=Invoice.PaymentStatus.values, required=False)
    issue_date_from = DateOrDateTimeField(required=False)
    issue_date_to = DateOrDateTimeField(required=False)
    due_date_from = DateOrDateTimeField(required=False)
    due_date_to = DateOrDateTimeField(required=False)
    display_number = serializers.CharField(required=False)
    purchase_order_reference = serializers.CharField(required=False)
    currency = serializers.CharField(required=False)


class InvoiceUpdateIn(ApiSerializer):
    metadata = JsonObjectField(required=False, allow_null=True)


class GenerateIn(ApiSerializer):
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Build what is due at this moment (default and latest: now).",
    )


class PaymentListQuery(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=Payment.Status.values, required=False)


class PaymentCreateIn(ApiSerializer):
    customer_id = serializers.CharField(required=False, allow_null=True)
    external_customer_id = serializers.CharField(required=False, allow_null=True)
    amount = serializers.IntegerField(min_value=1, help_text="Minor units (cents).")
    currency = CurrencyField()
    payment_date = serializers.DateTimeField(required=False, allow_null=True)
    payment_type = serializers.ChoiceField(choices=Payment.Type.values)
    status = serializers.ChoiceField(
        choices=[Payment.Status.DRAFT, Payment.Status.POSTED], required=False, allow_null=True
    )
    metadata = JsonObjectField(required=False, allow_null=True)
    # Not in the SDK's model: pass it with `request_options={"additional_body_parameters": {...}}` or as the
    # `Idempotency-Key` header.
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_null=True)

    def validate(self, attrs):
        if not attrs.get("customer_id") and not attrs.get("external_customer_id"):
            raise serializers.ValidationError(
                {"customer_id": ["customerId or externalCustomerId is required."]}
            )
        return attrs


class AllocationListQuery(ApiSerializer):
    payment_id = serializers.CharField(required=False)
    invoice_id = serializers.CharField(required=False)


class AllocationItemIn(ApiSerializer):
    invoice_line_id = serializers.CharField()
    amount = serializers.IntegerField(min_value=1, help_text="Minor units (cents).")
    currency = serializers.CharField(max_length=3, required=False, allow_null=True)


class AllocationCreateIn(ApiSerializer):
    payment_id = serializers.CharField()
    allocations = AllocationItemIn(many=True, allow_empty=False)
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_null=True)


# --- output --------------------------------------------------------------------------------------------------


class InvoiceOut(ApiSerializer):
    """§3.8 `Invoice`; money in minor units, `taxRate` a percent."""

    id = serializers.CharField(source="display_id")
    display_number = serializers.CharField(allow_null=True)
    order_id = serializers.SerializerMethodField()
    customer_id = serializers.CharField(source="customer.display_id")
    status = serializers.CharField()
    payment_status = serializers.SerializerMethodField()
    source = serializers.CharField()
    start_date = serializers.DateTimeField(source="period_start")
    end_date = serializers.DateTimeField(source="period_end", allow_null=True)
    issue_date = serializers.DateTimeField()
    posted_date = serializers.DateTimeField(source="posted_at", allow_null=True)
    due_date = serializers.DateTimeField(source="due_at", allow_null=True)
    currency = serializers.CharField()
    tax_amount = serializers.IntegerField()
    tax_rate = _rate()
    tax_status = serializers.CharField()
    invoice_total_excluding_tax = serializers.IntegerField(source="subtotal_amount")
    invoice_total = serializers.IntegerField(source="total_amount")
    amount_due = serializers.IntegerField(source="total_amount")
    amount_paid = serializers.IntegerField()
    amount_remaining = serializers.IntegerField()
    credit_notes_total = serializers.SerializerMethodField()
    metadata = JsonObjectField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    payment_link = serializers.CharField(allow_null=True)
    dispute_link = serializers.SerializerMethodField()
    public_url_token = serializers.CharField()
    tax_exempt = serializers.BooleanField()
    billing_contact_id = serializers.CharField(allow_null=True)
    purchase_order_reference = serializers.CharField(allow_null=True)
    # Tally extensions
    reissued_from_id = serializers.SerializerMethodField()
    voided_date = serializers.DateTimeField(source="voided_at", allow_null=True)
    paid_date = serializers.DateTimeField(source="paid_at", allow_null=True)

    def get_order_id(self, invoice: Invoice) -> str | None:
        return invoice.order.display_id if invoice.order_id else None

    def get_payment_status(self, invoice: Invoice) -> str:
        return selectors.invoice_payment_status(invoice, now=self.context.get("now"))

    def get_credit_notes_total(self, invoice: Invoice) -> int:
        return 0  # credit notes are not modelled: corrections void and reissue

    def get_dispute_link(self, invoice: Invoice) -> str | None:
        return None

    def get_reissued_from_id(self, invoice: Invoice) -> str | None:
        return invoice.reissued_from.display_id if invoice.reissued_from_id else None


class InvoiceLineOut(ApiSerializer):
    """§3.8 `InvoiceLine`; `quantity` is the whole-unit quantity (half up), `quantityDecimal` the exact one."""

    id = serializers.CharField(source="display_id")
    order_id = serializers.SerializerMethodField()
    order_line_id = serializers.SerializerMethodField()
    order_line_attribute_id = serializers.SerializerMethodField()
    start_date = serializers.DateTimeField(source="period_start")
    end_date = serializers.DateTimeField(source="period_end")
    payment_status = serializers.SerializerMethodField()
    quantity = serializers.SerializerMethodField()
    total_price_before_tax = serializers.IntegerField(source="amount")
    tax = serializers.IntegerField(source="tax_amount")
    tax_rate = _rate()
    total_price_after_tax = serializers.IntegerField(source="total_amount")
    currency = serializers.CharField(source="invoice.currency")
    description = serializers.CharField()
    balance_amount = serializers.SerializerMethodField()
    credited_amount = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    # Tally extensions
    kind = serializers.CharField()
    quantity_decimal = serializers.SerializerMethodField()
    unit_price = serializers.SerializerMethodField(help_text="Minor units, exact decimal string.")

    def get_order_id(self, line: InvoiceLine) -> str | None:
        return line.order.display_id if line.order_id else None

    def get_order_line_id(self, line: InvoiceLine) -> str | None:
        return line.order_line.display_id if line.order_line_id else None

    def get_order_line_attribute_id(self, line: InvoiceLine) -> str | None:
        return line.order_line_attribute.display_id if line.order_line_attribute_id else None

    def get_payment_status(self, line: InvoiceLine) -> str:
        paid = getattr(line, "amount_allocated", 0)
        if line.total_amount > 0 and paid >= line.total_amount:
            return "paid"
        if paid > 0:
            return "partiallyPaid"
        if selectors.invoice_payment_status(line.invoice, now=self.context.get("now")) == "overdue":
            return "overdue"
        return "paid" if line.invoice.payment_status == "paid" else "pending"

    def get_quantity(self, line: InvoiceLine) -> int:
        return round_half_up(line.quantity)

    def get_balance_amount(self, line: InvoiceLine) -> int:
        return max(line.total_amount - getattr(line, "amount_allocated", 0), 0)

    def get_credited_amount(self, line: InvoiceLine) -> int:
        return 0

    def get_quantity_decimal(self, line: InvoiceLine) -> str:
        return services.decimal_string(line.quantity)

    def get_unit_price(self, line: InvoiceLine) -> str:
        return services.decimal_string(line.unit_price)


class PaymentOut(ApiSerializer):
    """§3.14 `Payment`; amounts in minor units."""

    id = serializers.CharField(source="display_id")
    number = serializers.IntegerField()
    customer_id = serializers.CharField(source="customer.display_id")
    invoice_id = serializers.SerializerMethodField()
    order_id = serializers.SerializerMethodField()
    amount = serializers.IntegerField()
    allocated_amount = serializers.IntegerField()
    balance = serializers.IntegerField()
    currency = serializers.CharField()
    payment_date = serializers.DateTimeField()
    payment_type = serializers.CharField()
    status = serializers.CharField()
    metadata = JsonObjectField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    display_number = serializers.CharField(help_text="Tally extension: PAY-0001.")

    def get_invoice_id(self, payment: Payment) -> str | None:
        return payment.invoice.display_id if payment.invoice_id else None

    def get_order_id(self, payment: Payment) -> str | None:
        return payment.order.display_id if payment.order_id else None


class PaymentAllocationOut(ApiSerializer):
    """§6 `PaymentAllocation`; amount in minor units."""

    id = serializers.CharField(source="display_id")
    payment_id = serializers.CharField(source="payment.display_id")
    invoice_id = serializers.CharField(source="invoice.display_id")
    invoice_line_id = serializers.CharField(source="invoice_line.display_id")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    allocation_date = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------------------------


def _invoice(request, invoice_id: str) -> Invoice:
    return selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)


def _invoice_body(request, invoice: Invoice) -> dict:
    """The invoice as stored now."""
    return InvoiceOut(_invoice(request, invoice.display_id), context={"now": timezone.now()}).data


class InvoiceCollectionApi(APIView):
    @extend_schema(
        tags=INVOICE_TAGS,
        operation_id="list_invoices",
        parameters=[PageParams, InvoiceListQuery],
        responses=page_of(InvoiceOut),
        description="Invoices newest first. `paymentStatus=overdue` selects posted invoices not fully paid whose "
        "due date has passed (they show `overdue`); `displayNumber` is exact (`INV-0001`).",
    )
    def get(self, request):
        filters = validated(InvoiceListQuery, request.query_params)
        qs = selectors.invoice_list(organization=request.organization, **filters)
        return paginated(request, qs, InvoiceOut, now=timezone.now())


class InvoiceItemApi(APIView):
    @extend_schema(tags=INVOICE_TAGS, operation_id="get_invoice_by_id", responses=InvoiceOut)
    def get(self, request, invoice_id: str):
        return Response(_invoice_body(request, _invoice(request, invoice_id)))

    @extend_schema(
        tags=INVOICE_TAGS,
        operation_id="update_invoice_by_id",
        request=InvoiceUpdateIn,
        responses=InvoiceOut,
        description="Replace the invoice's metadata (any status: metadata is not part of a posted snapshot).",
    )
    def put(self, request, invoice_id: str):
        invoice = _invoice(request, invoice_id)
        data = validated(InvoiceUpdateIn, request.data)
        if "metadata" in data:
            invoice = services.invoice_metadata_update(invoice=invoice, metadata=data["metadata"])
        return Response(_invoice_body(request, invoice))


class InvoiceLinesApi(APIView):
    @extend_schema(
        tags=INVOICE_TAGS,
        operation_id="get_invoice_lines",
        parameters=[PageParams],
        responses=page_of(InvoiceLineOut),
    )
    def get(self, request, invoice_id: str):
        invoice = _invoice(request, invoice_id)
        return paginated(
            request, selectors.invoice_line_list(invoice=invoice), InvoiceLineOut, now=timezone.now()
        )


class InvoicePdfApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="get_invoice_pdf",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        description="The invoice's PDF, rendered from its posted snapshot. A draft has none: 409 "
        "`INVOICE_NOT_POSTED`.",
    )
    def get(self, request, invoice_id: str):
        invoice = _invoice(request, invoice_id)
        if not invoice.snapshot:
            raise Conflict(
                f"invoice {invoice.display_id} is a draft; post it to get its PDF", code="INVOICE_NOT_POSTED"
            )
        return invoice_pdf_response(invoice)


class InvoicePostApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="post_invoice",
        request=None,
        responses=InvoiceOut,
        description="Post a draft: number it (INV-0001 …), set posted and due dates, freeze its lines and totals. "
        "Posting a posted invoice answers it unchanged; a voided one is a 400 `INVOICE_NOT_DRAFT`.",
    )
    def post(self, request, invoice_id: str):
        invoice = services.invoice_post(invoice=_invoice(request, invoice_id))
        return Response(_invoice_body(request, invoice))


class InvoiceVoidApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="void_invoice",
        request=None,
        responses=InvoiceOut,
        description="Void a draft or posted invoice without payments (400 `INVOICE_HAS_PAYMENTS` otherwise). "
        "Voiding a voided invoice answers it unchanged.",
    )
    def post(self, request, invoice_id: str):
        invoice = services.invoice_void(invoice=_invoice(request, invoice_id))
        return Response(_invoice_body(request, invoice))


class InvoiceReissueApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="reissue_invoice",
        request=None,
        responses={201: InvoiceOut},
        description="A new draft for the period of a voided order invoice, built from the order as it is now. "
        "While the period has a live invoice, that one is answered.",
    )
    def post(self, request, invoice_id: str):
        invoice = services.invoice_reissue(invoice=_invoice(request, invoice_id))
        return Response(_invoice_body(request, invoice), status=201)


class OrderInvoicesGenerateApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="generate_order_invoices",
        request=GenerateIn,
        responses=inline_serializer("GeneratedInvoices", {"data": InvoiceOut(many=True)}),
        description="Build the order's invoices due now (or at `at`, which may not be in the future): one per "
        "billing cycle that has begun and a final one after the order's end. Idempotent: answers the same "
        "invoices when called again. Orders with `autoPostInvoices` post what is built.",
    )
    def post(self, request, order_id: str):
        order = order_get(organization=request.organization, order_id=order_id)
        data = validated(GenerateIn, request.data)
        at = data.get("at")
        if at is not None and at > timezone.now():
            raise DomainError("must not be in the future", field="at")
        invoices = services.invoice_generate_for_order(order=order, at=at)
        now = timezone.now()
        fresh = [
            selectors.invoice_get(organization=request.organization, invoice_id=i.display_id)
            for i in invoices
        ]
        return Response({"data": InvoiceOut(fresh, many=True, context={"now": now}).data})


class PaymentCollectionApi(APIView):
    @extend_schema(
        tags=PAYMENT_TAGS,
        operation_id="list_payments",
        parameters=[PageParams, PaymentListQuery],
        responses=page_of(PaymentOut),
    )
    def get(self, request):
        filters = validated(PaymentListQuery, request.query_params)
        return paginated(
            request, selectors.payment_list(organization=request.organization, **filters), PaymentOut
        )

    @extend_schema(
        tags=PAYMENT_TAGS,
        operation_id="create_payment",
        request=PaymentCreateIn,
        responses={201: PaymentOut, 200: PaymentOut},
        description="Record a payment received by hand. With an `idempotencyKey` (body) or `Idempotency-Key` "
        "header, replaying the same request answers 200 with the first payment; the same key with a different "
        "request is a 400 `IDEMPOTENCY_KEY_REUSED`. An unknown customer is a 404.",
    )
    def post(self, request):
        data = validated(PaymentCreateIn, request.data)
        if data.get("external_customer_id"):
            customer = customer_get_by_external_id(
                organization=request.organization, external_id=data["external_customer_id"]
            )
        else:
            customer = customer_get(organization=request.organization, customer_id=data["customer_id"])
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        result = services.payment_create(
            organization=request.organization,
            customer=customer,
            amount=data["amount"],
            currency=data["currency"],
            payment_type=data["payment_type"],
            payment_date=data.get("payment_date"),
            status=data.get("status") or Payment.Status.POSTED,
            metadata=data.get("metadata"),
            idempotency_key=key,
        )
        payment = selectors.payment_get(
            organization=request.organization, payment_id=result.payment.display_id
        )
        return Response(PaymentOut(payment).data, status=201 if result.created else 200)


class PaymentItemApi(APIView):
    @extend_schema(tags=PAYMENT_TAGS, operation_id="get_payment", responses=PaymentOut)
    def get(self, request, payment_id: str):
        payment = selectors.payment_get(organization=request.organization, payment_id=payment_id)
        return Response(PaymentOut(payment).data)


class PaymentAllocationCollectionApi(APIView):
    @extend_schema(
        tags=ALLOCATION_TAGS,
        operation_id="list_payment_allocations",
        parameters=[PageParams, AllocationListQuery],
        responses=page_of(PaymentAllocationOut),
    )
    def get(self, request):
        filters = validated(AllocationListQuery, request.query_params)
        qs = selectors.payment_allocation_list(organization=request.organization, **filters)
        return paginated(request, qs, PaymentAllocationOut)

    @extend_schema(
        tags=ALLOCATION_TAGS,
        operation_id="create_payment_allocation",
        request=AllocationCreateIn,
        responses={
            201: inline_serializer("PaymentAllocationCreated", {"data": PaymentAllocationOut(many=True)})
        },
        description="Apply parts of a posted payment to lines of posted invoices of the same customer and "
        "currency, all or nothing. More than the payment has left or a line still owes is a 400 "
        "`OVER_ALLOCATION`. An invoice paid in full becomes `paid` (billing-invoice-paid; credit grants timed "
        "`on_payment` are released). With an `Idempotency-Key` header (or `idempotencyKey`), a replay answers "
        "the first allocations.",
    )
    def post(self, request):
        data = validated(AllocationCreateIn, request.data)
        payment = selectors.payment_get(organization=request.organization, payment_id=data["payment_id"])
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        result = services.payment_allocate(
            organization=request.organization,
            payment=payment,
            allocations=[dict(item) for item in data["allocations"]],
            request_key=key,
        )
        ids = [allocation.pk for allocation in result.allocations]
        rows = (
            selectors.payment_allocation_list(organization=request.organization)
            .filter(pk__in=ids)
            .order_by("pk")
        )
        return Response(
            {"data": PaymentAllocationOut(rows, many=True).data}, status=201 if result.created else 200
        )
