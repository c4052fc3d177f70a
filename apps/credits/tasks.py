"""django-q2 entry points of the credit ledger. They take ids, call services and are safe to run again
(every grant is keyed by order line attribute x benefit x pool x period; expiry and pending application act
only on what is still due).

Grants are pulled, not pushed: orders sit below credits in the layer order and cannot call it, so the schedule
`credits: grant due benefits` (migration 0003) grants what is due for every active order every few minutes,
and the order activation path may enqueue `grant_order_benefits` by name for an immediate first grant."""

import logging

from django.contrib.auth import get_user_model
from django.core.cache import cache

from apps.accounts.selectors import organization_get, organization_list_for_user
from apps.credits import selectors, services

logger = logging.getLogger(__name__)


def grant_order_benefits(organization_id: int, order_id: str) -> int:
    """Grant what one order's credit benefits owe now (enqueue as
    `async_task("apps.credits.tasks.grant_order_benefits", order.organization_id, order.display_id)`)."""
    organization = organization_get(organization_id=organization_id)
    return services.credit_order_grants_due(organization=organization, order_id=order_id)


def _organization_ids() -> list[int]:
    # accounts offers no "every organization" selector yet; every organization has its admin member, so the
    # memberships reach them all. Replace with accounts.selectors.organization_list() when it exists.
    ids: set[int] = set()
    for user in get_user_model().objects.order_by("pk"):
        ids.update(organization_list_for_user(user=user).values_list("pk", flat=True))
    return sorted(ids)


def grant_due_benefits(organization_id: int | None = None) -> int:
    """Scheduled: for every active order (of one organization, or of all) whose grants may have come due since
    its last check, grant what is due for the current allocation period; then apply pending consumption that
    pools can now take."""
    created = 0
    for pk in [organization_id] if organization_id is not None else _organization_ids():
        organization = organization_get(organization_id=pk)
        for order_id in selectors.credit_orders_to_grant(organization=organization):
            try:
                created += services.credit_order_grants_due(organization=organization, order_id=order_id)
            except Exception:  # one broken order must not stop every other order's grants
                logger.exception("credits: granting benefits of order %s failed", order_id)
    services.credit_pending_apply_all()
    return created


def expire_due() -> int:
    """Scheduled: post the expiry (and rollover) of every lot past its expiry."""
    return services.credit_expire_due()


def publish_events() -> int:
    """Hand the ledger's outbox (credits depleted, overage incurred) to outbound webhooks: queued after each
    commit that writes events, and every minute by the schedule `credits: publish events`."""
    cache.delete(services.PUBLISH_QUEUED_KEY)  # from here on, a new event queues the next run
    total = 0
    while (handed := services.credit_events_publish()) == 500:
        total += handed
    return total + handed
