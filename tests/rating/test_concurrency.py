"""Several rating workers at once on PostgreSQL: `FOR UPDATE SKIP LOCKED` hands each pending signal to exactly one
of them, so every signal gets exactly one usage record."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.catalog.services import product_attributes_upsert, product_create
from apps.customers.services import customer_create
from apps.orders.services import order_create
from apps.rating.models import UsageRecord
from apps.rating.services import rating_run
from apps.signals.models import Signal
from apps.signals.services import signal_ingest

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL"),
]


def test_four_workers_rate_each_signal_once(organization):
    product = product_create(organization=organization, name="Agent", external_id="agent")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Emails",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "event_name": "email_sent",
                    "price_points": [{"currency": "USD", "unit_price": Decimal(10)}],
                },
            }
        ],
    )
    customer = customer_create(organization=organization, name="Acme", external_id="acme")
    order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": product.display_id}],
        start_date=datetime.now(UTC) - timedelta(days=1),
        creation_state="active",
    )
    at = datetime.now(UTC).isoformat()
    for _ in range(4):
        items = [
            {"eventName": "email_sent", "customer": {"externalCustomerId": "acme"}, "timestamp": at}
            for _ in range(500)
        ]
        assert signal_ingest(organization=organization, signals=items).ingested == 500
    # the ingests above enqueued rating on commit (run in-process under tests); start from pending again
    UsageRecord.objects.all().delete()
    Signal.objects.update(rating="pending")

    claimed, errors = [], []
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            while (result := rating_run(organization=organization, limit=100)).claimed:
                claimed.append(result.claimed)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(claimed) == 2000
    assert UsageRecord.objects.count() == 2000
    assert Signal.objects.filter(rating="rated").count() == 2000
