"""Concurrent invoice generation and posting on PostgreSQL: the unique constraint on (organization, order,
period start) lets one build win and the others return its invoice; the counter row lock hands out gapless
numbers."""

from datetime import timedelta

import time_machine

from apps.billing import services
from apps.billing.models import Invoice, InvoiceLine
from apps.orders.selectors import order_get
from tests.billing.fixtures import T0, fee, line, make_customer, make_order, make_product
from tests.concurrency import RACE_TEST, run_together

pytestmark = RACE_TEST

THREADS = 8


def test_concurrent_generation_builds_each_period_once(organization):
    product = make_product(organization)
    customer = make_customer(organization)
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):  # activation finds nothing due yet
        order = make_order(organization, customer, line(product, fee()), auto_post_invoices=True)
    assert not Invoice.objects.exists()
    at = T0 + timedelta(days=32)  # two periods due (the threads keep the real, later clock)

    def generate(_):
        fresh = order_get(organization=organization, order_id=order.display_id)
        return [invoice.pk for invoice in services.invoice_generate_for_order(order=fresh, at=at)]

    results = run_together([lambda: generate(None)] * THREADS)
    assert Invoice.objects.filter(order=order).count() == 2
    assert InvoiceLine.objects.filter(invoice__order=order).count() == 2
    expected = list(Invoice.objects.filter(order=order).order_by("period_start").values_list("pk", flat=True))
    assert all(result == expected for result in results)
    numbers = sorted(Invoice.objects.filter(order=order).values_list("number", flat=True))
    assert numbers == [1, 2]


def test_concurrent_postings_get_gapless_numbers(organization):
    customer = make_customer(organization)
    product = make_product(organization)
    drafts = []
    with time_machine.travel(T0, tick=False):  # activation builds each order's first invoice, a draft
        for index in range(THREADS):
            order = make_order(organization, customer, line(product, fee()), external_id=f"o{index}")
            drafts += services.invoice_generate_for_order(order=order)
    assert len(drafts) == THREADS and {d.status for d in drafts} == {"draft"}
    run_together([lambda d=draft: services.invoice_post(invoice=d).number for draft in drafts[:THREADS]])
    assert sorted(Invoice.objects.values_list("number", flat=True)) == list(range(1, THREADS + 1))
