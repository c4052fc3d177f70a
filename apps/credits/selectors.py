"""Reads of the credit ledger: pools, balances with their lots, pending consumption, transactions, drift and
the event outbox; plus the pool lock helper services use. Every query is scoped to one organization (or to
a customer or pool already resolved within one), except the operator's drift check and the sweeps' scans."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.catalog.selectors import credit_currency_list
from apps.common.hooks import Hook
from apps.credits.models import (
    CreditConsumption,
    CreditDrain,
    CreditEntry,
    CreditEvent,
    CreditGrant,
    CreditOrderCursor,
    CreditPool,
)
from apps.customers.selectors import customer_find_by_external_id
from apps.orders.periods import shift
from apps.orders.selectors import order_list

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer

ZERO = Decimal(0)
_CREDITS = DecimalField(max_digits=20, decimal_places=6)


# --- pools ---------------------------------------------------------------------------------------------------


def credit_pool_find(
    *, organization_id: int, customer_id: int, credits_currency_id: int, seat_id=None
) -> CreditPool | None:
    return CreditPool.objects.filter(
        organization_id=organization_id,
        customer_id=customer_id,
        credits_currency_id=credits_currency_id,
        seat_id=seat_id,
    ).first()


def credit_pool_for_consumption(
    *, organization_id: int, customer_id: int, credits_currency_id: int, external_user_id: str | None = None
) -> CreditPool | None:
    """The pool a consumption burns: the pool of the seat that `external_user_id` holds (a seat of a benefit
    whose recipient is `seat`; the newest such pool when the user holds several), else the organization pool.
    None when neither exists yet."""
    pools = CreditPool.objects.filter(
        organization_id=organization_id, customer_id=customer_id, credits_currency_id=credits_currency_id
    )
    if external_user_id:
        seat_pool = (
            pools.filter(
                seat__isnull=False,
                seat__assignee__customer_id=customer_id,
                seat__assignee__external_id=external_user_id,
            )
            .order_by("-pk")
            .first()
        )
        if seat_pool is not None:
            return seat_pool
    return pools.filter(seat__isnull=True).first()


def credit_pools_for_update(*, pool_ids: Iterable[int]) -> list[CreditPool]:
    """The pools, row-locked until the transaction ends, locked in pk order: every ledger write locks its
    pools this way, so two writers touching the same pools never deadlock. Services only."""
    return list(CreditPool.objects.select_for_update().filter(pk__in=set(pool_ids)).order_by("pk"))


def credit_lots_live(*, pool: CreditPool, now: datetime) -> QuerySet[CreditGrant]:
    """The pool's spendable lots in drain order: earliest-expiring first (never-expiring last), then oldest."""
    return (
        CreditGrant.objects.filter(
            organization_id=pool.organization_id,
            pool=pool,
            status=CreditGrant.Status.ACTIVE,
            starts_at__lte=now,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "starts_at", "pk")
    )


# --- balances ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotBalance:
    """One lot as §2.1 `CreditGrant` shows it."""

    available: Decimal
    used: Decimal
    total: Decimal
    period_start: datetime
    period_end: datetime | None
    expires_at: datetime | None
    rollover_amount: Decimal | None
    rollover_end_date: datetime | None
    is_in_rollover_window: bool


@dataclass(frozen=True)
class Balance:
    """One `CreditBalance`: a currency's organization pool, or all its seat pools of the customer together."""

    credits_currency_id: str
    currency_name: str
    currency_key: str
    recipient: str
    grants: list[LotBalance] = field(default_factory=list)

    @property
    def available(self) -> Decimal:
        return sum((lot.available for lot in self.grants), ZERO)

    @property
    def used(self) -> Decimal:
        return sum((lot.used for lot in self.grants), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((lot.total for lot in self.grants), ZERO)

    @property
    def period_start(self) -> datetime | None:
        return min((lot.period_start for lot in self.grants), default=None)

    @property
    def period_end(self) -> datetime | None:
        return max((lot.period_end for lot in self.grants if lot.period_end), default=None)

    @property
    def rollover_end_date(self) -> datetime | None:
        return max((lot.rollover_end_date for lot in self.grants if lot.rollover_end_date), default=None)


def _lot_balance(lot: CreditGrant) -> LotBalance:
    if lot.is_rollover:
        rollover_end = lot.expires_at
    elif lot.rollover_amount and lot.expires_at and lot.rollover_duration:
        rollover_end = shift(lot.expires_at, lot.rollover_duration, lot.rollover_duration_unit or "months")
    else:
        rollover_end = None
    return LotBalance(
        available=lot.remaining,
        used=lot.amount - lot.remaining,
        total=lot.amount,
        period_start=lot.period_start,
        period_end=lot.period_end,
        expires_at=lot.expires_at,
        rollover_amount=lot.rollover_amount,
        rollover_end_date=rollover_end,
        is_in_rollover_window=lot.is_rollover,
    )


def _live_lots(pools: QuerySet[CreditPool], now: datetime) -> dict[int, list[CreditGrant]]:
    lots = (
        CreditGrant.objects.filter(pool__in=pools, status=CreditGrant.Status.ACTIVE, starts_at__lte=now)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("period_start", "pk")
    )
    by_pool: dict[int, list[CreditGrant]] = {}
    for lot in lots:
        by_pool.setdefault(lot.pool_id, []).append(lot)
    return by_pool


def credit_balance_list(*, customer: Customer, now: datetime | None = None) -> list[Balance]:
    """The customer's balances (§2.1 `CreditBalance`), one per currency and recipient: the organization pool,
    and the seat pools summed. Lots are those spendable at `now` (a lot past its expiry no longer counts even
    before the expiry sweep posts its entry); a pool without any still shows, at zero."""
    now = now or timezone.now()
    pools = CreditPool.objects.filter(
        organization_id=customer.organization_id, customer_id=customer.pk
    ).select_related("credits_currency")
    lots = _live_lots(pools, now)
    balances: dict[tuple[int, str], Balance] = {}
    for pool in pools.order_by("credits_currency__created_at", "credits_currency_id", "pk"):
        currency = pool.credits_currency
        balance = balances.setdefault(
            (currency.pk, pool.recipient),
            Balance(
                credits_currency_id=currency.display_id,
                currency_name=currency.name,
                currency_key=currency.key,
                recipient=pool.recipient,
            ),
        )
        balance.grants.extend(_lot_balance(lot) for lot in lots.get(pool.pk, []))
    ordered = sorted(balances.items(), key=lambda item: (item[0][1] != "organization",))
    return [balance for _, balance in ordered]


def credit_seat_balance_map(
    *, organization_id: int, seat_ids: Iterable, now: datetime | None = None
) -> dict[object, list[Balance]]:
    """Seat id → the balances of that seat's pools (one per currency), for the customer state."""
    now = now or timezone.now()
    seat_ids = list(seat_ids)
    if not seat_ids:
        return {}
    pools = CreditPool.objects.filter(organization_id=organization_id, seat_id__in=seat_ids).select_related(
        "credits_currency"
    )
    lots = _live_lots(pools, now)
    result: dict[object, list[Balance]] = {}
    for pool in pools.order_by("credits_currency__created_at", "pk"):
        currency = pool.credits_currency
        balance = Balance(
            credits_currency_id=currency.display_id,
            currency_name=currency.name,
            currency_key=currency.key,
            recipient=pool.recipient,
            grants=[_lot_balance(lot) for lot in lots.get(pool.pk, [])],
        )
        result.setdefault(pool.seat_id, []).append(balance)
    return result


# --- pending consumption -------------------------------------------------------------------------------------


def credit_pending_consumption_list(*, customer: Customer) -> QuerySet[CreditConsumption]:
    """Consumption recorded before a pool could take it, oldest first (§2.1 pending consumption)."""
    return (
        CreditConsumption.objects.filter(
            organization_id=customer.organization_id,
            customer_id=customer.pk,
            status=CreditConsumption.Status.PENDING,
        )
        .select_related("credits_currency", "order")
        .order_by("occurred_at", "pk")
    )


# --- transactions (§3.6) -------------------------------------------------------------------------------------

# The ledger kinds as the wire's `type` enum (grant | spend | pendingGrant): credits in are grants, credits out
# are spends; the exact kind goes out as the extra key `kind`.


@dataclass(frozen=True)
class Transaction:
    id: str
    customer_id: str
    customer_external_id: str | None
    currency_key: str
    currency_name: str
    type: str
    kind: str
    amount: Decimal
    origin_code: str
    event_name: str | None
    signal_id: str | None
    order_id: str | None
    product: dict | None
    created_at: datetime


def _product(product) -> dict | None:
    if product is None:
        return None
    return {"id": product.display_id, "externalId": product.external_id, "name": product.name}


class TransactionList:
    """The ledger entries and the pending lots of one filter, newest first, as one sliceable list (what
    `common.api.paginated` needs: `count()` and `[a:b]`)."""

    def __init__(self, entries: QuerySet[CreditEntry] | None, pending: QuerySet[CreditGrant] | None):
        parts = []
        if entries is not None:
            parts.append(
                entries.annotate(
                    source=Value("e"), row=F("pk"), at=Coalesce("signal_recorded_at", "created_at")
                ).values_list("source", "row", "at")
            )
        if pending is not None:
            parts.append(
                pending.annotate(source=Value("g"), row=F("pk"), at=F("created_at")).values_list(
                    "source", "row", "at"
                )
            )
        self._rows = None
        if len(parts) == 2:
            self._rows = parts[0].union(parts[1], all=True).order_by("-at", "-row", "source")
        elif parts:
            self._rows = parts[0].order_by("-at", "-row")

    def count(self) -> int:
        return 0 if self._rows is None else self._rows.count()

    def __getitem__(self, window: slice) -> list[Transaction]:
        if self._rows is None:
            return []
        keys = list(self._rows[window])
        entries = CreditEntry.objects.select_related(
            "customer", "credits_currency", "order", "product"
        ).in_bulk([row for source, row, _ in keys if source == "e"])
        lots = CreditGrant.objects.select_related(
            "pool__customer", "pool__credits_currency", "order", "product"
        ).in_bulk([row for source, row, _ in keys if source == "g"])
        return [
            _entry_transaction(entries[row]) if source == "e" else _pending_transaction(lots[row])
            for source, row, _ in keys
        ]


def _entry_transaction(entry: CreditEntry) -> Transaction:
    return Transaction(
        id=entry.display_id,
        customer_id=entry.customer.display_id,
        customer_external_id=entry.customer.external_id,
        currency_key=entry.credits_currency.key,
        currency_name=entry.credits_currency.name,
        type="grant" if entry.amount > 0 else "spend",
        kind=entry.kind,
        amount=entry.amount,
        origin_code=entry.origin_code,
        event_name=entry.event_name,
        signal_id=entry.signal_display_id,
        order_id=entry.order.display_id if entry.order else None,
        product=_product(entry.product),
        created_at=entry.signal_recorded_at or entry.created_at,
    )


def _pending_transaction(lot: CreditGrant) -> Transaction:
    return Transaction(
        id=lot.display_id,
        customer_id=lot.pool.customer.display_id,
        customer_external_id=lot.pool.customer.external_id,
        currency_key=lot.pool.credits_currency.key,
        currency_name=lot.pool.credits_currency.name,
        type="pendingGrant",
        kind="pendingGrant",
        amount=lot.amount,
        origin_code=lot.origin_code,
        event_name=None,
        signal_id=None,
        order_id=lot.order.display_id if lot.order else None,
        product=_product(lot.product),
        created_at=lot.created_at,
    )


def credit_transaction_list(
    *,
    organization: Organization,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    credits_currency_id: str | None = None,
    credit_currency_key: str | None = None,
    type: str | None = None,
    order_id: str | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
) -> TransactionList:
    """Ledger entries and pending grants, newest first (§3.6). An unknown customer, currency or order matches
    nothing; `externalCustomerId` resolves aliases; date bounds are inclusive and apply to `createdAt` (the
    signal's recording time for spends of a signal)."""
    entries = CreditEntry.objects.filter(organization=organization)
    pending = CreditGrant.objects.filter(organization=organization, status=CreditGrant.Status.PENDING)
    if customer_id is not None:
        entries = entries.filter(customer__display_id=customer_id)
        pending = pending.filter(pool__customer__display_id=customer_id)
    if external_customer_id is not None:
        customer = customer_find_by_external_id(organization=organization, external_id=external_customer_id)
        customer_pk = customer.pk if customer is not None else 0
        entries = entries.filter(customer_id=customer_pk)
        pending = pending.filter(pool__customer_id=customer_pk)
    if credits_currency_id is not None:
        entries = entries.filter(credits_currency__display_id=credits_currency_id)
        pending = pending.filter(pool__credits_currency__display_id=credits_currency_id)
    if credit_currency_key is not None:
        currency_pks = credit_currency_list(organization=organization).filter(key=credit_currency_key)
        entries = entries.filter(credits_currency__in=currency_pks.values("pk"))
        pending = pending.filter(pool__credits_currency__in=currency_pks.values("pk"))
    if order_id is not None:
        entries = entries.filter(order__display_id=order_id)
        pending = pending.filter(order__display_id=order_id)
    if created_at_from is not None:
        entries = entries.filter(
            Q(signal_recorded_at__gte=created_at_from)
            | Q(signal_recorded_at__isnull=True, created_at__gte=created_at_from)
        )
        pending = pending.filter(created_at__gte=created_at_from)
    if created_at_to is not None:
        entries = entries.filter(
            Q(signal_recorded_at__lte=created_at_to)
            | Q(signal_recorded_at__isnull=True, created_at__lte=created_at_to)
        )
        pending = pending.filter(created_at__lte=created_at_to)
    if type == "grant":
        return TransactionList(entries.filter(amount__gt=0), None)
    if type == "spend":
        return TransactionList(entries.filter(amount__lt=0), None)
    if type == "pendingGrant":
        return TransactionList(None, pending)
    return TransactionList(entries, pending)


# --- reconciliation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """A pool whose balance is not the sum of its entries (or of its lots), or a lot whose remaining is not its
    entries minus its drains."""

    organization_id: int
    pool_id: int
    grant_id: int | None
    recorded: Decimal
    expected: Decimal
    what: str


def credit_ledger_drift(*, organization_id: int | None = None) -> list[Drift]:
    """Every pool whose balance differs from Σ its entries or Σ its lots' remaining, and every posted lot whose
    remaining differs from Σ its entries - Σ its drains. Expected: none (`manage.py credits_reconcile`)."""

    def total(model, link: str, value: str = "amount", **filters):
        rows = (
            model.objects.filter(**{link: OuterRef("pk")}, **filters)
            .order_by()
            .values(link)
            .annotate(total=Sum(value))
            .values("total")
        )
        return Coalesce(Subquery(rows, output_field=_CREDITS), Value(ZERO), output_field=_CREDITS)

    pools = CreditPool.objects.all()
    lots = CreditGrant.objects.exclude(status=CreditGrant.Status.PENDING)
    if organization_id is not None:
        pools = pools.filter(organization_id=organization_id)
        lots = lots.filter(organization_id=organization_id)
    # Sums in SQL, comparisons here at the ledger's 6 decimals: SQLite sums decimals as floating point.
    pools = pools.annotate(
        entries_total=total(CreditEntry, "pool"),
        lots_total=total(CreditGrant, "pool", "remaining", status=CreditGrant.Status.ACTIVE),
    )
    lots = lots.annotate(entries_total=total(CreditEntry, "grant"), drains_total=total(CreditDrain, "grant"))
    drift = []
    for pool in pools.order_by("organization_id", "pk"):
        balance = _exact(pool.balance)
        for what, expected in (("pool vs entries", pool.entries_total), ("pool vs lots", pool.lots_total)):
            if balance != _exact(expected):
                drift.append(Drift(pool.organization_id, pool.pk, None, balance, _exact(expected), what))
    for lot in lots.order_by("organization_id", "pk"):
        expected = _exact(lot.entries_total) - _exact(lot.drains_total)
        if _exact(lot.remaining) != expected:
            drift.append(
                Drift(
                    lot.organization_id,
                    lot.pool_id,
                    lot.pk,
                    _exact(lot.remaining),
                    expected,
                    "lot vs entries",
                )
            )
    return drift


def _exact(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.000001"))


# --- events --------------------------------------------------------------------------------------------------


def credit_event_list_unpublished(
    *, organization: Organization | None = None, limit: int = 100
) -> list[CreditEvent]:
    """The oldest events not yet handed to the webhooks app (the outbox a publisher drains in id order)."""
    events = CreditEvent.objects.filter(published_at__isnull=True)
    if organization is not None:
        events = events.filter(organization=organization)
    return list(events.order_by("id")[:limit])


def credit_events_claim_unpublished(*, limit: int) -> list[CreditEvent]:
    """The oldest unpublished outbox events, row-locked for the caller's transaction; rows another publisher
    holds are skipped (PostgreSQL; SQLite serializes writers anyway)."""
    events = CreditEvent.objects.select_for_update(skip_locked=True, of=("self",)).select_related(
        "organization"
    )
    return list(events.filter(published_at__isnull=True).order_by("id")[:limit])


def credit_lots_live_by_pool(*, pool_ids: Iterable[int], now: datetime) -> dict[int, list[CreditGrant]]:
    """`credit_lots_live` of many pools in one query, by pool pk, each in drain order."""
    lots = (
        CreditGrant.objects.filter(
            pool_id__in=set(pool_ids), status=CreditGrant.Status.ACTIVE, starts_at__lte=now
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "starts_at", "pk")
    )
    by_pool: dict[int, list[CreditGrant]] = {pk: [] for pk in pool_ids}
    for lot in lots:
        by_pool[lot.pool_id].append(lot)
    return by_pool


def credit_pools_with_lots(
    *, pool_ids: Iterable[int], status: str, expiring_by: datetime | None = None
) -> set[int]:
    """Which of the pools hold a lot in `status` (and, with `expiring_by`, one expiring by then)."""
    lots = CreditGrant.objects.filter(pool_id__in=set(pool_ids), status=status)
    if expiring_by is not None:
        lots = lots.filter(expires_at__lte=expiring_by)
    return set(lots.values_list("pool_id", flat=True).distinct())


def credit_organization_pools(
    *, organization_id: int, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], CreditPool]:
    """The organization pools of (customer pk, credits currency pk) pairs, in one query."""
    pairs = set(pairs)
    pools = CreditPool.objects.filter(
        organization_id=organization_id,
        seat__isnull=True,
        customer_id__in={c for c, _ in pairs},
        credits_currency_id__in={k for _, k in pairs},
    )
    return {
        (p.customer_id, p.credits_currency_id): p
        for p in pools
        if (p.customer_id, p.credits_currency_id) in pairs
    }


def credit_orders_to_grant(*, organization: Organization, now: datetime | None = None) -> list[str]:
    """Active orders the grant sweep must look at: never checked, changed since their last check, or past the
    next moment their grants can change (`CreditOrderCursor`). One query; usually empty."""
    now = now or timezone.now()
    settled = CreditOrderCursor.objects.filter(
        organization=organization, order_id=OuterRef("pk"), checked_at__gte=OuterRef("updated_at")
    ).filter(Q(next_due_at__isnull=True) | Q(next_due_at__gt=now))
    return list(
        order_list(organization=organization, status="active")
        .exclude(Exists(settled))
        .values_list("display_id", flat=True)
    )


@dataclass(frozen=True)
class OverageTotal:
    """Priced credit overage of one order in one currency at one overage price (billing bills it in arrears)."""

    credits_currency_id: int
    currency_name: str
    overage_unit_price: int  # minor units per credit
    overage: Decimal


def credit_overage_totals(
    *, organization: Organization, order_id: int, start: datetime, end: datetime
) -> list[OverageTotal]:
    """Σ overage of the order's applied consumptions that happened in `[start, end)` and carry an overage price,
    by credit currency and price (oldest currency first). Unpriced overage is not billable and not listed."""
    rows = (
        CreditConsumption.objects.filter(
            organization=organization,
            order_id=order_id,
            status=CreditConsumption.Status.APPLIED,
            overage__gt=0,
            overage_unit_price__isnull=False,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .values("credits_currency_id", "credits_currency__name", "overage_unit_price")
        .annotate(total=Sum("overage"))
        .order_by("credits_currency_id", "overage_unit_price")
    )
    return [
        OverageTotal(
            credits_currency_id=row["credits_currency_id"],
            currency_name=row["credits_currency__name"],
            overage_unit_price=row["overage_unit_price"],
            overage=Decimal(row["total"]),
        )
        for row in rows
    ]


# The customer state (§2.1) is served here, the lowest layer that reads orders, seats and balances; apps above
# add their parts to the response body before it is sent (`state`: the camelCase dict; checkout fills
# `checkoutLinks`).
customer_state_extend = Hook("credits.customer_state")


# --- credits burned, for margins (apps.costs.margins) --------------------------------------------------------


def credit_burns_in_window(
    *,
    organization: Organization,
    start: datetime | None,
    end: datetime | None,
    customer_ids: list[int] | None = None,
    signal_ids: list[int] | None = None,
) -> list[dict]:
    """Applied credit consumptions whose signal happened in `[start, end)` (or of the given signals, any
    time), as plain rows: signal_id, customer_id, product_id, event_name, credits (spent + overage),
    overage_unit_price (minor units per credit, the benefit's price; None when it has none), currency (the
    order's, which that price is in; "USD" without an order), occurred_at."""
    qs = CreditConsumption.objects.filter(organization=organization, status=CreditConsumption.Status.APPLIED)
    if signal_ids is not None:
        qs = qs.filter(signal_id__in=signal_ids)
    else:
        qs = qs.filter(occurred_at__gte=start, occurred_at__lt=end)
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=customer_ids)
    rows = list(
        qs.order_by("pk").values(
            "signal_id",
            "customer_id",
            "product_id",
            "event_name",
            "spent",
            "overage",
            "overage_unit_price",
            "occurred_at",
            currency=F("order__currency"),
        )
    )
    for row in rows:
        row["currency"] = row["currency"] or "USD"
    return rows
