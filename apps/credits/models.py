"""The credit ledger (docs/credits.md): pools, grants, append-only entries, consumptions and an event outbox.

A pool is one customer x credit currency x (organization or one seat). Its `balance` is a cache of the sum of
its entries, updated under the pool's row lock in the same transaction as the entry. Entries and drains are
append-only: database triggers (migration 0002) refuse UPDATE and DELETE; corrections are reversing entries.
Rules live in services.py."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.common.models import TimestampedModel, display_id_field, tenant_unique


def _credits(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=20, decimal_places=6, **kwargs)


class CreditPool(TimestampedModel):
    """Where credits of one currency live for one customer: the organization-wide pool or one seat's pool."""

    class Recipient(models.TextChoices):
        ORGANIZATION = "organization"
        SEAT = "seat"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    credits_currency = models.ForeignKey("catalog.CreditCurrency", on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField(max_length=16, choices=Recipient.choices, default=Recipient.ORGANIZATION)
    seat = models.ForeignKey(
        "orders.OrderSeat", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    balance = _credits(default=0)

    class Meta:
        constraints = [
            tenant_unique("creditpool", "customer", "credits_currency", condition=Q(seat__isnull=True)),
            tenant_unique("creditpool", "seat", "credits_currency", condition=Q(seat__isnull=False)),
            # Overage is recorded beside the pool, never as a negative balance (docs/credits.md).
            models.CheckConstraint(condition=Q(balance__gte=0), name="creditpool_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(recipient="organization", seat__isnull=True)
                | Q(recipient="seat", seat__isnull=False),
                name="creditpool_recipient_matches_seat",
            ),
        ]
        indexes = [models.Index(fields=["organization", "customer"], name="creditpool_org_customer_idx")]

    def __str__(self) -> str:
        return f"pool {self.pk} ({self.recipient}) {self.balance}"


class CreditGrant(TimestampedModel):
    """One lot of credits in a pool: what a benefit granted for one allocation period, a manual grant, or the
    unused part of a lot carried into its rollover window. Spends drain lots earliest-expiring first, then
    oldest. `remaining` is a cache of the lot's grant entry minus its drains and expiry, kept under the pool lock.

    A `pending` lot waits for an invoice to be posted or paid (its benefit's grant timing): it has no entry
    and no credits until billing releases it."""

    class Status(models.TextChoices):
        PENDING = "pending"  # awaiting invoice posted / payment; not spendable, no entry yet
        ACTIVE = "active"
        EXPIRED = "expired"  # expiry (and rollover) processed; remaining is 0
        REVOKED = "revoked"  # reversed by an adjustment

    class Origin(models.TextChoices):
        PURCHASED = "purchased"  # a credit benefit of an order
        MANUAL = "manual"  # POST customers/⟨c⟩/credits/grants
        ROLLOVER = "rollover"
        ADJUSTMENT = "adjustment"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    display_id = display_id_field("cgr")  # a pending lot's id in the transaction list
    pool = models.ForeignKey(CreditPool, on_delete=models.PROTECT, related_name="grants")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    origin_code = models.CharField(max_length=32, choices=Origin.choices)
    amount = _credits()
    remaining = _credits()
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(null=True, blank=True)
    # Rollover: a lot of a benefit with rollover carries up to `rollover_amount` of what is left at its expiry
    # into a rollover lot for `rollover_duration` `rollover_duration_unit`; a rollover lot itself carries nothing.
    rollover_amount = _credits(null=True, blank=True)
    rollover_duration = models.PositiveIntegerField(null=True, blank=True)
    rollover_duration_unit = models.CharField(max_length=8, null=True, blank=True)
    is_rollover = models.BooleanField(default=False)
    rolled_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    grant_timing = models.CharField(max_length=32, null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Idempotency: `benefit:<line attribute>:<benefit>:<pool target>:<period start>` or `manual:<key>`.
    key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            tenant_unique("creditgrant", "display_id"),
            tenant_unique("creditgrant", "key", condition=Q(key__isnull=False)),
            models.CheckConstraint(
                condition=Q(amount__gt=0, remaining__gte=0, remaining__lte=models.F("amount")),
                name="creditgrant_remaining_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "pool", "status"], name="creditgrant_org_pool_idx"),
            models.Index(fields=["status", "expires_at"], name="creditgrant_due_idx"),
            models.Index(fields=["organization", "-created_at"], name="creditgrant_org_created_idx"),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk} {self.remaining}/{self.amount} ({self.status})"


class CreditConsumption(TimestampedModel):
    """One request to burn credits for a signal (idempotent per signal x currency): what it asked for, what the
    pool gave (`spent`), what went beyond the balance (`overage`, priced later at `overage_unit_price`), or,
    while no pool can take it, `pending` (§2.1 pending consumption) until credits arrive."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"

    # References copied from the pool or the signal (organization, customer, currency, order, product) carry
    # no database constraint, on this row and on entries and drains: rating writes them by the thousand and
    # each constraint is a check at every commit (docs/credits.md, "Speed"). The ledger's own structure (pool,
    # lot, entry, consumption) stays constrained.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    credits_currency = models.ForeignKey(
        "catalog.CreditCurrency", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    pool = models.ForeignKey(CreditPool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices)
    amount = _credits()
    spent = _credits(default=0)
    overage = _credits(default=0)
    allow_overage = models.BooleanField(default=False)
    overage_unit_price = models.IntegerField(null=True, blank=True)  # cents per credit (benefit pricing)
    external_user_id = models.CharField(max_length=255, null=True, blank=True)
    # The signal (no foreign key: the signals table is partitioned by time on PostgreSQL).
    signal_id = models.BigIntegerField(null=True, blank=True)
    signal_display_id = models.CharField(max_length=40, null=True, blank=True)
    event_name = models.CharField(max_length=255, null=True, blank=True)
    signal_recorded_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    occurred_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique(
                "creditconsumption", "signal_id", "credits_currency", condition=Q(signal_id__isnull=False)
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0, spent__gte=0, overage__gte=0), name="creditconsumption_amounts"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "credits_currency", "occurred_at"],
                name="creditcons_pending_idx",
                condition=Q(status="pending"),
            ),
        ]


class CreditEntry(models.Model):
    """One posted ledger line (append-only; UPDATE and DELETE are refused by triggers). Signed: grants and
    rollovers add, spends and expiries take away, adjustments reverse an earlier entry."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        SPEND = "spend"
        EXPIRY = "expiry"
        ROLLOVER = "rollover"
        ADJUSTMENT = "adjustment"

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    display_id = display_id_field("ctx")
    pool = models.ForeignKey(CreditPool, on_delete=models.PROTECT, related_name="entries")
    # Copied from the pool so the transaction list filters without a join.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    credits_currency = models.ForeignKey(
        "catalog.CreditCurrency", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = _credits()
    balance_after = _credits()
    origin_code = models.CharField(max_length=32, default="unknown")
    grant = models.ForeignKey(CreditGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    consumption = models.ForeignKey(
        CreditConsumption, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    signal_id = models.BigIntegerField(null=True, blank=True)
    signal_display_id = models.CharField(max_length=40, null=True, blank=True)
    event_name = models.CharField(max_length=255, null=True, blank=True)
    signal_recorded_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            tenant_unique("creditentry", "display_id"),
            models.CheckConstraint(condition=~Q(amount=0), name="creditentry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="creditentry_balance_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="creditentry_org_created_idx"),
            models.Index(fields=["organization", "customer", "-created_at"], name="creditentry_org_cust_idx"),
            models.Index(fields=["organization", "pool", "id"], name="creditentry_org_pool_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.display_id})"


class CreditDrain(models.Model):
    """How much one entry took from (or, reversing a spend, gave back to) one lot. Append-only like entries;
    for every lot, `amount - Σ drains - its expiry` is its `remaining`."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    entry = models.ForeignKey(CreditEntry, on_delete=models.PROTECT, related_name="drains")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="drains")
    amount = _credits()

    class Meta:
        indexes = [models.Index(fields=["organization", "grant"], name="creditdrain_org_grant_idx")]

    def __str__(self) -> str:
        return f"drain {self.amount} of grant {self.grant_id} by entry {self.entry_id}"


class CreditOrderCursor(models.Model):
    """When the grant sweep next has to look at an order: the earliest allocation-period boundary (or line
    start) after its last check. `next_due_at` None: nothing more will come due. An order changed after
    `checked_at` is looked at again whatever its cursor says."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    next_due_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        constraints = [tenant_unique("creditordercursor", "order")]

    def __str__(self) -> str:
        return f"order {self.order_id} next due {self.next_due_at}"


class CreditEvent(models.Model):
    """Outbox of ledger events for the webhooks app (`credits.depleted`, `credits.overage`), written in the
    transaction that caused them; `services.credit_events_publish` hands them to outbound webhooks."""

    class Kind(models.TextChoices):
        DEPLETED = "credits.depleted"
        OVERAGE = "credits.overage"

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    pool = models.ForeignKey(CreditPool, on_delete=models.PROTECT, related_name="+")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "id"],
                name="creditevent_unpublished_idx",
                condition=Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.pk})"
