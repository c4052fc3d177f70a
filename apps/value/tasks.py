"""django-q2 entry points for delivered value (docs/value.md, "Delivered value"). They take ids, call
`apps.value.delivery` and are safe to run again."""

from django.db import transaction
from django_q.tasks import async_task

from apps.accounts.selectors import organization_get
from apps.value.delivery import value_backfill, value_deliver
from apps.value.models import ValueMetric


def value_deliver_signals(organization_id: int, signal_ids: list[int]) -> int:
    """Compute the delivered value of signals rating has just rated."""
    return value_deliver(
        organization=organization_get(organization_id=organization_id), signal_ids=signal_ids
    )


def value_backfill_metric(organization_id: int, metric_id: int) -> int:
    """Recompute one metric's delivered value over history (after it was created or changed)."""
    organization = organization_get(organization_id=organization_id)
    metric = ValueMetric.objects.filter(organization=organization, pk=metric_id).first()
    if metric is None:
        return 0
    return value_backfill(organization=organization, metric=metric)


def enqueue_delivery(*, organization_id: int, signal_ids: list[int], **_: object) -> None:
    """Receiver of rating's `signals_rated`: queue the computation once the rating batch commits, off its
    transaction (a rolled-back batch queues nothing), and only for an organization that has a metric to compute
    (most rated batches of most organizations have none: no task for them)."""
    if not signal_ids:
        return
    ids = list(signal_ids)

    def queue() -> None:
        if ValueMetric.objects.filter(organization_id=organization_id, archived_at__isnull=True).exists():
            async_task("apps.value.tasks.value_deliver_signals", organization_id, ids, group="value")

    transaction.on_commit(queue)


def enqueue_backfill(*, organization_id: int, metric_id: int) -> None:
    """Queue a metric's backfill once the metric write commits (called by `apps.value.services`)."""
    transaction.on_commit(
        lambda: async_task(
            "apps.value.tasks.value_backfill_metric", organization_id, metric_id, group="value"
        )
    )
