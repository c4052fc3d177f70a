"""django-q2 entry points for outbound webhooks. They take ids, call services and are safe to run again: a
delivery is sent only while it is due and claimed (services.webhook_deliveries_claim)."""

from apps.webhooks.services import webhook_deliver_due, webhook_delivery_send


def deliver(delivery_id: int) -> bool | None:
    """A delivery's first attempt, enqueued when the event's transaction commits."""
    return webhook_delivery_send(delivery_id=delivery_id)


def deliver_due() -> int:
    """Scheduled every minute (migration 0002): retries that are due, and first attempts whose task was lost."""
    return webhook_deliver_due()
