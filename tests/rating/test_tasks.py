"""Rating's queueing: its own django-q2 queue, and at most RATING_WORKERS queued runs per organization."""

import pytest
from django.core.cache import cache
from django_q.conf import Conf
from django_q.models import OrmQ

from apps.rating import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch, settings):
    """Tasks go to the ORM broker instead of running in-process; returns a counter of rating's queued runs."""
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.RATING_CLUSTER = "rating"
    settings.RATING_WORKERS = 2
    cache.clear()
    yield lambda: OrmQ.objects.filter(key="rating").count()
    cache.clear()  # the marks would hold back the next tests' rating for their 10 seconds


def test_runs_go_to_ratings_own_queue_one_per_worker_and_organization(
    queued, organization, other_organization
):
    for _ in range(5):
        tasks._queue(organization.pk)
    tasks._queue(other_organization.pk)
    assert queued() == 3
    assert OrmQ.objects.exclude(key="rating").count() == 0  # nothing on the main queue


def test_a_started_run_frees_its_slot_for_the_next_ingest(queued, organization):
    tasks._queue(organization.pk)
    tasks._queue(organization.pk)
    tasks._queue(organization.pk)
    assert queued() == 2
    cache.delete(tasks._queued_key(organization.pk, 1))  # what rate_pending(…, slot=1) does first
    tasks._queue(organization.pk)
    assert queued() == 3
