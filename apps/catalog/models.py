from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.common.models import TenantModel, display_id_field, tenant_unique


class Product(TenantModel):
    """Something the organization sells (an agent, a feature). Pricing lives on its attributes (catalog issue)."""

    display_id = display_id_field("prod")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    product_code = models.CharField(max_length=255, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("product", "display_id"),
            tenant_unique("product", "external_id", condition=Q(external_id__isnull=False)),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="product_org_created_idx")]

    def __str__(self) -> str:
        return self.name


class CreditCurrency(TenantModel):
    """A unit of prepaid credit (e.g. `chat_credits`) that benefits grant and usage burns."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"

    display_id = display_id_field("cc")
    name = models.CharField(max_length=255)
    key = models.CharField(max_length=64)
    description = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [tenant_unique("creditcurrency", "display_id"), tenant_unique("creditcurrency", "key")]

    def __str__(self) -> str:
        return self.name


class ProductAttribute(TenantModel):
    """A priced line of a product (a platform fee, a usage charge, seats, …).

    `pricing` holds the validated PricingInput (snake_case keys, decimals as strings); the columns beside it
    are the parts other apps query by. Orders copy pricing when they are created, so editing an attribute
    never changes what an existing order bills (docs/catalog.md)."""

    display_id = display_id_field("pa")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attributes")
    name = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    tax_code = models.CharField(max_length=64, null=True, blank=True)
    pricing_type = models.CharField(max_length=40)
    event_name = models.CharField(max_length=255, null=True, blank=True)
    credits_currency = models.ForeignKey(
        CreditCurrency, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pricing = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [tenant_unique("productattribute", "display_id")]
        indexes = [models.Index(fields=["organization", "event_name"], name="attr_org_event_idx")]


class CreditBenefit(TenantModel):
    """Credits a priced line grants (per billing period, per month, once), to the organization or per seat."""

    class Recipient(models.TextChoices):
        ORGANIZATION = "organization"
        SEAT = "seat"

    class Cadence(models.TextChoices):
        UPFRONT = "upfront"
        MONTHLY = "monthly"

    class GrantTiming(models.TextChoices):
        ON_PAYMENT = "on_payment"
        ON_INVOICE_POSTED = "on_invoice_posted"
        ON_ORDER_ACTIVATION = "on_order_activation"

    class DurationUnit(models.TextChoices):
        DAYS = "days"
        MONTHS = "months"

    display_id = display_id_field("cb")
    product_attribute = models.ForeignKey(
        ProductAttribute, null=True, blank=True, on_delete=models.CASCADE, related_name="credit_benefits"
    )
    plan_attribute = models.ForeignKey(
        "PlanAttribute", null=True, blank=True, on_delete=models.CASCADE, related_name="credit_benefits"
    )
    credits_currency = models.ForeignKey(CreditCurrency, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=20, decimal_places=6)
    recipient = models.CharField(max_length=16, choices=Recipient.choices, default=Recipient.ORGANIZATION)
    is_infinite_total = models.BooleanField(default=False)
    allocation_cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.UPFRONT)
    credit_grant_timing = models.CharField(max_length=32, choices=GrantTiming.choices, null=True, blank=True)
    overage_unit_price = models.IntegerField(null=True, blank=True)
    rollover_amount = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    rollover_duration = models.IntegerField(null=True, blank=True)
    rollover_duration_unit = models.CharField(
        max_length=8, choices=DurationUnit.choices, null=True, blank=True
    )

    class Meta:
        constraints = [
            tenant_unique("creditbenefit", "display_id"),
            # A benefit belongs to exactly one priced line: a product attribute or a plan's override of one.
            models.CheckConstraint(
                condition=Q(product_attribute__isnull=False, plan_attribute__isnull=True)
                | Q(product_attribute__isnull=True, plan_attribute__isnull=False),
                name="creditbenefit_one_owner",
            ),
        ]


class Plan(TenantModel):
    """A named package of a product's attributes at plan-specific prices (Starter, Pro, Business).

    A plan bills exactly the attributes it lists, each with the plan's pricing and credit benefits in place of
    the product attribute's (docs/catalog.md). At most one active plan per product is the default."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"

    display_id = display_id_field("plan")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=255, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    supported_currencies = models.JSONField(default=list)
    is_default = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True)
    upgrade_path_order = models.IntegerField(null=True, blank=True)
    upgrade_path_frequency = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("plan", "display_id"),
            tenant_unique("plan", "external_id", condition=Q(external_id__isnull=False)),
            # Backs up the product row lock the services take: at most one active default plan per product.
            models.UniqueConstraint(
                fields=["organization", "product"],
                condition=Q(is_default=True, status="active"),
                name="plan_org_product_one_default",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "product", "created_at"], name="plan_org_product_idx")
        ]

    def __str__(self) -> str:
        return self.name or self.display_id


class PlanAttribute(TenantModel):
    """A plan's pricing for one attribute of its product; `pricing` is stored as ProductAttribute.pricing is."""

    display_id = display_id_field("plna")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="attributes")
    product_attribute = models.ForeignKey(ProductAttribute, on_delete=models.CASCADE, related_name="+")
    pricing_type = models.CharField(max_length=40)
    credits_currency = models.ForeignKey(
        CreditCurrency, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pricing = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [
            tenant_unique("planattribute", "display_id"),
            tenant_unique("planattribute", "plan", "product_attribute"),
        ]
