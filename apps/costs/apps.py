from django.apps import AppConfig
from django.db import transaction


def enqueue_signal_costs(
    *, organization_id: int, traced_signal_ids: list[str] | None = None, **_: object
) -> None:
    """Receiver of signals' `signals_ingested`: once the batch commits, a django-q2 task records the costData of
    its signals and links cost records to them (apps.costs.services.signal_costs_process), off the request
    path. Batches without `costData` or `paid` data queue nothing."""
    if not traced_signal_ids:
        return
    from django_q.tasks import async_task

    signal_ids = list(traced_signal_ids)
    transaction.on_commit(
        lambda: async_task(
            "apps.costs.services.signal_costs_process", organization_id, signal_ids, group="costs"
        )
    )


class CostsConfig(AppConfig):
    name = "apps.costs"

    def ready(self) -> None:
        # Signals sits below costs: it announces each committed ingest with the signals that carry cost data.
        from apps.signals.services import signals_ingested

        signals_ingested.connect(enqueue_signal_costs)

        # Billing sits below costs: its cost-plus lines price the AI costs this app records.
        from apps.billing.services import cost_plus_costs
        from apps.costs.selectors import cost_plus_provider

        cost_plus_costs.connect(cost_plus_provider)
