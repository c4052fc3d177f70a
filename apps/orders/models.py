"""Orders (§3.4): what a customer bought, its lines, the priced snapshot of each line, and its seats.

Rules live in services.py; the models hold fields, choices, constraints and trivial derived values."""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.common.models import TenantModel, display_id_field, tenant_unique


class Order(TenantModel):
    class CreationState(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        PAUSED = "paused"
        ENDED = "ended"

    class Frequency(models.TextChoices):
        MONTHLY = "monthly"
        QUARTERLY = "quarterly"
        SEMI_ANNUALLY = "semiAnnually"
        ANNUAL = "annual"
        CUSTOM = "custom"

    display_id = display_id_field("ord")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="orders")
    billing_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    billing_contact_ids = models.JSONField(default=list, blank=True)  # contact display ids
    name = models.CharField(max_length=255)
    number = models.PositiveIntegerField()  # 1, 2, 3 … per organization (OrderCounter)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    start_date = models.DateTimeField()
    end_date = models.DateTimeField(null=True, blank=True)
    subscription_terms = models.PositiveIntegerField(null=True, blank=True)
    creation_state = models.CharField(
        max_length=16, choices=CreationState.choices, default=CreationState.DRAFT
    )
    currency = models.CharField(max_length=3)
    billing_anchor = models.PositiveSmallIntegerField()  # day of month, 1-31
    billing_frequency_override = models.CharField(
        max_length=16, choices=Frequency.choices, null=True, blank=True
    )
    billing_frequency_custom_months = models.PositiveSmallIntegerField(null=True, blank=True)
    payment_terms = models.CharField(max_length=255, null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    auto_post_invoices = models.BooleanField(default=False)
    auto_send_billing_emails = models.BooleanField(default=False)
    auto_send_payment_emails = models.BooleanField(default=False)
    purchase_order_reference = models.CharField(max_length=255, null=True, blank=True)
    version = models.PositiveIntegerField(default=1)  # bumped by every change to the order (services)
    paused_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("order", "display_id"),
            tenant_unique("order", "number"),
            tenant_unique("order", "external_id", condition=Q(external_id__isnull=False)),
        ]
        indexes = [
            models.Index(fields=["organization", "customer", "-created_at"], name="order_org_customer_idx"),
            models.Index(fields=["organization", "-created_at"], name="order_org_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_id})"

    def status_at(self, now) -> str:
        """draft (not activated), paused, ended (end date reached), else active."""
        if self.creation_state == self.CreationState.DRAFT:
            return self.Status.DRAFT
        if self.paused_at is not None:
            return self.Status.PAUSED
        if self.end_date is not None and self.end_date <= now:
            return self.Status.ENDED
        return self.Status.ACTIVE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())


class OrderCounter(models.Model):
    """The last order number handed out in an organization; its row lock serializes numbering."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"order counter at {self.last_number}"


class OrderLine(TenantModel):
    class LineType(models.TextChoices):
        STANDARD = "STANDARD"
        PRORATION_CREDIT = "PRORATION_CREDIT"
        PRORATION_CHARGE = "PRORATION_CHARGE"
        CREDIT = "CREDIT"

    display_id = display_id_field("oli")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    start_date = models.DateTimeField()
    end_date = models.DateTimeField(null=True, blank=True)
    line_type = models.CharField(max_length=24, choices=LineType.choices, default=LineType.STANDARD)

    class Meta:
        constraints = [tenant_unique("orderline", "display_id")]


class OrderLineAttribute(TenantModel):
    """The priced part of a line: a SNAPSHOT of the pricing at order creation (copied from the catalog or built
    from the §4.4 override), so later catalog edits never change what an existing order bills.

    `pricing` is the stored PricingInput form (as `catalog.services.pricing_clean` returns it); `credit_benefits`
    is a list of benefit snapshots (`source_benefit_id`, `credits_currency_id` (pk), `credits_currency`
    (display id), `amount` (decimal string), `recipient`, …)."""

    display_id = display_id_field("ola")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="attributes")
    product_attribute = models.ForeignKey(
        "catalog.ProductAttribute", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan_id = models.CharField(max_length=64, null=True, blank=True)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    pricing = models.JSONField(encoder=DjangoJSONEncoder)
    pricing_type = models.CharField(max_length=40)
    event_name = models.CharField(max_length=255, null=True, blank=True)
    credits_currency = models.ForeignKey(
        "catalog.CreditCurrency", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    credit_benefits = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [tenant_unique("orderlineattribute", "display_id")]
        indexes = [models.Index(fields=["organization", "event_name"], name="ola_org_event_idx")]

    @property
    def is_seat_based(self) -> bool:
        return self.pricing_type.startswith("SeatBased")


class OrderSeat(TenantModel):
    """One seat of a seat-based line attribute, created at activation; assigned to at most one customer user."""

    class Status(models.TextChoices):
        ASSIGNED = "assigned"
        UNASSIGNED = "unassigned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="seats")
    order_line_attribute = models.ForeignKey(
        OrderLineAttribute, on_delete=models.CASCADE, related_name="seats"
    )
    assignee = models.ForeignKey(
        "customers.CustomerUser", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # A user holds at most one seat of a line attribute.
            tenant_unique(
                "orderseat", "order_line_attribute", "assignee", condition=Q(assignee__isnull=False)
            ),
        ]
        indexes = [models.Index(fields=["organization", "order"], name="orderseat_org_order_idx")]

    @property
    def status(self) -> str:
        return self.Status.UNASSIGNED if self.assignee_id is None else self.Status.ASSIGNED
