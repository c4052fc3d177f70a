from django.db import models

from apps.common.models import display_id_field, tenant_unique


class Signal(models.Model):
    """One usage event, stored as sent. Customer and product are resolved at ingest when they can be; the raw
    ids are kept either way, so an unknown customer's signals can be attributed when it appears."""

    class Rating(models.TextChoices):
        PENDING = "pending"
        RATED = "rated"
        SKIPPED = "skipped"  # nothing to price it against
        INVALID = "invalid"  # e.g. a missing or negative quantity; `rating_error` says why

    # The foreign keys carry no database constraint and no index of their own (docs/signals.md, "Foreign
    # keys"): three reference checks and three index inserts per row were a large share of ingest's database
    # time. Ingest resolves every id it stores within the organization; customers and products are only ever
    # soft-deleted; Django still applies CASCADE / SET_NULL on ORM deletes; and the organization-first
    # composite indexes below serve every query.
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    display_id = display_id_field("sig")
    event_name = models.CharField(max_length=255)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    customer_ref = models.CharField(max_length=255, null=True, blank=True)  # customerId as sent
    external_customer_id = models.CharField(max_length=255, null=True, blank=True)  # as sent
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    product_ref = models.CharField(max_length=255, null=True, blank=True)  # productId as sent
    external_product_id = models.CharField(max_length=255, null=True, blank=True)  # as sent
    external_customer_unit_id = models.CharField(max_length=255, null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField()  # when it happened (the caller's clock; default: ingest time)
    created_at = models.DateTimeField()  # when Tally stored it
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    trace_id = models.CharField(max_length=32, null=True, blank=True)
    rating = models.CharField(max_length=16, choices=Rating.choices, default=Rating.PENDING)
    rating_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [tenant_unique("signal", "display_id")]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="signal_org_created_idx"),
            models.Index(fields=["organization", "customer", "-created_at"], name="signal_org_customer_idx"),
            models.Index(fields=["organization", "event_name", "timestamp"], name="signal_org_event_idx"),
            # Meter previews and evaluation: one product's event over a window (migration 0003).
            models.Index(
                fields=["organization", "product", "event_name", "timestamp"],
                name="signal_org_product_event_idx",
            ),
            models.Index(
                fields=["organization", "external_customer_id"],
                name="signal_org_unresolved_idx",
                condition=models.Q(customer__isnull=True),
            ),
            # Rating claims the oldest pending signals; only those are indexed.
            models.Index(
                fields=["organization", "id"],
                name="signal_org_pending_idx",
                condition=models.Q(rating="pending"),
            ),
            # Attribution looks for signals sent with a product id or external id that matched no product;
            # without these, each rating run scanned every signal that names no product at all.
            *(
                models.Index(
                    fields=["organization", raw],
                    name=f"signal_org_unres_{short}_idx",
                    condition=models.Q(product__isnull=True, **{f"{raw}__isnull": False}),
                )
                for raw, short in (("product_ref", "pref"), ("external_product_id", "pext"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} ({self.display_id})"


class SignalKey(models.Model):
    """An idempotency key seen for the organization. Kept apart from signals so the check is one indexed
    insert (and the signals table can be partitioned by time without a global unique index)."""

    # No constraint or index of its own, as on Signal: the unique (organization, key) index serves every lookup.
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    key = models.CharField(max_length=255)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [tenant_unique("signalkey", "key")]
        indexes = [models.Index(fields=["created_at"], name="signalkey_created_idx")]

    def __str__(self) -> str:
        return self.key


class SignalDay(models.Model):
    """A version per organization and UTC day of signal timestamps. Every write that adds signals to the day
    or changes whose they are (ingest, attribution) bumps it in its own transaction, so a summary computed from
    the day's signals (meters' rollups, docs/meters.md) is current exactly while the version it read is."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    day = models.DateField()
    version = models.BigIntegerField(default=1)

    class Meta:
        constraints = [tenant_unique("signalday", "day")]

    def __str__(self) -> str:
        return f"{self.day} v{self.version}"
