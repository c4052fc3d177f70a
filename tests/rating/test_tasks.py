"""Rating's queueing: its own django-q2 queue, and one queued run per organization at a time."""

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
    cache.clear()
    return lambda: OrmQ.objects.filter(key="rating").count()


def test_runs_go_to_ratings_own_queue_once_per_organization(queued, organization, other_organization):
    tasks._queue(organization.pk)
    tasks._queue(organization.pk)
    tasks._queue(other_organization.pk)
    assert queued() == 2
    assert OrmQ.objects.exclude(key="rating").count() == 0  # nothing on the main queue


def test_a_started_run_lets_the_next_ingest_queue_another(queued, organization):
    tasks._queue(organization.pk)
    cache.delete(tasks._queued_key(organization.pk))  # what rate_pending does first
    tasks._queue(organization.pk)
    assert queued() == 2
