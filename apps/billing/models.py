"""Billing (docs/billing.md): seller settings, invoices and their lines, display-number counters, payments and
their allocations to invoice lines, stored payment methods and the Stripe webhook inbox.

Money is integer minor units (`*_amount`), unit prices and quantities Decimal. A posted or voided invoice is an
immutable snapshot: services refuse to change it, and database triggers (migration 0002) refuse UPDATEs of its
lines and of its money columns. Rules live in services.py."""

import secrets

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.common.models import TenantModel, display_id_field, tenant_unique


def _decimal(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=20, decimal_places=6, **kwargs)


def _percent(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=7, decimal_places=4, **kwargs)


def new_public_token() -> str:
    return secrets.token_urlsafe(24)


class BillingSettings(TenantModel):
    """The seller's invoicing details (one row per organization): legal name and address on invoices, tax rate
    (percent), default payment terms, and the organization's Stripe keys (used by the Stripe gateway)."""

    legal_name = models.CharField(max_length=255, blank=True, default="")
    # {line1, line2, city, state, postalCode, country}
    address = models.JSONField(default=dict, blank=True)
    tax_id = models.CharField(max_length=64, blank=True, default="")
    tax_rate = _percent(default=0)  # percent: 8.25 means 8.25 %
    payment_terms_days = models.PositiveIntegerField(default=30)
    stripe_secret_key = models.TextField(null=True, blank=True)
    stripe_publishable_key = models.TextField(null=True, blank=True)
    stripe_webhook_secret = models.TextField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="billingsettings_org_uniq"),
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0, tax_rate__lte=100), name="billingsettings_tax_rate_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"billing settings of {self.organization_id}"


class Invoice(TenantModel):
    class Status(models.TextChoices):
        BUILDING = "building"
        DRAFT = "draft"
        PENDING = "pending"
        POSTED = "posted"
        VOIDED = "voided"
        CANCELED = "canceled"
        ERROR = "error"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        PARTIALLY_PAID = "partiallyPaid"
        OVERDUE = "overdue"  # derived on read: posted, unpaid, past its due date
        ERROR = "error"

    class Source(models.TextChoices):
        ORDER_BASED = "order_based"
        MANUAL = "manual"

    class TaxStatus(models.TextChoices):
        NOT_APPLICABLE = "not_applicable"
        CALCULATED = "calculated"
        COMMITTED = "committed"
        FAILED = "failed"
        VOIDED = "voided"

    display_id = display_id_field("inv")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ORDER_BASED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    payment_status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    number = models.PositiveIntegerField(null=True, blank=True)  # INV-0001 …, allocated at posting
    # The order billing period this invoice opens: [period_start, period_end); the final invoice after an
    # order's end has period_start = the end and no period_end.
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(null=True, blank=True)
    issue_date = models.DateTimeField()
    posted_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    tax_rate = _percent(default=0)
    tax_exempt = models.BooleanField(default=False)
    tax_status = models.CharField(max_length=16, choices=TaxStatus.choices, default=TaxStatus.NOT_APPLICABLE)
    subtotal_amount = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    total_amount = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)  # cache of Σ allocations, kept under the invoice lock
    metadata = models.JSONField(null=True, blank=True)
    public_url_token = models.CharField(max_length=64, default=new_public_token, editable=False)
    billing_contact_id = models.CharField(max_length=40, null=True, blank=True)  # contact display id
    purchase_order_reference = models.CharField(max_length=255, null=True, blank=True)
    payment_link = models.TextField(null=True, blank=True)
    # Frozen at posting (docs/billing.md "Snapshot"); the PDF renders exactly this.
    snapshot = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    reissued_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reissues"
    )

    class Meta:
        constraints = [
            tenant_unique("invoice", "display_id"),
            tenant_unique("invoice", "number", condition=Q(number__isnull=False)),
            tenant_unique("invoice", "public_url_token"),
            # One live invoice per order x period: concurrent generations collide here (a voided one can be
            # reissued).
            tenant_unique(
                "invoice", "order", "period_start", condition=Q(order__isnull=False) & ~Q(status="voided")
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0, amount_paid__lte=models.F("total_amount"))
                | Q(total_amount__lt=0, amount_paid=0),
                name="invoice_amount_paid_within_total",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="invoice_org_created_idx"),
            models.Index(fields=["organization", "customer", "-created_at"], name="invoice_org_customer_idx"),
            models.Index(fields=["organization", "order", "period_start"], name="invoice_org_order_idx"),
        ]

    def __str__(self) -> str:
        return self.display_number or self.display_id

    @property
    def display_number(self) -> str | None:
        return None if self.number is None else f"INV-{self.number:04d}"

    @property
    def amount_remaining(self) -> int:
        return max(self.total_amount - self.amount_paid, 0)


class InvoiceLine(TenantModel):
    class Kind(models.TextChoices):
        RECURRING = "recurring"
        SEAT = "seat"
        USAGE = "usage"
        OVERAGE = "overage"
        ONE_TIME = "one_time"
        PERCENT = "percent"
        COST_PLUS = "cost_plus"
        MANUAL = "manual"

    display_id = display_id_field("il")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order_line_attribute = models.ForeignKey(
        "orders.OrderLineAttribute", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(max_length=500)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    quantity = _decimal(default=0)
    unit_price = _decimal(default=0)  # minor units, may be sub-cent
    amount = models.BigIntegerField(default=0)  # before tax, rounded once
    tax_amount = models.BigIntegerField(default=0)
    tax_rate = _percent(default=0)
    # What the line was computed from (pricing type, proration factor, usage window …), for people.
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [tenant_unique("invoiceline", "display_id")]
        indexes = [
            models.Index(fields=["organization", "invoice", "position"], name="invoiceline_org_inv_idx")
        ]

    def __str__(self) -> str:
        return f"{self.description} {self.amount}"

    @property
    def total_amount(self) -> int:
        return self.amount + self.tax_amount


class InvoiceCounter(models.Model):
    """The last invoice number handed out in an organization; its row lock serializes numbering."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"invoice counter at {self.last_number}"


class PaymentCounter(models.Model):
    """The last payment number (PAY-0001 …) handed out in an organization."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"payment counter at {self.last_number}"


class Payment(TenantModel):
    """Money received from a customer: recorded by hand (§3.14) or collected by a gateway (`invoice` set)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        POSTED = "posted"
        PROCESSING = "processing"
        REQUIRES_ACTION = "requiresAction"
        FAILED = "failed"
        CANCELED = "canceled"

    class Type(models.TextChoices):
        CREDIT_CARD = "creditCard"
        BANK_TRANSFER = "bankTransfer"
        ACH = "ach"
        CASH = "cash"
        CHECK = "check"

    display_id = display_id_field("pay")
    number = models.PositiveIntegerField()
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.BigIntegerField()
    allocated_amount = models.BigIntegerField(
        default=0
    )  # cache of Σ allocations, kept under the payment lock
    currency = models.CharField(max_length=3)
    payment_date = models.DateTimeField()
    payment_type = models.CharField(max_length=32, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.POSTED)
    metadata = models.JSONField(null=True, blank=True)
    # The gateway's id (a Stripe PaymentIntent) for collected payments.
    external_payment_id = models.CharField(max_length=255, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            tenant_unique("payment", "display_id"),
            tenant_unique("payment", "number"),
            tenant_unique("payment", "idempotency_key", condition=Q(idempotency_key__isnull=False)),
            tenant_unique("payment", "external_payment_id", condition=Q(external_payment_id__isnull=False)),
            models.CheckConstraint(
                condition=Q(amount__gt=0, allocated_amount__gte=0, allocated_amount__lte=models.F("amount")),
                name="payment_allocated_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="payment_org_created_idx"),
            models.Index(fields=["organization", "customer", "-created_at"], name="payment_org_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"PAY-{self.number:04d}"

    @property
    def display_number(self) -> str:
        return f"PAY-{self.number:04d}"

    @property
    def balance(self) -> int:
        return self.amount - self.allocated_amount


class PaymentAllocation(TenantModel):
    """Part of a payment applied to one invoice line (§6)."""

    class Type(models.TextChoices):
        ALLOCATED = "allocated"
        UNALLOCATED = "unallocated"

    class Status(models.TextChoices):
        POSTED = "posted"
        APPLIED = "applied"
        CANCELLED = "cancelled"

    display_id = display_id_field("pal")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="allocations")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.ALLOCATED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPLIED)
    allocation_date = models.DateTimeField()
    # The `Idempotency-Key` of the request that made it: a replay answers the same allocations. Not unique (one
    # request makes several rows); replays are serialized by the payment's row lock.
    request_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            tenant_unique("paymentallocation", "display_id"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="paymentallocation_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["organization", "payment"], name="payalloc_org_payment_idx"),
            models.Index(fields=["organization", "invoice"], name="payalloc_org_invoice_idx"),
            models.Index(fields=["organization", "invoice_line"], name="payalloc_org_line_idx"),
            models.Index(
                fields=["organization", "request_key"],
                name="payalloc_org_request_key_idx",
                condition=Q(request_key__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of {self.payment_id} to line {self.invoice_line_id}"


class PaymentMethod(TenantModel):
    """A customer's stored payment method at the gateway (a Stripe PaymentMethod)."""

    display_id = display_id_field("pm")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    external_payment_method_id = models.CharField(max_length=255)
    type = models.CharField(max_length=32, default="card")
    card_brand = models.CharField(max_length=32, null=True, blank=True)
    card_last4 = models.CharField(max_length=4, null=True, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            tenant_unique("paymentmethod", "display_id"),
            tenant_unique("paymentmethod", "external_payment_method_id"),
            tenant_unique("paymentmethod", "customer", condition=Q(is_default=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.card_last4 or self.external_payment_method_id}"


class StripeEvent(TenantModel):
    """Inbox of Stripe webhook events: stored on receipt (once per event id), processed by a task."""

    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=255)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [tenant_unique("stripeevent", "event_id")]
        indexes = [
            models.Index(
                fields=["organization", "received_at"],
                name="stripeevent_unprocessed_idx",
                condition=Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


# --- Stripe (stripe_services.py, docs/billing-stripe.md) ----------------------------------------------------------


class StripeCustomer(TenantModel):
    """The Stripe customer that stands for a Tally customer, created on first need (a payment method saved)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    stripe_customer_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            tenant_unique("stripecustomer", "customer"),
            tenant_unique("stripecustomer", "stripe_customer_id"),
        ]

    def __str__(self) -> str:
        return self.stripe_customer_id


class InvoiceCharge(TenantModel):
    """One attempt to collect a posted invoice through Stripe: an off-session PaymentIntent for the amount the
    invoice still owed, made under `idempotency_key` (`tally-invoice-<invoice id>`, `-2`, `-3` … for later
    attempts), so a retried request never charges twice. A succeeded attempt links the Payment it recorded."""

    class Status(models.TextChoices):
        PENDING = "pending"  # claimed; Stripe has not answered (yet): resent under the same key
        PROCESSING = "processing"
        REQUIRES_ACTION = "requires_action"  # the card needs the customer's authentication
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    display_id = display_id_field("ich")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="charges")
    attempt = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=255)
    payment_method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_payment_method_id = models.CharField(max_length=255)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            tenant_unique("invoicecharge", "display_id"),
            tenant_unique("invoicecharge", "invoice", "attempt"),
            tenant_unique("invoicecharge", "idempotency_key"),
            tenant_unique("invoicecharge", "payment_intent_id", condition=Q(payment_intent_id__isnull=False)),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoicecharge_amount_positive"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "updated_at"],
                name="invoicecharge_open_idx",
                condition=Q(status__in=["pending", "processing"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.status}"
