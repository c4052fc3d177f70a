"""`credit_consume_batch` (rating's path): the rules of `credit_consume`, applied in order, with bulk writes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.credits import services
from apps.credits.models import CreditConsumption, CreditEntry, CreditEvent
from apps.credits.selectors import credit_ledger_drift
from apps.customers.services import customer_create

from .conftest import T0, entries_sum, org_pool

pytestmark = pytest.mark.django_db
D = Decimal


def grant(organization, customer, amount, **fields):
    return services.credit_grant_manual(
        organization=organization,
        customer=customer,
        credit_currency_key="chat_credits",
        amount=D(amount),
        now=T0,
        **fields,
    )


def requests(customer, currency, amounts, *, first_signal=1, price=None):
    return [
        services.ConsumeRequest(
            customer_id=customer.pk,
            credits_currency_id=currency.pk,
            amount=D(amount),
            signal_id=first_signal + n,
            occurred_at=T0,
            event_name="chat_message",
            overage_unit_price=price,
        )
        for n, amount in enumerate(amounts)
    ]


def consumed(customer):
    return [
        (c.signal_id, c.status, c.spent, c.overage)
        for c in CreditConsumption.objects.filter(customer=customer).order_by("signal_id")
    ]


def test_a_batch_ends_where_one_by_one_consumes_end(organization, customer, currency):
    twin = customer_create(organization=organization, name="Twin", external_id="twin")
    for who in (customer, twin):
        grant(organization, who, 10, expires_at=T0 + timedelta(days=5))
        grant(organization, who, 20)
    amounts = ["3", "4", "6", "1.5", "0.000001"]
    services.credit_consume_batch(
        organization=organization, requests=requests(customer, currency, amounts), now=T0 + timedelta(hours=1)
    )
    for request in requests(twin, currency, amounts, first_signal=101):
        services.credit_consume(
            organization=organization,
            customer=twin,
            credits_currency=currency,
            amount=request.amount,
            signal_id=request.signal_id,
            event_name="chat_message",
            now=T0 + timedelta(hours=1),
        )
    mine, theirs = org_pool(customer, currency), org_pool(twin, currency)
    assert mine.balance == theirs.balance == D("15.499999") == entries_sum(mine)
    assert [(s, st, sp, o) for s, st, sp, o in consumed(customer)] == [
        (s - 100, st, sp, o) for s, st, sp, o in consumed(twin)
    ]

    def drained(pool):
        return [
            [(d.grant.amount, d.amount) for d in entry.drains.order_by("pk")]
            for entry in CreditEntry.objects.filter(pool=pool, kind="spend").order_by("pk")
        ]

    assert drained(mine) == drained(theirs)
    assert drained(mine)[2] == [(D(10), D(3)), (D(20), D(3))]  # the expiring lot first, then the other
    assert credit_ledger_drift() == []


def test_beyond_the_balance_becomes_overage_priced_or_not_and_never_negative(
    organization, customer, currency
):
    grant(organization, customer, 10)
    services.credit_consume_batch(
        organization=organization, requests=requests(customer, currency, [8, 5], price=None), now=T0
    )
    services.credit_consume_batch(
        organization=organization, requests=requests(customer, currency, [4], first_signal=3, price=7), now=T0
    )
    assert consumed(customer) == [
        (1, "applied", 8, 0),
        (2, "applied", 2, 3),
        (3, "applied", 0, 4),
    ]
    overage = CreditConsumption.objects.get(signal_id=3)
    assert (overage.allow_overage, overage.overage_unit_price) == (True, 7)
    assert org_pool(customer, currency).balance == 0
    kinds = list(CreditEvent.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["credits.depleted", "credits.overage", "credits.overage"]


def test_no_pool_yet_waits_as_pending_until_credits_arrive(organization, customer, currency):
    services.credit_consume_batch(
        organization=organization, requests=requests(customer, currency, [2, 3]), now=T0
    )
    assert [status for _, status, _, _ in consumed(customer)] == ["pending", "pending"]
    grant(organization, customer, 100)
    assert [(status, spent) for _, status, spent, _ in consumed(customer)] == [("applied", 2), ("applied", 3)]
    assert org_pool(customer, currency).balance == 95


def test_a_replayed_batch_changes_nothing(organization, customer, currency):
    grant(organization, customer, 50)
    batch = requests(customer, currency, [1, 2, 3])
    services.credit_consume_batch(organization=organization, requests=batch, now=T0)
    before = (consumed(customer), list(CreditEntry.objects.values_list("pk", flat=True)))
    services.credit_consume_batch(organization=organization, requests=batch, now=T0)
    assert (consumed(customer), list(CreditEntry.objects.values_list("pk", flat=True))) == before
    assert org_pool(customer, currency).balance == 44
    call_command("credits_reconcile")  # exits non-zero on drift
