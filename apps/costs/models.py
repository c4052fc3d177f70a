"""What serving customers costs: LLM usage and other costs, priced, attributed to customers and products, and
linked to the signals they served (docs/costs.md)."""

from django.db import models
from django.db.models import Q

from apps.common.models import display_id_field, tenant_unique


class CostRecord(models.Model):
    """One cost: an LLM call from a traced span, a record sent to `costs/bulk`, or a signal's `data.costData`.

    A usage record (tokens) is priced from the price table, or an organization override; one whose model the
    table does not know is kept with its tokens and `price_status = unknown_model`, never priced at zero. A
    `cost` record arrives with its amount. Amounts are Decimal in major units of `currency` (LLM calls cost
    fractions of a cent; money on invoices is rounded once per line, DESIGN.md)."""

    class Source(models.TextChoices):
        SPAN = "span"  # OTLP /v1/traces
        BULK = "bulk"  # POST costs/bulk
        SIGNAL = "signal"  # a signal's data.costData

    class Kind(models.TextChoices):
        USAGE = "usage"  # tokens, priced by Tally
        COST = "cost"  # an amount given by the sender

    class PriceStatus(models.TextChoices):
        PRICED = "priced"  # from the price table (price_version says which)
        OVERRIDE = "override"  # the organization's own price for the model
        GIVEN = "given"  # the sender's amount (`cost` records, costOverride, costData.cost)
        UNKNOWN_MODEL = "unknown_model"  # kept with its tokens, amount NULL: flagged, not zero

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    display_id = display_id_field("cst")
    source = models.CharField(max_length=8, choices=Source.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    timestamp = models.DateTimeField()  # when the cost was incurred (span start, record timestamp)
    created_at = models.DateTimeField(auto_now_add=True)
    # Attribution, resolved when it can be; the raw ids are kept either way (as signals do).
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_customer_id = models.CharField(max_length=255, null=True, blank=True)
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_product_id = models.CharField(
        max_length=255, null=True, blank=True
    )  # `external_agent_id` on spans
    vendor = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=255, blank=True, default="")
    input_tokens = models.BigIntegerField(null=True, blank=True)  # non-cached input
    output_tokens = models.BigIntegerField(null=True, blank=True)
    cache_read_tokens = models.BigIntegerField(null=True, blank=True)
    cache_creation_tokens = models.BigIntegerField(null=True, blank=True)
    reasoning_tokens = models.BigIntegerField(null=True, blank=True)
    amount = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)  # major units
    currency = models.CharField(max_length=3, default="USD")
    price_status = models.CharField(max_length=16, choices=PriceStatus.choices)
    price_version = models.CharField(max_length=100, blank=True, default="")  # e.g. "genai-prices 0.2.3"
    # Where it came from and what it served.
    trace_id = models.CharField(max_length=32, null=True, blank=True)  # 32 hex
    span_id = models.CharField(max_length=16, null=True, blank=True)  # 16 hex
    paid_scope_id = models.BigIntegerField(null=True, blank=True)
    signal_id = models.BigIntegerField(
        null=True, blank=True
    )  # the signal it is linked to (no FK: partitioned)
    metadata = models.JSONField(null=True, blank=True)  # `metadata.*` span attributes, record metadata
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("costrecord", "display_id"),
            tenant_unique("costrecord", "idempotency_key", condition=Q(idempotency_key__isnull=False)),
            tenant_unique("costrecord", "trace_id", "span_id", condition=Q(span_id__isnull=False)),
        ]
        indexes = [
            models.Index(fields=["organization", "customer", "timestamp"], name="cost_org_customer_time_idx"),
            models.Index(fields=["organization", "timestamp"], name="cost_org_time_idx"),
            models.Index(fields=["organization", "trace_id"], name="cost_org_trace_idx"),
            models.Index(
                fields=["organization", "external_customer_id", "paid_scope_id"], name="cost_org_scope_idx"
            ),
            models.Index(fields=["organization", "signal_id"], name="cost_org_signal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.model} {self.amount} {self.currency}"


class ModelPrice(models.Model):
    """An organization's own price for a vendor's model, per million tokens (overrides the price table)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=100)
    model = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, default="USD")
    input_per_million = models.DecimalField(max_digits=20, decimal_places=9)
    output_per_million = models.DecimalField(max_digits=20, decimal_places=9)
    cache_read_per_million = models.DecimalField(max_digits=20, decimal_places=9, null=True, blank=True)
    cache_creation_per_million = models.DecimalField(max_digits=20, decimal_places=9, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [tenant_unique("modelprice", "vendor", "model")]

    def __str__(self) -> str:
        return f"{self.vendor}/{self.model}"
