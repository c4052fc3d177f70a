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
