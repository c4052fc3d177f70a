"""django-q2 entry points of meters: keep saved meters' day rollups current (docs/meters.md, "Rollups")."""

import logging

from apps.accounts.selectors import organization_get
from apps.meters import selectors, services

logger = logging.getLogger(__name__)


def roll_up_meter(organization_id: int, meter_id: str) -> int:
    """Roll up one meter's stale days (queued when a meter is created or its definition changes)."""
    meter = selectors.meter_get(
        organization=organization_get(organization_id=organization_id), meter_id=meter_id
    )
    return 0 if meter.archived_at else services.meter_rollups_refresh(meter=meter)


def roll_up_all() -> int:
    """Scheduled: every saved meter's stale days (yesterday's, once the day is over; days whose signals changed)."""
    computed = 0
    for meter in selectors.meters_to_roll_up():
        try:
            computed += services.meter_rollups_refresh(meter=meter)
        except Exception:  # one broken meter must not stop the others
            logger.exception("meters: rolling up %s failed", meter.display_id)
    return computed
