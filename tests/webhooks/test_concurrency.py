"""Two workers at once on PostgreSQL: `FOR UPDATE SKIP LOCKED` hands each due delivery to one of them, without
waiting for the other, so no attempt is sent twice."""

import threading

import pytest
from django.db import connection, connections, transaction

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_deliver_due, webhook_deliveries_claim, webhook_event_publish
from tests.webhooks.conftest import NAME

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL"),
]


def _queue(organization, n: int) -> None:
    """`n` committed, due deliveries whose first-attempt task never ran."""
    with transaction.atomic():
        for i in range(n):
            webhook_event_publish(organization=organization, name=NAME, data={"i": i})
        transaction.get_connection().run_on_commit.clear()  # as if the tasks were lost


def test_a_second_worker_skips_rows_the_first_holds_instead_of_waiting(organization, secret):
    _queue(organization, 10)
    held, release, errors = threading.Event(), threading.Event(), []
    first: list = []
    released: list[bool] = []

    def holder():
        try:
            with transaction.atomic():
                first.extend(webhook_deliveries_claim(organization_id=organization.pk, limit=5))
                held.set()
                # Keeps its row locks until the other worker is done. Had that worker waited for these
                # locks instead of skipping them, this would time out first.
                released.append(release.wait(timeout=5))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(timeout=20)
    second = webhook_deliveries_claim(organization_id=organization.pk, limit=10)  # would block without SKIP
    release.set()
    thread.join()
    assert errors == [] and released == [True]
    assert len(first) == 5 and len(second) == 5
    assert {c.delivery_id for c in first}.isdisjoint({c.delivery_id for c in second})


def test_two_sweeps_send_every_delivery_exactly_once(organization, secret, receiver):
    _queue(organization, 40)
    barrier, errors, sent = threading.Barrier(2), [], []

    def worker():
        try:
            barrier.wait()
            sent.append(webhook_deliver_due())
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sum(sent) == 40
    ids = receiver.ids()
    assert len(ids) == 40 and len(set(ids)) == 40
    assert set(WebhookDelivery.objects.values_list("status", "attempt_count")) == {("success", 1)}
    for request in receiver.requests:
        request.verify(secret)
