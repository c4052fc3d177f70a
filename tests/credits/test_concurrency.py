"""Concurrent spends against one pool on PostgreSQL: the row lock serializes them, so the balance stays exact
and never goes negative, and each accepted spend has exactly one entry."""

import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from apps.credits import selectors, services
from apps.credits.exceptions import InsufficientCredits
from apps.credits.models import CreditConsumption, CreditDrain, CreditEntry, CreditPool
from tests.concurrency import RACE_TEST

pytestmark = RACE_TEST

THREADS = 50
SPENDS = 1000
AMOUNTS = (Decimal("0.5"), Decimal("1"), Decimal("1.5"))  # demand: 1,000 credits
SUPPLY = Decimal("600")


def test_1000_spends_from_50_threads_against_a_smaller_balance(organization, customer, currency):
    now = timezone.now()
    # Three lots expiring at different times: every spend also drains lots in order under the same lock.
    for days, amount in ((None, 250), (30, 200), (10, 150)):
        services.credit_grant_manual(
            organization=organization,
            customer=customer,
            credit_currency_key=currency.key,
            amount=Decimal(amount),
            expires_at=None if days is None else now + timedelta(days=days),
        )
    pool = CreditPool.objects.get(customer=customer)
    assert pool.balance == SUPPLY

    # Spend n burns AMOUNTS[n % 3] for signal n; every tenth one is sent twice, from another thread.
    work = [[] for _ in range(THREADS)]
    for n in range(SPENDS):
        work[n % THREADS].append(n)
        if n % 10 == 0:
            work[(n + 7) % THREADS].append(n)
    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(signals: list[int]) -> None:
        try:
            barrier.wait()
            for n in signals:
                try:
                    result = services.credit_consume(
                        organization=organization,
                        customer=customer,
                        credits_currency=currency,
                        amount=AMOUNTS[n % 3],
                        signal_id=n + 1,
                    )
                    outcome = "replayed" if result.replayed else result.status
                except InsufficientCredits:
                    outcome = "refused"
                with lock:
                    outcomes.append((n, outcome))
        except BaseException as exc:  # reported below: a deadlock or an IntegrityError would land here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(signals,)) for signals in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert errors == []
    assert len(outcomes) == SPENDS + SPENDS // 10

    accepted = {n for n, outcome in outcomes if outcome == "applied"}
    refused = {n for n, outcome in outcomes if outcome == "refused"}
    counts = Counter(outcome for _, outcome in outcomes)
    assert set(counts) <= {"applied", "refused", "replayed"}
    assert (
        accepted and refused and not accepted & refused
    )  # a refused spend wrote nothing, so a replay retries it

    pool.refresh_from_db()
    spent = sum((AMOUNTS[n % 3] for n in accepted), Decimal(0))
    assert pool.balance == SUPPLY - spent >= 0
    assert pool.balance < min(AMOUNTS[n % 3] for n in refused)  # nothing refused that would have fit

    spends = list(CreditEntry.objects.filter(pool=pool, kind="spend").order_by("pk"))
    assert len(spends) == len(accepted) == CreditConsumption.objects.count()
    assert {entry.signal_id for entry in spends} == {n + 1 for n in accepted}
    assert sum(-entry.amount for entry in spends) == spent
    # The entries were posted one after another: each balance_after continues the previous one.
    running = Decimal(0)
    for entry in CreditEntry.objects.filter(pool=pool).order_by("pk"):
        running += entry.amount
        assert entry.balance_after == running >= 0
    assert sum((drain.amount for drain in CreditDrain.objects.all()), Decimal(0)) == spent
    assert selectors.credit_ledger_drift() == []
    print(f"\n{SPENDS + SPENDS // 10} spend calls from {THREADS} threads in {elapsed:.1f} s: {dict(counts)}")
