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


def _queued_key(organization_id: int, slot: int) -> str:
    return f"rating:queued:{organization_id}:{slot}"


def rate_pending(organization_id: int, slot: int = 0) -> dict:
    """Rate the organization's pending signals, batch after batch, until none are left (or MAX_BATCHES)."""
    cache.delete(_queued_key(organization_id, slot))  # from here on, a new ingest queues the next run
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
    """At most RATING_WORKERS queued runs per organization, so each of rating's workers can take one (their
    claims skip each other's rows) while a burst of ingests does not flood the queue. A slot's mark is taken
    here and dropped when its run starts, so a signal committed after a run has claimed its batch always
    finds a free slot to queue the next one. Marks expire in case a queued task is lost."""
    for slot in range(settings.RATING_WORKERS):
        if cache.add(_queued_key(organization_id, slot), 1, QUEUED_MARK_SECONDS):
            async_task(
                "apps.rating.tasks.rate_pending",
                organization_id,
                slot,
                group="rating",
                cluster=settings.RATING_CLUSTER,
            )
            return


def enqueue_rating(*, organization_id: int, **_: object) -> None:
    """Receiver of signals' `signals_ingested`: rate right after the ingest commits, off the request path."""
    transaction.on_commit(lambda: _queue(organization_id))
