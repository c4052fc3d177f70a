"""Meters: a product-scoped count or sum over filtered signals. The definition's rules live in definition.py."""

from django.db import models

from apps.common.models import TenantModel, display_id_field, tenant_unique


class Meter(TenantModel):
    class Operation(models.TextChoices):
        COUNT = "count"
        SUM = "sum"

    class Rounding(models.TextChoices):
        UP = "up"
        DOWN = "down"
        NEAREST = "nearest"  # half up

    display_id = display_id_field("mtr")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=255)
    event_name = models.CharField(max_length=255)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    field = models.CharField(max_length=255, blank=True, default="")  # dotted path into signal data (sum)
    filters = models.JSONField(default=list, blank=True)  # [{field, op, value?}]
    rounding = models.CharField(max_length=8, choices=Rounding.choices, default=Rounding.UP)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [tenant_unique("meter", "display_id")]
        indexes = [
            models.Index(fields=["organization", "product", "-created_at"], name="meter_org_product_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_id})"


class MeterRollupDay(models.Model):
    """That a meter's rollup of one UTC day exists, and what it was computed from: the day's `SignalDay`
    version and the fingerprint of the meter's definition and product. A rollup is used only while both still
    match (docs/meters.md, "Rollups")."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    version = models.BigIntegerField()
    fingerprint = models.CharField(max_length=64)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [tenant_unique("meterrollupday", "meter", "day")]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day} v{self.version}"


class MeterRollup(models.Model):
    """One group of a meter's day: the resolved customer, or the raw ids an unresolved signal was sent with,
    and the exact sum, the number of signals counted and the number seen (as the preview's grouped query)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    customer_id = models.BigIntegerField(null=True)  # signals' customer_id (customers' pk), as stored there
    raw_external_id = models.CharField(max_length=255, null=True)
    raw_customer_ref = models.CharField(max_length=255, null=True)
    total = models.DecimalField(max_digits=40, decimal_places=15, null=True)
    counted = models.BigIntegerField()
    seen = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "meter", "day"], name="meterrollup_org_meter_day_idx")
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day}: {self.counted}/{self.seen}"
