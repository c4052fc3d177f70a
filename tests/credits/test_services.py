"""The credit ledger's services: grants (manual and from benefits), spends, drain order, expiry, rollover,
seats, overage, pending consumption, corrections, events and the append-only guarantee."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from apps.catalog.services import credit_currency_update
from apps.common.exceptions import DomainError, ReferenceNotFound
from apps.credits import selectors, services, tasks
from apps.credits.exceptions import IdempotencyKeyReused, InsufficientCredits
from apps.credits.models import (
    CreditConsumption,
    CreditDrain,
    CreditEntry,
    CreditEvent,
    CreditGrant,
    CreditPool,
)
from apps.customers.services import customer_alias_create, customer_create
from apps.orders.selectors import order_seat_list
from apps.orders.services import order_create, order_pause, order_resume, order_seat_assign, order_update
from tests.credits.conftest import (
    T0,
    active_order,
    benefit,
    entries_sum,
    fee_line,
    lots,
    org_pool,
    seats_line,
    user,
)

pytestmark = pytest.mark.django_db

D = Decimal


def grant(organization, customer, amount, **fields):
    fields.setdefault("now", T0)
    return services.credit_grant_manual(
        organization=organization,
        customer=customer,
        credit_currency_key="chat_credits",
        amount=D(amount),
        **fields,
    )


def consume(organization, customer, currency, amount, signal_id, **fields):
    fields.setdefault("now", T0)
    return services.credit_consume(
        organization=organization,
        customer=customer,
        credits_currency=currency,
        amount=D(amount),
        signal_id=signal_id,
        **fields,
    )


def assert_consistent(*pools):
    for pool in pools:
        pool.refresh_from_db()
        assert pool.balance == entries_sum(pool) >= 0
        live = sum((lot.remaining for lot in lots(pool, status="active")), D(0))
        assert pool.balance == live
    assert selectors.credit_ledger_drift() == []


def ledger_rows() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (CreditPool, CreditGrant, CreditEntry, CreditDrain, CreditConsumption, CreditEvent)
    } | {"balances": sorted(CreditPool.objects.values_list("pk", "balance"))}


# --- manual grants -------------------------------------------------------------------------------------------


def test_manual_grant_opens_the_pool_and_posts_one_entry(organization, customer, currency):
    result = grant(organization, customer, "500.5", expires_at=T0 + timedelta(days=30))
    assert result.created
    pool = org_pool(customer, currency)
    assert (pool.recipient, pool.balance) == ("organization", D("500.5"))
    [entry] = CreditEntry.objects.filter(pool=pool)
    assert (entry.kind, entry.amount, entry.balance_after, entry.origin_code) == (
        "grant",
        D("500.5"),
        D("500.5"),
        "manual",
    )
    assert entry.grant == result.grant
    assert (result.grant.starts_at, result.grant.expires_at) == (T0, T0 + timedelta(days=30))
    assert_consistent(pool)


def test_manual_grant_idempotency_key(organization, customer, currency):
    first = grant(organization, customer, 10, idempotency_key="topup-1")
    again = grant(organization, customer, 10, idempotency_key="topup-1")
    assert first.created and not again.created and again.grant.pk == first.grant.pk
    before = ledger_rows()
    with pytest.raises(IdempotencyKeyReused) as error:
        grant(organization, customer, 11, idempotency_key="topup-1")
    assert error.value.field == "idempotencyKey"
    assert ledger_rows() == before
    assert org_pool(customer, currency).balance == 10
    # Without a key every call grants.
    grant(organization, customer, 1)
    grant(organization, customer, 1)
    assert org_pool(customer, currency).balance == 12


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": D("0")}, "amount"),
        ({"amount": D("-1")}, "amount"),
        ({"amount": D("0.0000001")}, "amount"),
        ({"amount": D("1e15")}, "amount"),
        ({"credit_currency_key": "nope"}, "creditCurrencyKey"),
        ({"starts_at": T0 + timedelta(minutes=5)}, "startsAt"),
        ({"expires_at": T0}, "expiresAt"),
        ({"expires_at": T0 - timedelta(days=1)}, "expiresAt"),
    ],
)
def test_manual_grant_refuses_bad_input_and_writes_nothing(organization, customer, currency, fields, field):
    request = {"credit_currency_key": "chat_credits", "amount": D(5), "now": T0, **fields}
    before = ledger_rows()
    with pytest.raises(DomainError) as error:
        services.credit_grant_manual(organization=organization, customer=customer, **request)
    assert error.value.field == field
    assert ledger_rows() == before


def test_manual_grant_of_an_archived_currency_is_refused(organization, customer, currency):
    credit_currency_update(currency=currency, status="archived")
    with pytest.raises(DomainError, match="archived"):
        grant(organization, customer, 5)
    assert not CreditPool.objects.exists()


def test_manual_grant_forgives_a_little_clock_skew_by_clamping(organization, customer, currency):
    result = grant(organization, customer, 5, starts_at=T0 + timedelta(seconds=30))
    assert result.grant.starts_at == T0


def test_another_organizations_currency_key_is_unknown(organization, other_organization, customer, currency):
    other = customer_create(organization=other_organization, name="Other")
    with pytest.raises(ReferenceNotFound):
        services.credit_grant_manual(
            organization=other_organization, customer=other, credit_currency_key="chat_credits", amount=D(1)
        )


# --- spends ----------------------------------------------------------------------------------------------------


def test_spends_drain_earliest_expiring_first_then_oldest(organization, customer, currency):
    never = grant(organization, customer, 10).grant
    late = grant(organization, customer, 10, expires_at=T0 + timedelta(days=20)).grant
    soon = grant(organization, customer, 10, expires_at=T0 + timedelta(days=5)).grant
    also_never = grant(organization, customer, 10).grant
    consumption = consume(organization, customer, currency, 25, signal_id=1)
    assert (consumption.status, consumption.spent, consumption.overage) == ("applied", 25, 0)
    [entry] = CreditEntry.objects.filter(kind="spend")
    assert entry.amount == -25 and entry.consumption == consumption
    drains = [(d.grant_id, d.amount) for d in CreditDrain.objects.filter(entry=entry).order_by("pk")]
    assert drains == [(soon.pk, 10), (late.pk, 10), (never.pk, 5)]
    consume(organization, customer, currency, 10, signal_id=2)
    for lot in (never, also_never):
        lot.refresh_from_db()
    assert (never.remaining, also_never.remaining) == (0, 5)
    assert_consistent(org_pool(customer, currency))


def test_a_spend_beyond_the_balance_is_refused_without_overage(organization, customer, currency):
    grant(organization, customer, 5)
    before = ledger_rows()
    with pytest.raises(InsufficientCredits) as error:
        consume(organization, customer, currency, "5.000001", signal_id=1)
    assert (error.value.requested, error.value.available) == (D("5.000001"), 5)
    assert error.value.pool_id == org_pool(customer, currency).pk
    assert ledger_rows() == before
    consume(organization, customer, currency, 5, signal_id=1)  # exactly the balance is fine
    assert org_pool(customer, currency).balance == 0


def test_overage_takes_what_the_pool_has_and_records_the_rest(organization, customer, currency):
    grant(organization, customer, 5)
    consumption = consume(
        organization,
        customer,
        currency,
        8,
        signal_id=7,
        allow_overage=True,
        overage_unit_price=2,
        event_name="chat",
    )
    assert (consumption.spent, consumption.overage, consumption.overage_unit_price) == (5, 3, 2)
    pool = org_pool(customer, currency)
    assert pool.balance == 0
    events = {e.kind: e.payload for e in CreditEvent.objects.filter(pool=pool)}
    assert set(events) == {"credits.depleted", "credits.overage"}
    assert events["credits.overage"]["overage"] == "3.000000"
    assert events["credits.overage"]["customerId"] == customer.display_id
    assert events["credits.depleted"]["creditsCurrencyId"] == currency.display_id
    # Once empty, overage-allowed spends write no entry, only the overage.
    more = consume(organization, customer, currency, 2, signal_id=8, allow_overage=True)
    assert (more.spent, more.overage) == (0, 2)
    assert CreditEntry.objects.filter(kind="spend").count() == 1
    assert CreditEvent.objects.filter(kind="credits.depleted").count() == 1  # a transition, not a state
    assert_consistent(pool)


def test_consumption_is_rounded_to_the_ledgers_six_decimals(organization, customer, currency):
    grant(organization, customer, 1)
    consumption = consume(organization, customer, currency, D("0.1234565"), signal_id=1)
    assert consumption.amount == consumption.spent == D("0.123457")
    with pytest.raises(DomainError):
        consume(organization, customer, currency, D("0.0000004"), signal_id=2)
    assert org_pool(customer, currency).balance == D("0.876543")


def test_a_replayed_signal_spends_once(organization, customer, currency):
    grant(organization, customer, 10)
    first = consume(organization, customer, currency, 3, signal_id=42)
    again = consume(organization, customer, currency, 3, signal_id=42)
    assert not first.replayed and again.replayed and again.pk == first.pk
    assert org_pool(customer, currency).balance == 7
    assert CreditEntry.objects.filter(kind="spend").count() == 1
    # The same signal may burn another currency once too.
    other = services.credit_consume(
        organization=organization,
        customer=customer,
        credits_currency=services._active_currency_by_key(organization=organization, key="chat_credits"),
        amount=D(3),
        signal_id=42,
    )
    assert other.replayed


def test_spend_records_the_signal_facts(organization, customer, currency, product):
    from apps.signals.models import Signal

    grant(organization, customer, 10)
    signal = Signal.objects.create(
        organization=organization,
        event_name="chat_message",
        customer=customer,
        product=product,
        timestamp=T0 - timedelta(minutes=5),
        created_at=T0 - timedelta(minutes=1),
    )
    consumption = consume(
        organization, customer, currency, 2, signal_id=signal.pk, now=T0 + timedelta(hours=1)
    )
    entry = CreditEntry.objects.get(kind="spend")
    assert (entry.signal_display_id, entry.event_name, entry.product_id) == (
        signal.display_id,
        "chat_message",
        product.pk,
    )
    assert entry.signal_recorded_at == signal.created_at
    assert consumption.occurred_at == signal.timestamp


# --- pending consumption ----------------------------------------------------------------------------------------


def test_consumption_before_any_pool_waits_and_is_applied_when_credits_arrive(
    organization, customer, currency
):
    first = consume(organization, customer, currency, 3, signal_id=1, occurred_at=T0 - timedelta(hours=2))
    second = consume(organization, customer, currency, 50, signal_id=2, occurred_at=T0 - timedelta(hours=1))
    third = consume(organization, customer, currency, 1, signal_id=3, occurred_at=T0)
    assert {c.status for c in (first, second, third)} == {"pending"}
    assert not CreditPool.objects.exists()
    assert [c.pk for c in selectors.credit_pending_consumption_list(customer=customer)] == [
        first.pk,
        second.pk,
        third.pk,
    ]
    grant(organization, customer, 10)
    # Oldest first while they fit: the 50 does not, and it holds back the 1 behind it.
    assert [c.pk for c in selectors.credit_pending_consumption_list(customer=customer)] == [
        second.pk,
        third.pk,
    ]
    assert org_pool(customer, currency).balance == 7
    grant(organization, customer, 100)
    assert list(selectors.credit_pending_consumption_list(customer=customer)) == []
    assert org_pool(customer, currency).balance == 56
    assert CreditEntry.objects.filter(kind="spend").count() == 3
    assert_consistent(org_pool(customer, currency))


def test_pending_consumption_is_idempotent_per_signal(organization, customer, currency):
    consume(organization, customer, currency, 3, signal_id=1)
    again = consume(organization, customer, currency, 3, signal_id=1)
    assert again.replayed and CreditConsumption.objects.count() == 1


def test_pending_sweep_applies_consumption_whose_pool_appeared(organization, customer, currency):
    consume(organization, customer, currency, 3, signal_id=1)
    # A pool that appeared without a grant applying the backlog (e.g. a race with the consume).
    pool = services._pool_get_or_create(
        organization_id=organization.pk, customer_id=customer.pk, credits_currency_id=currency.pk
    )
    with transaction.atomic():
        [locked] = selectors.credit_pools_for_update(pool_ids=[pool.pk])
        services._lot_open(
            pool=locked, now=T0, origin_code="manual", amount=D(5), starts_at=T0, period_start=T0
        )
    assert services.credit_pending_apply_all() == 1
    assert org_pool(customer, currency).balance == 2


# --- expiry and rollover ----------------------------------------------------------------------------------------


def test_expired_lots_are_not_spent_even_before_the_sweep(organization, customer, currency):
    grant(organization, customer, 10, expires_at=T0 + timedelta(days=1))
    grant(organization, customer, 3)
    with pytest.raises(InsufficientCredits):
        consume(organization, customer, currency, 4, signal_id=1, now=T0 + timedelta(days=1))
    consume(organization, customer, currency, 3, signal_id=2, now=T0 + timedelta(days=1))
    pool = org_pool(customer, currency)
    expiry = CreditEntry.objects.get(kind="expiry")
    assert expiry.amount == -10 and pool.balance == 0
    assert_consistent(pool)


def test_the_expiry_sweep_posts_each_expiry_once(organization, customer, currency):
    grant(organization, customer, 10, expires_at=T0 + timedelta(days=1))
    assert services.credit_expire_due(now=T0 + timedelta(hours=23)) == 0
    assert services.credit_expire_due(now=T0 + timedelta(days=1)) == 1
    assert services.credit_expire_due(now=T0 + timedelta(days=2)) == 0
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        assert tasks.expire_due() == 0
    assert CreditEntry.objects.filter(kind="expiry").count() == 1
    assert org_pool(customer, currency).balance == 0


def test_rollover_carries_unused_credits_up_to_the_cap_for_its_duration(
    organization, customer, currency, product
):
    line = fee_line(
        product,
        benefit(currency, 1000, rollover_amount=D(100), rollover_duration=10, rollover_duration_unit="days"),
    )
    order = active_order(organization, customer, line)
    assert services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0) == 1
    consume(organization, customer, currency, 850, signal_id=1, now=T0 + timedelta(days=3))
    feb = T0 + timedelta(days=31)
    services.credit_expire_due(now=feb)
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=feb)
    pool = org_pool(customer, currency)
    kinds = list(CreditEntry.objects.filter(pool=pool).order_by("pk").values_list("kind", "amount"))
    assert kinds == [("grant", 1000), ("spend", -850), ("expiry", -150), ("rollover", 100), ("grant", 1000)]
    rollover = CreditGrant.objects.get(is_rollover=True)
    assert (rollover.starts_at, rollover.expires_at) == (feb, feb + timedelta(days=10))
    [balance] = selectors.credit_balance_list(customer=customer, now=feb + timedelta(days=1))
    assert (balance.available, balance.total) == (1100, 1100)
    windows = [(lot.is_in_rollover_window, lot.rollover_end_date) for lot in balance.grants]
    assert (True, feb + timedelta(days=10)) in windows
    # The rollover lot expires first, so it is spent first.
    consume(organization, customer, currency, 60, signal_id=2, now=feb + timedelta(days=2))
    rollover.refresh_from_db()
    assert rollover.remaining == 40
    # At the end of its window what is left expires, and a rollover lot does not roll over again.
    services.credit_expire_due(now=feb + timedelta(days=10))
    rollover.refresh_from_db()
    assert (rollover.status, rollover.remaining) == ("expired", 0)
    assert CreditGrant.objects.filter(is_rollover=True).count() == 1
    assert pool.__class__.objects.get(pk=pool.pk).balance == 1000
    assert_consistent(pool)


def test_rollover_without_a_duration_lasts_one_allocation_period(organization, customer, currency, product):
    order = active_order(
        organization, customer, fee_line(product, benefit(currency, 10, rollover_amount=D(50)))
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0)
    services.credit_expire_due(now=T0 + timedelta(days=31))
    rollover = CreditGrant.objects.get(is_rollover=True)
    assert rollover.amount == 10  # all of it: under the cap
    assert rollover.expires_at == T0 + timedelta(days=31 + 28)


# --- grants from benefits ---------------------------------------------------------------------------------------


def test_benefit_grants_are_idempotent_per_period(organization, customer, currency, product):
    order = active_order(organization, customer, fee_line(product, benefit(currency, 1000)))
    assert services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0) == 1
    for moment in (T0, T0 + timedelta(days=10), T0 + timedelta(days=30, hours=23)):
        assert (
            services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=moment)
            == 0
        )
    assert (
        services.credit_order_grants_due(
            organization=organization, order_id=order.display_id, now=T0 + timedelta(days=31)
        )
        == 1
    )
    lot_periods = [(lot.period_start, lot.period_end) for lot in CreditGrant.objects.order_by("pk")]
    assert lot_periods == [(T0, T0 + timedelta(days=31)), (T0 + timedelta(days=31), T0 + timedelta(days=59))]
    assert CreditGrant.objects.first().order == order


def test_upfront_cadence_grants_per_billing_period_and_monthly_cadence_per_month(
    organization, customer, currency, product
):
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 300, id="q"), frequency="quarterly"),
        fee_line(product, benefit(currency, 100, id="m", allocation_cadence="monthly"), frequency="annual"),
    )
    days = [0, 20, 40, 70, 95]
    for day in days:
        services.credit_order_grants_due(
            organization=organization, order_id=order.display_id, now=T0 + timedelta(days=day)
        )
    amounts = sorted(
        CreditGrant.objects.values_list("amount", "period_start"), key=lambda row: (row[1], row[0])
    )
    assert amounts == [
        (100, T0),
        (300, T0),
        (100, T0 + timedelta(days=31)),
        (100, T0 + timedelta(days=59)),
        (100, T0 + timedelta(days=90)),
        (300, T0 + timedelta(days=90)),
    ]


def test_backdated_orders_grant_the_current_period_only(organization, customer, currency, product):
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 10)),
        start=T0.replace(year=2025, month=10),
    )
    services.credit_order_grants_due(
        organization=organization, order_id=order.display_id, now=T0 + timedelta(days=3)
    )
    [lot] = CreditGrant.objects.all()
    assert lot.period_start == T0 and lot.period_end == T0 + timedelta(days=31)


def test_paused_draft_and_ended_orders_grant_nothing(organization, customer, currency, product):
    line = fee_line(product, benefit(currency, 10))
    order = active_order(organization, customer, line, end_date=T0 + timedelta(days=40))
    draft = order_create(
        organization=organization,
        customer_id=customer.display_id,
        start_date=T0,
        currency="USD",
        lines=[line],
    )
    assert services.credit_order_grants_due(organization=organization, order_id=draft.display_id, now=T0) == 0
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        order_pause(order=order)
        assert services.credit_order_grants_due(organization=organization, order_id=order.display_id) == 0
        order_resume(order=order)
        assert services.credit_order_grants_due(organization=organization, order_id=order.display_id) == 1
    # The last period is truncated at the end date; from the end date on nothing is granted.
    assert (
        services.credit_order_grants_due(
            organization=organization, order_id=order.display_id, now=T0 + timedelta(days=35)
        )
        == 1
    )
    assert CreditGrant.objects.filter(order=order).order_by("pk").last().expires_at == T0 + timedelta(days=40)
    assert (
        services.credit_order_grants_due(
            organization=organization, order_id=order.display_id, now=T0 + timedelta(days=40)
        )
        == 0
    )


def test_grants_on_invoice_posted_wait_as_pending_grants_until_billing_releases_them(
    organization, customer, currency, product
):
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 100, credit_grant_timing="on_invoice_posted")),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0)
    [lot] = CreditGrant.objects.all()
    assert (lot.status, lot.remaining) == ("pending", 0)
    assert not CreditEntry.objects.exists()
    pending = selectors.credit_transaction_list(organization=organization, type="pendingGrant")
    assert [t.type for t in pending[0:10]] == ["pendingGrant"] and pending[0:1][0].amount == 100
    # Usage while credits are on their way waits instead of being refused.
    waiting = consume(organization, customer, currency, 30, signal_id=1, now=T0 + timedelta(hours=1))
    assert waiting.status == "pending"
    assert (
        services.credit_grants_release(
            organization=organization,
            order_id=order.display_id,
            grant_timing="on_invoice_posted",
            now=T0 + timedelta(hours=2),
        )
        == 1
    )
    pool = org_pool(customer, currency)
    assert pool.balance == 70
    waiting.refresh_from_db()
    assert waiting.status == "applied"
    assert selectors.credit_transaction_list(organization=organization, type="pendingGrant").count() == 0
    assert_consistent(pool)


def test_seat_benefits_fill_one_pool_per_seat_and_spends_follow_the_seat(
    organization, customer, currency, product
):
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 1000)),
        seats_line(product, 2, benefit(currency, 50, id="s", recipient="seat")),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0)
    first, second = order_seat_list(order=order)
    seat_pools = {p.seat_id: p for p in CreditPool.objects.filter(recipient="seat")}
    assert set(seat_pools) == {first.pk, second.pk} and {p.balance for p in seat_pools.values()} == {50}
    user(customer, "ann")
    user(customer, "bob")
    order_seat_assign(order=order, seat_id=str(first.pk), user_external_id="ann")

    consume(organization, customer, currency, 5, signal_id=1, external_user_id="ann")
    consume(organization, customer, currency, 7, signal_id=2, external_user_id="bob")  # no seat: organization
    consume(organization, customer, currency, 1, signal_id=3)
    assert seat_pools[first.pk].__class__.objects.get(pk=seat_pools[first.pk].pk).balance == 45
    assert org_pool(customer, currency).balance == 992
    # A seat pool runs dry on its own: no fallback to the organization pool.
    with pytest.raises(InsufficientCredits):
        consume(organization, customer, currency, 46, signal_id=4, external_user_id="ann")
    # The pool belongs to the seat: reassigned, its next holder spends what is left.
    order_seat_assign(order=order, seat_id=str(first.pk), user_external_id=None)
    consume(organization, customer, currency, 1, signal_id=5, external_user_id="ann")
    order_seat_assign(order=order, seat_id=str(first.pk), user_external_id="bob")
    consume(organization, customer, currency, 45, signal_id=6, external_user_id="bob")
    assert CreditPool.objects.get(seat_id=first.pk).balance == 0
    assert org_pool(customer, currency).balance == 991
    balances = {b.recipient: b for b in selectors.credit_balance_list(customer=customer, now=T0)}
    assert (balances["seat"].available, balances["seat"].total, balances["seat"].used) == (50, 100, 50)
    assert_consistent(*CreditPool.objects.all())


def test_seat_benefit_on_a_non_seat_line_fills_the_orders_seats(organization, customer, currency, product):
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(currency, 20, recipient="seat")),
        seats_line(product, 3),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0)
    assert CreditPool.objects.filter(recipient="seat").count() == 3
    assert not CreditPool.objects.filter(recipient="organization").exists()


def test_infinite_benefits_grant_no_lots(organization, customer, currency, product):
    order = active_order(
        organization, customer, fee_line(product, benefit(currency, 10, is_infinite_total=True))
    )
    assert services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0) == 0


def test_the_sweep_looks_at_an_order_again_only_when_a_period_turns_or_the_order_changes(
    organization, customer, currency, product
):
    with time_machine.travel(T0, tick=False):
        order = active_order(organization, customer, fee_line(product, benefit(currency, 10)))
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert selectors.credit_orders_to_grant(organization=organization) == [order.display_id]
        assert tasks.grant_due_benefits() == 1
        assert selectors.credit_orders_to_grant(organization=organization) == []
    (first,) = lots(org_pool(customer, currency))
    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        assert selectors.credit_orders_to_grant(organization=organization) == []
        order_update(order=order, metadata={"note": "changed"})
        assert selectors.credit_orders_to_grant(organization=organization) == [order.display_id]
        assert tasks.grant_due_benefits() == 0
        assert selectors.credit_orders_to_grant(organization=organization) == []
    with time_machine.travel(first.period_end + timedelta(seconds=1), tick=False):
        assert selectors.credit_orders_to_grant(organization=organization) == [order.display_id]
        assert tasks.grant_due_benefits() == 1
        assert selectors.credit_orders_to_grant(organization=organization) == []


def test_the_scheduled_task_grants_for_every_active_order_of_every_organization(
    organization, other_organization, customer, currency, product
):
    from apps.catalog.services import credit_currency_create, product_create

    order = active_order(organization, customer, fee_line(product, benefit(currency, 10)))
    other_customer = customer_create(organization=other_organization, name="Other", external_id="o")
    other_currency = credit_currency_create(organization=other_organization, name="C", key="c")
    other_product = product_create(organization=other_organization, name="P")
    other_order = active_order(
        other_organization, other_customer, fee_line(other_product, benefit(other_currency, 5))
    )
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert tasks.grant_due_benefits() == 2
        assert tasks.grant_due_benefits() == 0
        assert tasks.grant_order_benefits(organization.pk, order.display_id) == 0
    assert {lot.order_id for lot in CreditGrant.objects.all()} == {order.pk, other_order.pk}


# --- corrections, immutability, reconciliation, events ------------------------------------------------------------


def test_a_spend_is_reversed_by_an_adjustment(organization, customer, currency):
    grant(organization, customer, 10, expires_at=T0 + timedelta(days=1))
    consume(organization, customer, currency, 4, signal_id=1)
    spend = CreditEntry.objects.get(kind="spend")
    reversal = services.credit_entry_reverse(
        organization=organization, entry_id=spend.display_id, reason="refund", now=T0
    )
    assert (reversal.kind, reversal.amount, reversal.reverses, reversal.note) == (
        "adjustment",
        4,
        spend,
        "refund",
    )
    assert (
        services.credit_entry_reverse(
            organization=organization, entry_id=spend.display_id, reason="x", now=T0
        )
        == reversal
    )
    pool = org_pool(customer, currency)
    assert pool.balance == 10
    # The given-back credits never expire.
    services.credit_expire_due(now=T0 + timedelta(days=2))
    pool.refresh_from_db()
    assert pool.balance == 4
    assert_consistent(pool)


def test_an_untouched_grant_is_reversed_and_a_used_one_is_not(organization, customer, currency):
    untouched = grant(organization, customer, 10).grant
    used = grant(organization, customer, 10, expires_at=T0 + timedelta(days=1)).grant
    consume(organization, customer, currency, 1, signal_id=1)
    entry_of = {e.grant_id: e for e in CreditEntry.objects.filter(kind="grant")}
    services.credit_entry_reverse(
        organization=organization, entry_id=entry_of[untouched.pk].display_id, reason="oops"
    )
    untouched.refresh_from_db()
    assert (untouched.status, untouched.remaining) == ("revoked", 0)
    with pytest.raises(DomainError) as error:
        services.credit_entry_reverse(
            organization=organization, entry_id=entry_of[used.pk].display_id, reason="no"
        )
    assert error.value.code == "NOT_REVERSIBLE"
    assert org_pool(customer, currency).balance == 9
    assert_consistent(org_pool(customer, currency))


def test_posted_entries_and_drains_cannot_be_updated_or_deleted(organization, customer, currency):
    grant(organization, customer, 10)
    consume(organization, customer, currency, 1, signal_id=1)
    entry = CreditEntry.objects.get(kind="spend")
    for attempt in (
        lambda: CreditEntry.objects.filter(pk=entry.pk).update(amount=D(-2)),
        lambda: CreditEntry.objects.filter(pk=entry.pk).delete(),
        lambda: CreditDrain.objects.update(amount=D(5)),
        lambda: CreditDrain.objects.all().delete(),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE credits_creditentry SET amount = 0")
    entry.refresh_from_db()
    assert entry.amount == -1


@pytest.mark.ledger_drift_expected
def test_reconcile_reports_zero_rows_then_drift(organization, customer, currency, capsys):
    grant(organization, customer, 10)
    consume(organization, customer, currency, 3, signal_id=1)
    call_command("credits_reconcile")
    assert "0 rows" in capsys.readouterr().out
    pool = org_pool(customer, currency)
    CreditPool.objects.filter(pk=pool.pk).update(balance=D(8))  # what an unlocked update would do
    with pytest.raises(CommandError, match="2 rows of drift") as error:
        call_command("credits_reconcile", "--organization", organization.display_id)
    assert error.value.returncode == 1  # `manage.py credits_reconcile` exits with it
    out = capsys.readouterr().out
    assert f"\t{pool.pk}\t-\tpool vs entries\t8.000000\t7.000000" in out
    assert f"\t{pool.pk}\t-\tpool vs lots\t8.000000\t7.000000" in out


def test_the_outbox_becomes_outbound_webhook_events_once(organization, customer, currency):
    from apps.webhooks.models import WebhookEvent

    grant(organization, customer, 1)
    consume(organization, customer, currency, 2, signal_id=1, allow_overage=True)
    events = selectors.credit_event_list_unpublished(organization=organization)
    assert [e.kind for e in events] == ["credits.depleted", "credits.overage"]

    assert services.credit_events_publish() == 2
    assert services.credit_events_publish() == 0
    assert selectors.credit_event_list_unpublished() == []
    published = list(WebhookEvent.objects.filter(organization=organization).order_by("pk"))
    assert [e.name for e in published] == ["billing-credits-depleted", "billing-overage-incurred"]
    overage = published[1].data
    assert overage["customerId"] == customer.display_id
    assert overage["creditsCurrencyId"] == currency.display_id
    assert overage["overage"] == "1.000000"
    assert overage["balance"] == "0.000000"
    # Re-publishing an event (a publisher that died before marking it) records no second webhook event.
    CreditEvent.objects.update(published_at=None)
    assert services.credit_events_publish() == 2
    assert WebhookEvent.objects.filter(organization=organization).count() == 2


# --- transactions -------------------------------------------------------------------------------------------------


def test_transaction_filters(organization, customer, currency, product):
    bob = customer_create(organization=organization, name="Bob", external_id="bob")
    customer_alias_create(customer=customer, alias="acme-old")
    order = active_order(organization, customer, fee_line(product, benefit(currency, 100)))
    services.credit_order_grants_due(organization=organization, order_id=order.display_id, now=T0)
    grant(organization, bob, 5, now=T0 + timedelta(days=1))
    consume(organization, customer, currency, 2, signal_id=1, now=T0 + timedelta(days=2), order_id=order.pk)

    def ids(**filters):
        found = selectors.credit_transaction_list(organization=organization, **filters)
        return [(t.kind, t.customer_external_id) for t in found[0 : found.count()]]

    assert ids() == [("spend", "acme"), ("grant", "bob"), ("grant", "acme")]
    assert ids(customer_id=bob.display_id) == [("grant", "bob")]
    assert ids(external_customer_id="acme-old") == [("spend", "acme"), ("grant", "acme")]
    assert ids(external_customer_id="nobody") == []
    assert ids(type="spend") == [("spend", "acme")]
    assert ids(type="grant") == [("grant", "bob"), ("grant", "acme")]
    assert ids(order_id=order.display_id) == [("spend", "acme"), ("grant", "acme")]
    assert ids(credits_currency_id=currency.display_id) == ids()
    assert ids(credit_currency_key="chat_credits") == ids()
    assert ids(credit_currency_key="other") == []
    assert ids(created_at_from=T0 + timedelta(days=1)) == [("spend", "acme"), ("grant", "bob")]
    assert ids(created_at_to=T0 + timedelta(days=1)) == [("grant", "bob"), ("grant", "acme")]
