"""Value metrics (contract §3.12): what an agent's work was worth to the customer, computed from signal data
(docs/value.md)."""

from django.db import models

from apps.common.models import TenantModel, tenant_unique


class ValueModel(TenantModel):
    """The organization's value model: one row per organization holding the version every metric write bumps
    (`WriteAck.version`, checked against `expectedActiveVersion`)."""

    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="valuemodel_org_uniq")]


class ValueMetric(TenantModel):
    """One metric, addressed by its slug. The JSON columns keep the wire shapes (camelCase keys), validated by
    `services`; `monetary_conversion.valuePerUnit` and `signal.defaults` numbers are stored as decimal strings
    so that they stay exact."""

    class Category(models.TextChoices):
        HVE = "hve"
        TIME = "time"
        COST = "cost"
        REVENUE = "revenue"
        RISK = "risk"

    slug = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=16, choices=Category.choices, blank=True, default="")
    unit = models.JSONField()  # {type, durationUnit?, unit?, unitDisplay?}
    monetary_conversion = models.JSONField(null=True, blank=True)  # {valuePerUnit: "0.5", label}
    formula = (
        models.JSONField()
    )  # {label, expression, variables: [{id, label, type?, description?, format?…}]}
    signal = models.JSONField()  # {eventName, label, defaults: {varId: "20"}, description?, labels, tags}
    description = models.TextField(blank=True, default="")
    long_description = models.TextField(blank=True, default="")
    sources = models.JSONField(default=list, blank=True)  # [{name, url}], at most 3
    archived_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)  # this metric's revision, +1 per change

    class Meta:
        constraints = [tenant_unique("valuemetric", "slug")]
        indexes = [models.Index(fields=["organization", "created_at"], name="valuemetric_org_created_idx")]


class DeliveredValue(models.Model):
    """What one signal delivered for one metric (docs/value.md, "Delivered value"): the formula's result,
    normalised (a duration metric in seconds, a monetary one in minor units, a custom one as computed). Rows are
    derived data: rating's hook computes them, a metric change recomputes its rows (`value_backfill`).

    The signal and customer carry no database constraint (signals may be partitioned; customers are only
    soft-deleted), as on usage records."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    metric = models.ForeignKey(ValueMetric, on_delete=models.CASCADE, related_name="+", db_index=False)
    signal_id = models.BigIntegerField()
    customer_id = models.BigIntegerField(null=True, blank=True)
    event_name = models.CharField(max_length=255)
    timestamp = models.DateTimeField()  # the signal's: which receipt period it falls in
    value = models.DecimalField(max_digits=32, decimal_places=12)
    metric_version = models.PositiveIntegerField()  # ValueMetric.version it was computed with
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [tenant_unique("deliveredvalue", "metric", "signal_id")]
        indexes = [
            models.Index(
                fields=["organization", "customer_id", "timestamp"], name="delivered_org_customer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.value}"
