"""django-q2 entry points of Stripe collection (stripe_services). They take ids and are safe to run again: a
charge attempt is resent under its own idempotency key, an inbox event is applied from Stripe's current state."""

import logging

from apps.accounts.selectors import organization_get
from apps.billing import stripe_services
from apps.billing.models import Invoice

logger = logging.getLogger(__name__)


def charge_invoice(organization_id: int, invoice_pk: int) -> str | None:
    """Charge one posted invoice (enqueued once its posting commits). Returns the attempt's status."""
    invoice = (
        Invoice.objects.select_related("customer", "organization")
        .filter(organization_id=organization_id, pk=invoice_pk)
        .first()
    )
    if invoice is None:
        return None
    charge = stripe_services.invoice_charge(invoice=invoice)
    return charge.status if charge is not None else None


def process_stripe_event(event_pk: int) -> bool:
    """Apply one stored Stripe event (enqueued when it is received). True once it is processed."""
    return stripe_services.stripe_event_process(event_pk=event_pk).processed_at is not None


def stripe_sweep(organization_id: int | None = None) -> dict[str, int]:
    """Scheduled (migration 0005, every 10 minutes) for each organization with Stripe keys: inbox events left
    unprocessed, attempts Stripe has not settled, and posted invoices to charge."""
    totals = {"events": 0, "refreshed": 0, "charged": 0}
    ids = [organization_id] if organization_id is not None else stripe_services.stripe_organization_ids()
    for pk in ids:
        try:
            counts = stripe_services.stripe_sweep_organization(
                organization=organization_get(organization_id=pk)
            )
        except Exception:  # one organization must not stop the others
            logger.exception("stripe: sweep failed for organization %s", pk)
            continue
        for key, value in counts.items():
            totals[key] += value
    return totals
