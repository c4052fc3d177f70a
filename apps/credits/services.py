"""Every write to the credit ledger (docs/credits.md). Each entry point is one `@transaction.atomic` action
that locks the pools it touches in pk order (`selectors.credit_pools_for_update`), appends entries, and moves
each pool's balance with its entry. Nothing here updates or deletes an entry: corrections are reversing
entries (`credit_entry_reverse`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django_q.tasks import async_task

from apps.catalog.selectors import credit_currency_list
from apps.common.exceptions import DomainError, NotFound, ReferenceNotFound
from apps.credits.exceptions import IdempotencyKeyReused, InsufficientCredits
from apps.credits.models import (
    CreditConsumption,
    CreditDrain,
    CreditEntry,
    CreditEvent,
    CreditGrant,
    CreditOrderCursor,
    CreditPool,
)
from apps.credits.selectors import (
    credit_events_claim_unpublished,
    credit_lots_live,
    credit_lots_live_by_pool,
    credit_organization_pools,
    credit_pool_for_consumption,
    credit_pools_for_update,
    credit_pools_with_lots,
)
from apps.orders.periods import billing_months, period_at, shift
from apps.orders.selectors import order_get, order_line_attributes, order_seat_list
from apps.signals.selectors import signal_queryset
from apps.webhooks.services import webhook_event_publish

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.catalog.models import CreditCurrency
    from apps.customers.models import Customer

ZERO = Decimal(0)
_QUANTUM = Decimal("0.000001")
_MAX = Decimal("1e14")  # NUMERIC(20,6)
# A grant's `startsAt` must not be in the future; this much client clock skew is forgiven (clamped to now).
START_SKEW = timedelta(seconds=60)
ON_ACTIVATION = "on_order_activation"


def credits_amount(value: Any, *, field: str = "amount") -> Decimal:
    """`value` as an exact positive number of credits (at most 6 decimals, below 10^14); DomainError otherwise."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError("must be a number", field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise DomainError("must be a positive number", field=field)
    if amount != amount.quantize(_QUANTUM) or amount >= _MAX:
        raise DomainError("must have at most 6 decimal places and 14 integer digits", field=field)
    return amount.quantize(_QUANTUM)


# --- the ledger's primitives (callers hold the pool's row lock) -----------------------------------------------


def _pool_get_or_create(
    *, organization_id: int, customer_id: int, credits_currency_id: int, seat_id=None
) -> CreditPool:
    """The pool, created empty if missing (unlocked; a concurrent create of the same pool loses to the unique
    constraint and reads the winner's row)."""
    pool, _ = CreditPool.objects.get_or_create(
        organization_id=organization_id,
        customer_id=customer_id,
        credits_currency_id=credits_currency_id,
        seat_id=seat_id,
        defaults={"recipient": CreditPool.Recipient.SEAT if seat_id else CreditPool.Recipient.ORGANIZATION},
    )
    return pool


def _post(
    *, pool: CreditPool, kind: str, amount: Decimal, now: datetime, origin_code: str = "unknown", **refs: Any
) -> CreditEntry:
    """Append one entry and move the pool's balance by its amount, in the same transaction."""
    pool.balance += amount
    entry = CreditEntry.objects.create(
        organization_id=pool.organization_id,
        pool=pool,
        customer_id=pool.customer_id,
        credits_currency_id=pool.credits_currency_id,
        kind=kind,
        amount=amount,
        balance_after=pool.balance,
        origin_code=origin_code,
        created_at=now,
        **refs,
    )
    pool.save(update_fields=["balance", "updated_at"])
    return entry


def _event(*, pool: CreditPool, kind: str, now: datetime, **payload: Any) -> None:
    transaction.on_commit(_queue_publish)
    CreditEvent.objects.create(
        organization_id=pool.organization_id,
        pool=pool,
        kind=kind,
        created_at=now,
        payload={
            "customerId": pool.customer.display_id,
            "creditsCurrencyId": pool.credits_currency.display_id,
            "recipient": pool.recipient,
            "seatId": str(pool.seat_id) if pool.seat_id else None,
            "balance": str(pool.balance),
            **payload,
        },
    )


def _lot_open(*, pool: CreditPool, now: datetime, post: bool = True, **fields: Any) -> CreditGrant:
    """Create a lot and, unless it is pending, post its grant (or rollover) entry."""
    active = fields.get("status", CreditGrant.Status.ACTIVE) == CreditGrant.Status.ACTIVE
    lot = CreditGrant.objects.create(
        organization_id=pool.organization_id,
        pool=pool,
        remaining=fields["amount"] if active else ZERO,
        **fields,
    )
    if active and post:
        _post_lot(pool=pool, lot=lot, now=now)
    return lot


def _post_lot(*, pool: CreditPool, lot: CreditGrant, now: datetime) -> CreditEntry:
    kind = CreditEntry.Kind.ROLLOVER if lot.is_rollover else CreditEntry.Kind.GRANT
    return _post(
        pool=pool,
        kind=kind,
        amount=lot.amount,
        now=now,
        origin_code=lot.origin_code,
        grant=lot,
        order_id=lot.order_id,
        product_id=lot.product_id,
    )


def _expire(*, pool: CreditPool, lot: CreditGrant, now: datetime) -> None:
    """Post the lot's expiry; a benefit lot with rollover first carries up to its rollover amount into a new
    rollover lot that lives for the rollover duration."""
    left = lot.remaining
    if left > 0:
        _post(
            pool=pool,
            kind=CreditEntry.Kind.EXPIRY,
            amount=-left,
            now=now,
            origin_code=lot.origin_code,
            grant=lot,
            order_id=lot.order_id,
            product_id=lot.product_id,
        )
    lot.remaining = ZERO
    lot.status = CreditGrant.Status.EXPIRED
    lot.save(update_fields=["remaining", "status", "updated_at"])
    carried = min(left, lot.rollover_amount) if lot.rollover_amount and not lot.is_rollover else ZERO
    if carried > 0 and lot.expires_at is not None:
        window_end = shift(lot.expires_at, lot.rollover_duration or 1, lot.rollover_duration_unit or "months")
        _lot_open(
            pool=pool,
            now=now,
            origin_code=CreditGrant.Origin.ROLLOVER,
            amount=carried,
            starts_at=lot.expires_at,
            expires_at=window_end,
            period_start=lot.expires_at,
            period_end=window_end,
            rollover_amount=carried,
            is_rollover=True,
            rolled_from=lot,
            grant_timing=lot.grant_timing,
            order_id=lot.order_id,
            product_id=lot.product_id,
        )


def _expire_due(*, pool: CreditPool, now: datetime) -> int:
    """Expire (and roll over) every lot of the pool whose expiry has passed; a rollover lot that is itself
    already past its window expires in the same pass. Returns the number of lots expired."""
    count = 0
    while True:
        due = list(
            CreditGrant.objects.filter(
                organization_id=pool.organization_id,
                pool=pool,
                status=CreditGrant.Status.ACTIVE,
                expires_at__lte=now,
            ).order_by("expires_at", "pk")
        )
        if not due:
            return count
        for lot in due:
            _expire(pool=pool, lot=lot, now=now)
        count += len(due)


def _available(*, pool: CreditPool, now: datetime) -> tuple[Decimal, list[CreditGrant]]:
    lots = list(credit_lots_live(pool=pool, now=now))
    return sum((lot.remaining for lot in lots), ZERO), lots


def _drain_plan(lots: list[CreditGrant], amount: Decimal) -> list[tuple[CreditGrant, Decimal]]:
    """What each lot gives to a spend of `amount`, in the lots' order (earliest-expiring first). Changes nothing."""
    takes, left = [], amount
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining, left)
        if take > 0:
            takes.append((lot, take))
            left -= take
    if left > 0:
        raise AssertionError("spend larger than the live lots; callers check the available amount first")
    return takes


def _signal_refs(consumption: CreditConsumption) -> dict[str, Any]:
    """The references a spend entry copies from its consumption."""
    return {
        "consumption": consumption,
        "order_id": consumption.order_id,
        "product_id": consumption.product_id,
        "signal_id": consumption.signal_id,
        "signal_display_id": consumption.signal_display_id,
        "event_name": consumption.event_name,
        "signal_recorded_at": consumption.signal_recorded_at,
    }


def _consumption_events(
    *, pool: CreditPool, consumption: CreditConsumption, depleted: bool, now: datetime
) -> None:
    """`credits.depleted` when the spend emptied the pool; `credits.overage` when it went beyond the balance."""
    if depleted:
        _event(pool=pool, kind=CreditEvent.Kind.DEPLETED, now=now, consumptionId=consumption.pk)
    if consumption.overage > 0:
        _event(
            pool=pool,
            kind=CreditEvent.Kind.OVERAGE,
            now=now,
            consumptionId=consumption.pk,
            signalId=consumption.signal_display_id,
            overage=str(consumption.overage),
            overageUnitPrice=consumption.overage_unit_price,
        )


def _spend(
    *, pool: CreditPool, lots: list[CreditGrant], amount: Decimal, now: datetime, **refs: Any
) -> CreditEntry:
    """Post one spend entry of `amount` and drain it from `lots` in their order (earliest-expiring first)."""
    takes = _drain_plan(lots, amount)
    origin = takes[0][0].origin_code if takes else "unknown"
    entry = _post(pool=pool, kind=CreditEntry.Kind.SPEND, amount=-amount, now=now, origin_code=origin, **refs)
    CreditDrain.objects.bulk_create(
        CreditDrain(organization_id=pool.organization_id, entry=entry, grant=lot, amount=take)
        for lot, take in takes
    )
    for lot, take in takes:
        lot.remaining -= take
        lot.save(update_fields=["remaining", "updated_at"])
    return entry


# --- consumption ---------------------------------------------------------------------------------------------


def _replay(
    *, organization_id: int, signal_id: int | None, credits_currency_id: int
) -> CreditConsumption | None:
    if signal_id is None:
        return None
    existing = CreditConsumption.objects.filter(
        organization_id=organization_id, signal_id=signal_id, credits_currency_id=credits_currency_id
    ).first()
    if existing is not None:
        existing.replayed = True
    return existing


def _save_new(consumption: CreditConsumption) -> CreditConsumption | None:
    """Insert the consumption; None when a concurrent consume of the same signal inserted it first."""
    try:
        with transaction.atomic():
            consumption.save()
    except IntegrityError:
        if consumption.signal_id is None:
            raise
        return None
    consumption.replayed = False
    return consumption


def _apply(
    *,
    consumption: CreditConsumption,
    pool: CreditPool,
    lots: list[CreditGrant],
    available: Decimal,
    now: datetime,
) -> CreditConsumption | None:
    """Burn the consumption from the pool: all of it when the pool covers it, else what the pool has plus the
    rest as overage (callers only get here when overage is allowed or the pool covers it)."""
    spent = min(available, consumption.amount)
    consumption.pool = pool
    consumption.status = CreditConsumption.Status.APPLIED
    consumption.spent = spent
    consumption.overage = consumption.amount - spent
    consumption.applied_at = now
    if consumption.pk is None:
        if _save_new(consumption) is None:
            return None
    else:
        consumption.save(update_fields=["pool", "status", "spent", "overage", "applied_at", "updated_at"])
    if spent > 0:
        _spend(pool=pool, lots=lots, amount=spent, now=now, **_signal_refs(consumption))
    _consumption_events(
        pool=pool, consumption=consumption, depleted=spent > 0 and available == spent, now=now
    )
    return consumption


def _signal_facts(*, organization: Organization, signal_id: int) -> dict[str, Any]:
    row = (
        signal_queryset(organization=organization)
        .filter(pk=signal_id)
        .values("display_id", "event_name", "created_at", "timestamp", "product_id")
        .first()
    )
    return row or {}


@transaction.atomic
def credit_consume(
    *,
    organization: Organization,
    customer: Customer,
    credits_currency: CreditCurrency,
    amount: Decimal,
    signal_id: int | None,
    external_user_id: str | None = None,
    allow_overage: bool = False,
    overage_unit_price: int | None = None,
    order_id: int | None = None,
    product_id: int | None = None,
    event_name: str | None = None,
    signal_display_id: str | None = None,
    occurred_at: datetime | None = None,
    recorded_at: datetime | None = None,
    now: datetime | None = None,
) -> CreditConsumption:
    """Burn `amount` credits of `credits_currency` for one signal (rating's entry point; idempotent per signal x
    currency: a replay returns the first result with `replayed = True`).

    The pool is the seat pool of the seat `external_user_id` holds, else the organization pool. When it covers
    the amount, one spend entry drains its lots earliest-expiring first. When it does not: with
    `allow_overage`, the pool gives what it has and the rest is recorded as overage (for billing at
    `overage_unit_price`, with a `credits.overage` event); without, the consumption waits as pending if the pool
    has lots awaiting an invoice, else InsufficientCredits is raised and nothing is written. When no pool exists
    yet the consumption is recorded as pending and applied when credits arrive. Signal facts not passed are
    read from the signal (`signal_id` is its pk). The amount is rounded half-up to the ledger's 6 decimals
    (`creditCost x quantity` may have more). Locks the pool."""
    amount = credits_amount(Decimal(str(amount)).quantize(_QUANTUM, ROUND_HALF_UP))
    now = now or timezone.now()
    ids = {"organization_id": organization.pk, "credits_currency_id": credits_currency.pk}
    if (existing := _replay(signal_id=signal_id, **ids)) is not None:
        return existing
    facts = (
        _signal_facts(organization=organization, signal_id=signal_id)
        if signal_id is not None and signal_display_id is None
        else {}
    )
    consumption = CreditConsumption(
        customer_id=customer.pk,
        amount=amount,
        allow_overage=allow_overage,
        overage_unit_price=overage_unit_price,
        external_user_id=external_user_id,
        signal_id=signal_id,
        signal_display_id=signal_display_id or facts.get("display_id"),
        event_name=event_name or facts.get("event_name"),
        order_id=order_id,
        product_id=product_id or facts.get("product_id"),
        occurred_at=occurred_at or facts.get("timestamp") or now,
        signal_recorded_at=recorded_at or facts.get("created_at"),
        **ids,
    )
    pool = credit_pool_for_consumption(customer_id=customer.pk, external_user_id=external_user_id, **ids)
    if pool is None:
        consumption.status = CreditConsumption.Status.PENDING
        return _save_new(consumption) or _replay(signal_id=signal_id, **ids)
    [pool] = credit_pools_for_update(pool_ids=[pool.pk])
    # A consume of the same signal may have held the lock before us.
    if (existing := _replay(signal_id=signal_id, **ids)) is not None:
        return existing
    _expire_due(pool=pool, now=now)
    available, lots = _available(pool=pool, now=now)
    if available >= amount or allow_overage:
        return _apply(consumption=consumption, pool=pool, lots=lots, available=available, now=now) or _replay(
            signal_id=signal_id, **ids
        )
    if pool.grants.filter(status=CreditGrant.Status.PENDING).exists():
        consumption.status = CreditConsumption.Status.PENDING
        return _save_new(consumption) or _replay(signal_id=signal_id, **ids)
    raise InsufficientCredits(pool_id=pool.pk, requested=amount, available=available)


def _apply_pending(*, pool: CreditPool, now: datetime) -> int:
    """Apply the pending consumption that resolves to this pool, oldest first, while the pool covers each one
    (or its pricing allows overage); the first that does not fit stops the pass. Caller holds the pool lock."""
    pending = (
        CreditConsumption.objects.select_for_update()
        .filter(
            organization_id=pool.organization_id,
            customer_id=pool.customer_id,
            credits_currency_id=pool.credits_currency_id,
            status=CreditConsumption.Status.PENDING,
        )
        .order_by("occurred_at", "pk")
    )
    applied = 0
    for consumption in pending:
        target = credit_pool_for_consumption(
            organization_id=pool.organization_id,
            customer_id=pool.customer_id,
            credits_currency_id=pool.credits_currency_id,
            external_user_id=consumption.external_user_id,
        )
        if target is None or target.pk != pool.pk:
            continue
        available, lots = _available(pool=pool, now=now)
        if available < consumption.amount and not consumption.allow_overage:
            break
        _apply(consumption=consumption, pool=pool, lots=lots, available=available, now=now)
        applied += 1
    return applied


# --- grants --------------------------------------------------------------------------------------------------


def _active_currency_by_key(*, organization: Organization, key: str) -> CreditCurrency:
    currency = credit_currency_list(organization=organization).filter(key=key).first()
    if currency is None:
        raise ReferenceNotFound("Credit currency with key", key, field="creditCurrencyKey")
    if currency.status != "active":
        raise DomainError(f"credit currency {key!r} is archived", field="creditCurrencyKey")
    return currency


def _fingerprint(**request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ManualGrant:
    grant: CreditGrant
    created: bool


@transaction.atomic
def credit_grant_manual(
    *,
    organization: Organization,
    customer: Customer,
    credit_currency_key: str,
    amount: Decimal,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> ManualGrant:
    """Grant credits to the customer's organization pool now (§2.1 `grant_customer_credits`): a lot that is
    spendable from `starts_at` (≤ now, default now) until `expires_at` (None: never). With an idempotency key,
    a replay of the same request returns the first grant (`created` False) and a different request under the
    same key is refused. Applies pending consumption the new credits cover. Locks the pool."""
    now = now or timezone.now()
    amount = credits_amount(amount)
    currency = _active_currency_by_key(organization=organization, key=credit_currency_key)
    fingerprint = _fingerprint(
        customer=customer.pk,
        currency=currency.pk,
        amount=format(amount.normalize(), "f"),
        starts_at=starts_at.isoformat() if starts_at else None,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    key = f"manual:{idempotency_key}" if idempotency_key else None

    def replayed(existing: CreditGrant) -> ManualGrant:
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(idempotency_key or "")
        return ManualGrant(grant=existing, created=False)

    if key is not None and (
        existing := CreditGrant.objects.filter(organization=organization, key=key).first()
    ):
        return replayed(existing)
    start = starts_at or now
    if start > now + START_SKEW:
        raise DomainError("must be at or before the current time", field="startsAt")
    start = min(start, now)
    if expires_at is not None and expires_at <= now:
        raise DomainError("must be in the future", field="expiresAt")
    pool = _pool_get_or_create(
        organization_id=organization.pk, customer_id=customer.pk, credits_currency_id=currency.pk
    )
    [pool] = credit_pools_for_update(pool_ids=[pool.pk])
    _expire_due(pool=pool, now=now)
    fields = {
        "origin_code": CreditGrant.Origin.MANUAL,
        "amount": amount,
        "starts_at": start,
        "expires_at": expires_at,
        "period_start": start,
        "period_end": expires_at,
        "key": key,
        "request_fingerprint": fingerprint,
    }
    try:
        with transaction.atomic():
            lot = _lot_open(pool=pool, now=now, post=False, **fields)
    except IntegrityError:
        if key is None:
            raise
        return replayed(CreditGrant.objects.get(organization=organization, key=key))
    _post_lot(pool=pool, lot=lot, now=now)
    _apply_pending(pool=pool, now=now)
    return ManualGrant(grant=lot, created=True)


@dataclass(frozen=True)
class _PlannedLot:
    key: str
    seat_id: Any
    credits_currency_id: int
    fields: dict[str, Any]


def _benefit_seats(*, attribute, seats: list) -> list:
    """Seats whose pools a `recipient: seat` benefit fills: the seats of its own (seat-based) line attribute,
    else every seat of the order; none means the organization pool takes the grant."""
    own = [seat for seat in seats if seat.order_line_attribute_id == attribute.pk]
    return own or seats


def _benefit_lots(*, order, attribute, seats: list, now: datetime) -> list[_PlannedLot]:
    line = attribute.order_line
    planned = []
    for index, benefit in enumerate(attribute.credit_benefits or []):
        amount = Decimal(str(benefit.get("amount") or 0))
        if amount <= 0 or benefit.get("is_infinite_total"):
            continue  # infinite allowances are not granted as lots (docs/credits.md)
        period_months = billing_months(
            pricing=attribute.pricing,
            override=order.billing_frequency_override,
            override_custom_months=order.billing_frequency_custom_months,
        )
        months = 1 if benefit.get("allocation_cadence") == "monthly" else period_months
        period = period_at(
            start=line.start_date,
            anchor_day=order.billing_anchor,
            months=months,
            at=now,
            end=line.end_date or order.end_date,
        )
        if period is None:
            continue
        period_start, period_end = period
        timing = benefit.get("credit_grant_timing") or ON_ACTIVATION
        rollover = benefit.get("rollover_amount")
        targets = (
            _benefit_seats(attribute=attribute, seats=seats) if benefit.get("recipient") == "seat" else []
        )
        for seat in targets or [None]:
            target = f"seat:{seat.pk}" if seat is not None else "org"
            planned.append(
                _PlannedLot(
                    key=f"benefit:{attribute.display_id}:{index}:{target}:{period_start:%Y%m%dT%H%M%S}",
                    seat_id=seat.pk if seat is not None else None,
                    credits_currency_id=benefit["credits_currency_id"],
                    fields={
                        "status": CreditGrant.Status.ACTIVE
                        if timing == ON_ACTIVATION
                        else CreditGrant.Status.PENDING,
                        "origin_code": CreditGrant.Origin.PURCHASED,
                        "amount": amount.quantize(_QUANTUM),
                        "starts_at": period_start,
                        "expires_at": period_end,
                        "period_start": period_start,
                        "period_end": period_end,
                        "rollover_amount": Decimal(str(rollover)).quantize(_QUANTUM) if rollover else None,
                        # Without a duration, rolled-over credits last one allocation period.
                        "rollover_duration": benefit.get("rollover_duration") or (months or 1)
                        if rollover
                        else None,
                        "rollover_duration_unit": benefit.get("rollover_duration_unit") or "months"
                        if rollover
                        else None,
                        "grant_timing": timing,
                        "order_id": order.pk,
                        "product_id": line.product_id,
                    },
                )
            )
    return planned


def _next_due(*, attributes: list, planned: list[_PlannedLot], now: datetime) -> datetime | None:
    """When the order's grants can next change: the end of a current allocation period, or the start of a
    benefit line that has not begun yet; None when neither will come."""
    moments = [p.fields["period_end"] for p in planned if p.fields["period_end"] is not None]
    moments += [
        a.order_line.start_date for a in attributes if a.credit_benefits and a.order_line.start_date > now
    ]
    return min(moments, default=None)


@transaction.atomic
def credit_order_grants_due(*, organization: Organization, order_id: str, now: datetime | None = None) -> int:
    """Grant what the order's credit benefits owe for the allocation period containing `now` (idempotent per
    order line attribute x benefit x pool x period; the current period only, no retroactive grants). A benefit
    granted on activation posts its lots; one granted on invoice posted or payment creates pending lots that
    billing releases (`credit_grants_release`). Seat benefits fill one pool per seat. Only active orders grant.
    Locks the pools it grants into, in pk order. Returns the number of lots created."""
    now = now or timezone.now()
    order = order_get(organization=organization, order_id=order_id)
    if order.status_at(now) != "active":
        return 0
    seats = list(order_seat_list(order=order))
    attributes = order_line_attributes(order=order)
    planned = [
        lot
        for attribute in attributes
        for lot in _benefit_lots(order=order, attribute=attribute, seats=seats, now=now)
    ]
    CreditOrderCursor.objects.update_or_create(
        organization_id=organization.pk,
        order_id=order.pk,
        defaults={
            "next_due_at": _next_due(attributes=attributes, planned=planned, now=now),
            "checked_at": now,
        },
    )
    if not planned:
        return 0
    done = set(
        CreditGrant.objects.filter(organization=organization, key__in=[p.key for p in planned]).values_list(
            "key", flat=True
        )
    )
    planned = [p for p in planned if p.key not in done]
    pools = {
        p.key: _pool_get_or_create(
            organization_id=organization.pk,
            customer_id=order.customer_id,
            credits_currency_id=p.credits_currency_id,
            seat_id=p.seat_id,
        )
        for p in planned
    }
    locked = {
        pool.pk: pool for pool in credit_pools_for_update(pool_ids=[pool.pk for pool in pools.values()])
    }
    for pool in locked.values():
        _expire_due(pool=pool, now=now)
    created = 0
    for p in planned:
        pool = locked[pools[p.key].pk]
        try:
            with transaction.atomic():
                lot = _lot_open(pool=pool, now=now, post=False, key=p.key, **p.fields)
        except IntegrityError:
            continue  # a concurrent run granted it
        if lot.status == CreditGrant.Status.ACTIVE:
            _post_lot(pool=pool, lot=lot, now=now)
        created += 1
    for pool in locked.values():
        _apply_pending(pool=pool, now=now)
    return created


@transaction.atomic
def credit_grants_release(
    *, organization: Organization, order_id: str, grant_timing: str | None = None, now: datetime | None = None
) -> int:
    """Make the order's pending lots spendable (billing calls it when an invoice is posted or paid; with
    `grant_timing` only the lots of that timing). Posts their grant entries, expires any already past their
    period, applies pending consumption. Locks their pools in pk order. Returns the number released."""
    now = now or timezone.now()
    order = order_get(organization=organization, order_id=order_id)
    lots = CreditGrant.objects.filter(
        organization=organization, order_id=order.pk, status=CreditGrant.Status.PENDING
    )
    if grant_timing is not None:
        lots = lots.filter(grant_timing=grant_timing)
    pools = {
        pool.pk: pool for pool in credit_pools_for_update(pool_ids=lots.values_list("pool_id", flat=True))
    }
    released = 0
    for lot in lots.select_for_update().order_by("pk"):
        lot.status = CreditGrant.Status.ACTIVE
        lot.remaining = lot.amount
        lot.save(update_fields=["status", "remaining", "updated_at"])
        _post_lot(pool=pools[lot.pool_id], lot=lot, now=now)
        released += 1
    for pool in pools.values():
        _expire_due(pool=pool, now=now)
        _apply_pending(pool=pool, now=now)
    return released


# --- corrections ---------------------------------------------------------------------------------------------


@transaction.atomic
def credit_entry_reverse(
    *, organization: Organization, entry_id: str, reason: str, now: datetime | None = None
) -> CreditEntry:
    """Post the adjustment that reverses one entry (by display id; idempotent: a second call returns the first
    reversal). A grant or rollover is reversed only while its lot is untouched (revoking the lot); a spend is
    given back as a never-expiring adjustment lot. Other kinds are refused. Locks the pool."""
    now = now or timezone.now()
    entry = CreditEntry.objects.filter(organization=organization, display_id=entry_id).first()
    if entry is None:
        raise NotFound("Credit transaction", entry_id)
    [pool] = credit_pools_for_update(pool_ids=[entry.pool_id])
    if (done := CreditEntry.objects.filter(organization=organization, reverses=entry).first()) is not None:
        return done
    refs = {"reverses": entry, "note": reason, "order_id": entry.order_id, "product_id": entry.product_id}
    if entry.kind in (CreditEntry.Kind.GRANT, CreditEntry.Kind.ROLLOVER) or (
        entry.kind == CreditEntry.Kind.ADJUSTMENT and entry.amount > 0 and entry.grant_id
    ):
        lot = CreditGrant.objects.select_for_update().get(pk=entry.grant_id)
        if lot.status != CreditGrant.Status.ACTIVE or lot.remaining != entry.amount:
            raise DomainError(
                "its credits have been spent or have expired; it cannot be reversed", code="NOT_REVERSIBLE"
            )
        lot.remaining = ZERO
        lot.status = CreditGrant.Status.REVOKED
        lot.save(update_fields=["remaining", "status", "updated_at"])
        return _post(
            pool=pool,
            kind=CreditEntry.Kind.ADJUSTMENT,
            amount=-entry.amount,
            now=now,
            origin_code=entry.origin_code,
            grant=lot,
            **refs,
        )
    if entry.kind == CreditEntry.Kind.SPEND:
        lot = _lot_open(
            pool=pool,
            now=now,
            post=False,
            origin_code=CreditGrant.Origin.ADJUSTMENT,
            amount=-entry.amount,
            starts_at=now,
            period_start=now,
        )
        adjustment = _post(
            pool=pool,
            kind=CreditEntry.Kind.ADJUSTMENT,
            amount=-entry.amount,
            now=now,
            origin_code=CreditGrant.Origin.ADJUSTMENT,
            grant=lot,
            **refs,
        )
        _apply_pending(pool=pool, now=now)
        return adjustment
    raise DomainError(f"a {entry.kind} entry cannot be reversed", code="NOT_REVERSIBLE")


# --- sweeps (tasks) ------------------------------------------------------------------------------------------


@transaction.atomic
def credit_pool_expire(*, pool_id: int, now: datetime | None = None) -> int:
    """Expire and roll over the pool's due lots. Locks the pool."""
    pools = credit_pools_for_update(pool_ids=[pool_id])
    return _expire_due(pool=pools[0], now=now or timezone.now()) if pools else 0


def credit_expire_due(*, now: datetime | None = None) -> int:
    """Every pool with a lot past its expiry, each in its own transaction (the scheduled sweep)."""
    now = now or timezone.now()
    pool_ids = (
        CreditGrant.objects.filter(status=CreditGrant.Status.ACTIVE, expires_at__lte=now)
        .values_list("pool_id", flat=True)
        .distinct()
    )
    return sum(credit_pool_expire(pool_id=pool_id, now=now) for pool_id in sorted(set(pool_ids)))


@transaction.atomic
def credit_pending_apply(*, organization_id: int, customer_id: int, credits_currency_id: int) -> int:
    """Apply the customer's pending consumption of one currency to the pools that now exist. Locks them."""
    now = timezone.now()
    pool_ids = CreditPool.objects.filter(
        organization_id=organization_id, customer_id=customer_id, credits_currency_id=credits_currency_id
    ).values_list("pk", flat=True)
    applied = 0
    for pool in credit_pools_for_update(pool_ids=pool_ids):
        _expire_due(pool=pool, now=now)
        applied += _apply_pending(pool=pool, now=now)
    return applied


def credit_pending_apply_all() -> int:
    """The backstop sweep: pending consumption whose pool appeared without a grant applying it."""
    groups = (
        CreditConsumption.objects.filter(status=CreditConsumption.Status.PENDING)
        .values_list("organization_id", "customer_id", "credits_currency_id")
        .distinct()
    )
    return sum(
        credit_pending_apply(organization_id=org, customer_id=customer, credits_currency_id=currency)
        for org, customer, currency in sorted(set(groups))
    )


# The outbound webhook each outbox event becomes (§3.10).
WEBHOOK_NAMES = {
    CreditEvent.Kind.DEPLETED: "billing-credits-depleted",
    CreditEvent.Kind.OVERAGE: "billing-overage-incurred",
}
PUBLISH_QUEUED_KEY = "credits:publish-queued"


def _queue_publish() -> None:
    """After a commit that wrote outbox events: one queued publisher at a time (the mark drops as it starts)."""
    if cache.add(PUBLISH_QUEUED_KEY, 1, 10):
        async_task("apps.credits.tasks.publish_events", group="credits")


def credit_events_publish(*, limit: int = 500) -> int:
    """Hand the oldest unpublished outbox events to outbound webhooks, each once: the event's id is the
    webhook's idempotency key, and the events are claimed (`SKIP LOCKED` on PostgreSQL) and marked published
    in the same transaction. Returns how many were handed over; the caller repeats while it returns `limit`."""
    with transaction.atomic():
        events = credit_events_claim_unpublished(limit=limit)
        for event in events:
            webhook_event_publish(
                organization=event.organization,
                name=WEBHOOK_NAMES[event.kind],
                data={
                    "eventId": f"crev_{event.pk}",
                    "occurredAt": event.created_at.isoformat(),
                    **event.payload,
                },
                idempotency_key=f"credits:event:{event.pk}",
            )
        CreditEvent.objects.filter(pk__in=[event.pk for event in events]).update(published_at=timezone.now())
    return len(events)


# --- receivers of lower layers' hooks (connected in apps.py) ----------------------------------------------


def credit_grants_on_activation(*, order: Any) -> None:
    """orders' `order_activated`: once the activation commits, a task grants the benefits due now (the worker
    picks it up within its poll interval; the schedule covers later periods and anything missed)."""
    args = (order.organization_id, order.display_id)
    transaction.on_commit(
        lambda: async_task("apps.credits.tasks.grant_order_benefits", *args, group="credits")
    )


def _overage_unit_price(record: Any) -> int | None:
    """What a credit beyond the balance costs on this line: the line's own `overageUnitPrice` (bracketed
    credits), else that of a benefit of the line that grants the same currency."""
    attribute = record.order_line_attribute
    if attribute.pricing.get("overage_unit_price") is not None:
        return int(attribute.pricing["overage_unit_price"])
    for benefit in attribute.credit_benefits or []:
        if benefit.get("credits_currency_id") == record.credits_currency_id and benefit.get(
            "overage_unit_price"
        ):
            return int(benefit["overage_unit_price"])
    return None


def credit_consume_usage(*, records: list[Any]) -> None:
    """rating's `usage_recorded`: spend the credits of each prepaid-credit usage record, in the rating
    transaction. A line with an overage price lets consumption beyond the balance become overage at that price.
    Without one, consumption waits as pending when credits are on their way; otherwise it is still recorded as
    overage, unpriced (the pool never goes negative, and the usage is not lost); either way a
    `credits.depleted` event tells that the pool ran dry."""
    records = [r for r in records if r.credits and r.credits_currency_id is not None]
    if not records:
        return
    prefetch_related_objects(records, "organization", "signal", "order_line_attribute")
    # Consumption is one per signal x currency: two lines burning the same currency for one signal add up.
    merged: dict[tuple[int, int], ConsumeRequest] = {}
    for r in records:
        key = (r.signal_id, r.credits_currency_id)
        if key in merged:
            first = merged[key]
            price = (
                first.overage_unit_price if first.overage_unit_price is not None else _overage_unit_price(r)
            )
            merged[key] = dataclasses.replace(
                first, amount=first.amount + r.credits, overage_unit_price=price
            )
            continue
        merged[key] = ConsumeRequest(
            customer_id=r.customer_id,
            credits_currency_id=r.credits_currency_id,
            amount=r.credits,
            signal_id=r.signal_id,
            signal_display_id=r.signal.display_id,
            signal_recorded_at=r.signal.created_at,
            product_id=r.signal.product_id,
            external_user_id=r.external_user_id,
            order_id=r.order_id,
            event_name=r.event_name,
            occurred_at=r.timestamp,
            overage_unit_price=_overage_unit_price(r),
        )
    credit_consume_batch(organization=records[0].organization, requests=list(merged.values()))


@dataclass(frozen=True)
class ConsumeRequest:
    customer_id: int
    credits_currency_id: int
    amount: Decimal
    signal_id: int
    occurred_at: datetime
    signal_display_id: str | None = None
    signal_recorded_at: datetime | None = None
    product_id: int | None = None
    external_user_id: str | None = None
    order_id: int | None = None
    event_name: str | None = None
    overage_unit_price: int | None = None  # None: no priced overage (see credit_consume_usage)


@dataclass
class _PoolState:
    pool: CreditPool
    lots: list[CreditGrant]
    available: Decimal
    has_pending_lots: bool
    touched: set[int] = field(default_factory=set)  # lots drained


@transaction.atomic
def credit_consume_batch(
    *, organization: Organization, requests: list[ConsumeRequest], now: datetime | None = None
):
    """Many consumptions at once (rating's batches), by the rules of `credit_consume` applied in order, except
    that consumption the pool can't cover and no priced overage allows is still applied, as unpriced overage,
    when no credits are on their way (rather than refused). Idempotent per signal x currency. One lock per
    pool, taken in pk order, and bulk writes: a batch of 500 costs a handful of queries per pool, not per signal."""
    now = now or timezone.now()
    done = set(
        CreditConsumption.objects.filter(
            organization=organization, signal_id__in=[r.signal_id for r in requests]
        ).values_list("signal_id", "credits_currency_id")
    )
    requests = [r for r in requests if (r.signal_id, r.credits_currency_id) not in done]
    if not requests:
        return
    keys = {(r.customer_id, r.credits_currency_id, r.external_user_id) for r in requests}
    org_pools = credit_organization_pools(organization_id=organization.pk, pairs={(c, k) for c, k, _ in keys})
    targets = {
        (c, k, user): (
            credit_pool_for_consumption(
                organization_id=organization.pk, customer_id=c, credits_currency_id=k, external_user_id=user
            )
            if user
            else org_pools.get((c, k))
        )
        for c, k, user in keys
    }
    pools = credit_pools_for_update(pool_ids=[p.pk for p in targets.values() if p is not None])
    pks = [pool.pk for pool in pools]
    expiring = credit_pools_with_lots(pool_ids=pks, status=CreditGrant.Status.ACTIVE, expiring_by=now)
    for pool in pools:
        if pool.pk in expiring:
            _expire_due(pool=pool, now=now)
    lots = credit_lots_live_by_pool(pool_ids=pks, now=now)
    waiting = credit_pools_with_lots(pool_ids=pks, status=CreditGrant.Status.PENDING)
    states = {
        pool.pk: _PoolState(
            pool, lots[pool.pk], sum((lot.remaining for lot in lots[pool.pk]), ZERO), pool.pk in waiting
        )
        for pool in pools
    }

    consumptions, spends = [], []  # spends: (consumption, state, [(lot, take)])
    for request in requests:
        target = targets[(request.customer_id, request.credits_currency_id, request.external_user_id)]
        consumption = CreditConsumption(
            organization_id=organization.pk,
            customer_id=request.customer_id,
            credits_currency_id=request.credits_currency_id,
            amount=credits_amount(Decimal(request.amount).quantize(_QUANTUM, ROUND_HALF_UP)),
            allow_overage=request.overage_unit_price is not None,
            overage_unit_price=request.overage_unit_price,
            external_user_id=request.external_user_id,
            signal_id=request.signal_id,
            signal_display_id=request.signal_display_id,
            event_name=request.event_name,
            order_id=request.order_id,
            product_id=request.product_id,
            occurred_at=request.occurred_at,
            signal_recorded_at=request.signal_recorded_at,
            status=CreditConsumption.Status.PENDING,
        )
        consumptions.append(consumption)
        state = states.get(target.pk) if target is not None else None
        if state is None:
            continue  # no pool yet: pending until credits arrive
        covered = state.available >= consumption.amount
        if not covered and not consumption.allow_overage and state.has_pending_lots:
            continue  # credits are on their way: wait for them
        spent = min(state.available, consumption.amount)
        consumption.pool = state.pool
        consumption.status = CreditConsumption.Status.APPLIED
        consumption.spent, consumption.overage, consumption.applied_at = (
            spent,
            consumption.amount - spent,
            now,
        )
        takes = _drain_plan(state.lots, spent)
        for lot, take in takes:
            lot.remaining -= take
            state.touched.add(lot.pk)
        state.available -= spent
        spends.append((consumption, state, takes))

    CreditConsumption.objects.bulk_create(consumptions)
    entries, drains = [], []
    for consumption, state, takes in spends:
        pool = state.pool
        if consumption.spent > 0:
            pool.balance -= consumption.spent
            entry = CreditEntry(
                organization_id=pool.organization_id,
                pool=pool,
                customer_id=pool.customer_id,
                credits_currency_id=pool.credits_currency_id,
                kind=CreditEntry.Kind.SPEND,
                amount=-consumption.spent,
                balance_after=pool.balance,
                origin_code=takes[0][0].origin_code,
                created_at=now,
                **_signal_refs(consumption),
            )
            entries.append(entry)
            drains.extend((entry, lot, take) for lot, take in takes)
        depleted = consumption.spent > 0 and pool.balance == 0
        _consumption_events(pool=pool, consumption=consumption, depleted=depleted, now=now)
    CreditEntry.objects.bulk_create(entries)
    CreditDrain.objects.bulk_create(
        CreditDrain(organization_id=organization.pk, entry=entry, grant=lot, amount=take)
        for entry, lot, take in drains
    )
    touched = [state for state in states.values() if state.touched]
    lots = [lot for state in touched for lot in state.lots if lot.pk in state.touched]
    for row in (*lots, *(state.pool for state in touched)):
        row.updated_at = now
    CreditGrant.objects.bulk_update(lots, ["remaining", "updated_at"])
    CreditPool.objects.bulk_update([state.pool for state in touched], ["balance", "updated_at"])
