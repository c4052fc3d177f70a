"""django-q2 entry points of billing. They take ids, call services and are safe to run again: an invoice is
built once per order x period (a unique constraint backs it), so overlapping runs build nothing twice."""

import logging

from django.contrib.auth import get_user_model

from apps.accounts.selectors import organization_get, organization_list_for_user
from apps.billing import services

logger = logging.getLogger(__name__)


def _organization_ids() -> list[int]:
    # accounts offers no "every organization" selector yet (see apps/credits/tasks.py): every organization has
    # its admin member, so the memberships reach them all.
    ids: set[int] = set()
    for user in get_user_model().objects.order_by("pk"):
        ids.update(organization_list_for_user(user=user).values_list("pk", flat=True))
    return sorted(ids)


def generate_due_invoices(organization_id: int | None = None) -> int:
    """Scheduled (migration 0003, every 5 minutes): build the invoices every activated order owes now."""
    built = 0
    for pk in [organization_id] if organization_id is not None else _organization_ids():
        try:
            built += services.invoices_generate_due(organization=organization_get(organization_id=pk))
        except Exception:  # one organization must not stop the others
            logger.exception("billing: invoice generation failed for organization %s", pk)
    return built


def generate_order_invoices(organization_id: int, order_id: str) -> int:
    """Build what one order owes now (enqueued when an order is activated)."""
    from apps.orders.selectors import order_get

    order = order_get(organization=organization_get(organization_id=organization_id), order_id=order_id)
    return len(services.invoice_generate_for_order(order=order))
