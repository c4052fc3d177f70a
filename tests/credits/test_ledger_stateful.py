"""A stateful property test of the ledger: random sequences of benefit grants, manual grants, spends (organization
and seat users, with and without overage), seat assignment changes, releases of pending grants, reversals, the
passing of time, expiry and rollover. After every step each pool's balance equals the sum of its entries and of
its lots, no pool is negative, and every step did what it should."""

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from apps.common.exceptions import Conflict
from apps.credits import selectors, services
from apps.credits.exceptions import InsufficientCredits
from apps.credits.models import CreditConsumption, CreditEntry, CreditGrant, CreditPool
from apps.orders.selectors import order_seat_list
from apps.orders.services import order_seat_assign
from tests.credits.conftest import T0, active_order, benefit, fee_line, seats_line, user

pytestmark = pytest.mark.django_db

USERS = ["ann", "bob", "cy"]
amounts = st.integers(min_value=1, max_value=6000).map(lambda cents: Decimal(cents) / 100)


class LedgerMachine(RuleBasedStateMachine):
    """Each example runs inside a savepoint rolled back at its end, on top of one shared order."""

    world: dict = {}

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.organization = self.world["organization"]
        self.customer = self.world["customer"]
        self.currency = self.world["currency"]
        self.order = self.world["order"]
        self.seats = [str(seat.pk) for seat in order_seat_list(order=self.order)]
        self.now = T0
        self.signal = 0
        self.spends = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ---

    def _pool_for(self, external_user_id):
        return selectors.credit_pool_for_consumption(
            organization_id=self.organization.pk,
            customer_id=self.customer.pk,
            credits_currency_id=self.currency.pk,
            external_user_id=external_user_id,
        )

    def _spendable(self, pool) -> Decimal:
        return sum((lot.remaining for lot in selectors.credit_lots_live(pool=pool, now=self.now)), Decimal(0))

    # --- rules ---

    @rule(days=st.integers(min_value=0, max_value=20), hours=st.integers(min_value=0, max_value=23))
    def time_passes(self, days, hours):
        self.now += timedelta(days=days, hours=hours)

    @rule()
    def benefits_due(self):
        services.credit_order_grants_due(
            organization=self.organization, order_id=self.order.display_id, now=self.now
        )
        # Running it again in the same period grants nothing more.
        assert (
            services.credit_order_grants_due(
                organization=self.organization, order_id=self.order.display_id, now=self.now
            )
            == 0
        )

    @rule()
    def expiry_sweep(self):
        services.credit_expire_due(now=self.now)
        assert not CreditGrant.objects.filter(status="active", expires_at__lte=self.now).exists()

    @rule()
    def invoice_paid(self):
        services.credit_grants_release(
            organization=self.organization,
            order_id=self.order.display_id,
            grant_timing="on_payment",
            now=self.now,
        )
        assert not CreditGrant.objects.filter(status="pending").exists()

    @rule(amount=amounts, expires_in=st.one_of(st.none(), st.integers(min_value=1, max_value=45)))
    def manual_grant(self, amount, expires_in):
        pool = self._pool_for(None)
        before = pool.balance if pool else Decimal(0)
        services.credit_grant_manual(
            organization=self.organization,
            customer=self.customer,
            credit_currency_key=self.currency.key,
            amount=amount,
            expires_at=None if expires_in is None else self.now + timedelta(days=expires_in),
            now=self.now,
        )
        # The pool got the grant, less whatever pending consumption it paid for and lots it expired on the way.
        after = self._pool_for(None)
        after.refresh_from_db()
        assert after.balance <= before + amount

    @rule(amount=amounts, who=st.sampled_from([None, *USERS]), overage=st.booleans())
    def spend(self, amount, who, overage):
        self.signal += 1
        pool = self._pool_for(who)
        if pool is not None:
            services.credit_pool_expire(pool_id=pool.pk, now=self.now)
            pool.refresh_from_db()
        spendable = self._spendable(pool) if pool is not None else None
        try:
            consumption = services.credit_consume(
                organization=self.organization,
                customer=self.customer,
                credits_currency=self.currency,
                amount=amount,
                signal_id=self.signal,
                external_user_id=who,
                allow_overage=overage,
                now=self.now,
            )
        except InsufficientCredits as error:
            refused = error
        else:
            refused = None
        if refused is not None:
            assert pool is not None and not overage
            assert spendable < amount and refused.available == spendable
            assert not CreditConsumption.objects.filter(signal_id=self.signal).exists()
            return
        if pool is None:
            assert consumption.status == "pending"
            return
        if consumption.status == "pending":  # credits on their way (pending lots): it waits
            assert spendable < amount and not overage
            assert pool.grants.filter(status="pending").exists()
            return
        assert consumption.pool_id == pool.pk
        assert consumption.spent == min(amount, spendable)
        assert consumption.spent + consumption.overage == amount
        assert overage or consumption.overage == 0
        fresh = CreditPool.objects.get(pk=pool.pk)
        assert fresh.balance == pool.balance - consumption.spent
        if consumption.spent:
            self.spends.append(consumption.pk)

    @rule(seat=st.integers(min_value=0, max_value=1), who=st.sampled_from([None, *USERS]))
    def assign_seat(self, seat, who):
        with contextlib.suppress(Conflict):  # a taken seat, or the user already holds the other one
            order_seat_assign(order=self.order, seat_id=self.seats[seat], user_external_id=who)

    @rule(data=st.data())
    def reverse_a_spend(self, data):
        if not self.spends:
            return
        consumption_id = data.draw(st.sampled_from(self.spends))
        entry = CreditEntry.objects.get(consumption_id=consumption_id, kind="spend")
        before = CreditPool.objects.get(pk=entry.pool_id).balance
        reversal = services.credit_entry_reverse(
            organization=self.organization, entry_id=entry.display_id, reason="test", now=self.now
        )
        assert reversal.amount == -entry.amount
        self.spends.remove(consumption_id)
        # The credits are back, less any pending consumption they paid for.
        assert CreditPool.objects.get(pk=entry.pool_id).balance <= before - entry.amount

    # --- invariants ---

    @invariant()
    def balances_equal_their_entries_and_lots(self):
        for pool in CreditPool.objects.filter(organization=self.organization):
            entries = sum((e.amount for e in CreditEntry.objects.filter(pool=pool)), Decimal(0))
            lots = CreditGrant.objects.filter(pool=pool)
            live = sum((lot.remaining for lot in lots if lot.status == "active"), Decimal(0))
            assert pool.balance == entries == live, (pool, entries, live)
            assert pool.balance >= 0
            assert all(0 <= lot.remaining <= lot.amount for lot in lots)
            assert all(lot.remaining == 0 for lot in lots if lot.status != "active")
        assert selectors.credit_ledger_drift(organization_id=self.organization.pk) == []

    @invariant()
    def consumptions_add_up(self):
        for consumption in CreditConsumption.objects.filter(organization=self.organization):
            if consumption.status == "applied":
                assert consumption.spent + consumption.overage == consumption.amount
            else:
                assert (consumption.spent, consumption.overage, consumption.pool_id) == (0, 0, None)


def test_ledger_state_machine(organization, customer, currency, product):
    for name in USERS:
        user(customer, name)
    order = active_order(
        organization,
        customer,
        fee_line(
            product,
            benefit(
                currency,
                100,
                id="org",
                rollover_amount=Decimal(30),
                rollover_duration=10,
                rollover_duration_unit="days",
            ),
            benefit(currency, 15, id="paid", credit_grant_timing="on_payment"),
        ),
        seats_line(
            product, 2, benefit(currency, 20, id="seat", recipient="seat", allocation_cadence="monthly")
        ),
    )
    LedgerMachine.world = {
        "organization": organization,
        "customer": customer,
        "currency": currency,
        "order": order,
    }
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
