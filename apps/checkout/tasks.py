"""django-q2 entry points of checkout: take ids, call services, safe to run again."""

import logging

from apps.accounts.selectors import organization_get
from apps.billing.stripe_services import stripe_organization_ids
from apps.checkout import services
from apps.checkout.selectors import organization_ids_with_open_checkouts

logger = logging.getLogger(__name__)


def checkout_sweep(organization_id: int | None = None) -> dict[str, int]:
    """Scheduled (migration 0003, every 5 minutes): expire checkouts past their expiry (billing-checkout-expired,
    once each) and finish attempts whose card was confirmed but whose browser never came back."""
    totals = {"expired": 0, "finished": 0}
    if organization_id is not None:
        ids = [organization_id]
    else:
        ids = sorted(set(organization_ids_with_open_checkouts()) | set(stripe_organization_ids()))
    for pk in ids:
        try:
            counts = services.checkout_sweep_organization(organization=organization_get(organization_id=pk))
        except Exception:  # one organization must not stop the others
            logger.exception("checkout: sweep failed for organization %s", pk)
            continue
        for key, value in counts.items():
            totals[key] += value
    return totals
