"""Usage records: what rating decided a signal means for one order line (the input of invoicing and credit
spends). One row per (signal, order line attribute); rows are written once and never changed."""

from django.db import models

from apps.common.models import tenant_unique


class UsageRecord(models.Model):
    # Written once per rated signal and line: the references it copies (organization, signal, customer, order,
    # credits currency) carry no database constraint, only the line attribute that prices it does. Each
    # constrained reference is a check at every commit of every rating batch (docs/rating.md, "Speed"); these
    # ids all come from rows rating has just read, and Django still applies CASCADE / PROTECT on ORM deletes.
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    signal = models.ForeignKey(
        "signals.Signal", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    order_line_attribute = models.ForeignKey(
        "orders.OrderLineAttribute", on_delete=models.PROTECT, related_name="+"
    )
    event_name = models.CharField(max_length=255)
    timestamp = models.DateTimeField()  # the signal's: which billing period it falls in
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    credits_currency = models.ForeignKey(
        "catalog.CreditCurrency",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    credits = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)  # to burn
    external_user_id = models.CharField(
        max_length=255, null=True, blank=True
    )  # data.external_user_id (seats)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [tenant_unique("usagerecord", "signal", "order_line_attribute")]
        indexes = [
            models.Index(
                fields=["organization", "order_line_attribute", "timestamp"], name="usage_org_line_time_idx"
            ),
            models.Index(fields=["organization", "customer", "timestamp"], name="usage_org_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} x {self.quantity}"
