"""django-q2 entry points for rating. They take ids, call services and are safe to run again."""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_q.tasks import async_task

from apps.accounts.selectors import organization_get
from apps.rating.services import BATCH, RatingResult, rating_run
from apps.signals.selectors import organizations_with_pending_signals

MAX_BATCHES = 200  # per call; the next ingest or the schedule picks up the rest
QUEUED_MARK_SECONDS = 10


def _queued_key(organization_id: int) -> str:
    return f"rating:queued:{organization_id}"


def rate_pending(organization_id: int) -> dict:
    """Rate the organization's pending signals, batch after batch, until none are left (or MAX_BATCHES)."""
    cache.delete(_queued_key(organization_id))  # from here on, a new ingest queues the next run
    organization = organization_get(organization_id=organization_id)
    total = RatingResult()
    for _ in range(MAX_BATCHES):
        result = rating_run(organization=organization)
        total.add(result)
        if result.claimed < BATCH:
            break
    return total.__dict__


def rate_all() -> int:
    """The schedule's sweep (main queue): queue a run on rating's queue for every organization with pending
    signals (after a restart, or missed triggers). Returns how many organizations have some."""
    organization_ids = organizations_with_pending_signals()
    for organization_id in organization_ids:
        _queue(organization_id)
    return len(organization_ids)


def _queue(organization_id: int) -> None:
    """One queued run per organization at a time: the mark is taken here and dropped when the run starts, so a
    signal committed after a run has claimed its batch always queues the next one. The mark expires in case a
    queued task is lost."""
    if cache.add(_queued_key(organization_id), 1, QUEUED_MARK_SECONDS):
        async_task(
            "apps.rating.tasks.rate_pending", organization_id, group="rating", cluster=settings.RATING_CLUSTER
        )


def enqueue_rating(*, organization_id: int, **_: object) -> None:
    """Receiver of signals' `signals_ingested`: rate right after the ingest commits, off the request path."""
    transaction.on_commit(lambda: _queue(organization_id))
