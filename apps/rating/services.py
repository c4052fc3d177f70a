"""Rating: stored signals → usage records (and, through `usage_recorded`, credit spends).

A worker claims pending signals in batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL), matches each to the
customer's usage lines by event name or by meter, computes its quantity, and writes one usage record per matched
line, all in one transaction with the signals' new rating status. A signal is rated once: re-running changes
nothing (claimed signals are pending ones; a usage record is unique per signal and line)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from apps.common.exceptions import NotFound
from apps.common.hooks import Hook
from apps.meters.selectors import meter_definition, meter_get
from apps.orders.selectors import RatableLine, ratable_usage_lines
from apps.rating.models import UsageRecord
from apps.rating.quantity import QuantityError, credits_for, signal_quantity
from apps.signals.selectors import signals_claim_for_rating
from apps.signals.services import signal_attribute_unresolved, signals_rating_set

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.meters.definition import MeterDefinition

logger = logging.getLogger(__name__)

BATCH = 500
PENDING, RATED, SKIPPED, INVALID = "pending", "rated", "skipped", "invalid"  # Signal.Rating values

# Sent inside the rating transaction with the usage records it just wrote (`records=[UsageRecord, …]`), so a
# receiver (credits: spends) commits or rolls back together with them.
usage_recorded = Hook("rating.usage_recorded")
# Sent inside the rating transaction once per rated batch with every signal it gave a verdict (rated, skipped
# or invalid: `organization_id=…, signal_ids=[pk, …]`); value computes their delivered value after the commit.
signals_rated = Hook("rating.signals_rated")


@dataclass
class RatingResult:
    claimed: int = 0
    rated: int = 0
    skipped: int = 0
    invalid: int = 0
    records: int = 0

    def add(self, other: RatingResult) -> None:
        for name in ("claimed", "rated", "skipped", "invalid", "records"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def rating_run(*, organization: Organization, limit: int = BATCH) -> RatingResult:
    """Rate up to `limit` pending signals of the organization (oldest first) after attributing signals whose
    customer has appeared since they arrived."""
    signal_attribute_unresolved(organization=organization)
    return _rate_batch(organization=organization, limit=limit)


@transaction.atomic
def _rate_batch(*, organization: Organization, limit: int) -> RatingResult:
    signals = signals_claim_for_rating(organization=organization, limit=limit)
    result = RatingResult(claimed=len(signals))
    if not signals:
        return result
    lines = ratable_usage_lines(
        organization=organization, customer_ids={s.customer_id for s in signals if s.customer_id}
    )
    meters = _meters(organization, [line for group in lines.values() for line in group])
    done = set(
        UsageRecord.objects.filter(
            organization=organization, signal_id__in=[s.pk for s in signals]
        ).values_list("signal_id", "order_line_attribute_id")
    )
    records: list[UsageRecord] = []
    outcomes: dict[int, tuple[str, str]] = {}
    for signal in signals:
        try:
            rated = _rate(signal, lines.get(signal.customer_id, []), meters)
        except QuantityError as error:
            outcomes[signal.pk] = (INVALID, str(error))
            result.invalid += 1
            continue
        if isinstance(rated, str):
            outcomes[signal.pk] = (SKIPPED, rated)
            result.skipped += 1
            continue
        outcomes[signal.pk] = (RATED, "")
        result.rated += 1
        records.extend(r for r in rated if (signal.pk, r.order_line_attribute_id) not in done)
    UsageRecord.objects.bulk_create(records)
    signals_rating_set(outcomes=outcomes)
    usage_recorded.send(records=records)
    signals_rated.send(organization_id=organization.pk, signal_ids=list(outcomes))
    result.records = len(records)
    return result


def _meters(organization: Organization, lines: list[RatableLine]) -> dict[str, MeterDefinition | None]:
    """The definitions of the meters the lines read; None for a meter that no longer exists."""
    found: dict[str, MeterDefinition | None] = {}
    for meter_id in {
        line.attribute.pricing["meter_id"] for line in lines if "meter_id" in line.attribute.pricing
    }:
        try:
            found[meter_id] = meter_definition(meter=meter_get(organization=organization, meter_id=meter_id))
        except NotFound:
            logger.warning("usage lines read meter %s, which does not exist", meter_id)
            found[meter_id] = None
    return found


def _rate(
    signal: Any, lines: list[RatableLine], meters: dict[str, MeterDefinition | None]
) -> list[UsageRecord] | str:
    """The usage records one signal makes, or the reason it makes none (a string). QuantityError when a
    matched line can't read its quantity: then the signal prices nothing at all."""
    if signal.customer_id is None:
        who = signal.external_customer_id or signal.customer_ref or "no customer"
        return f"no customer: {who} is not a known customer (rated once it is)"
    records = []
    for line in lines:
        if not line.covers(signal.timestamp):
            continue
        if signal.product_id is not None and line.product_id != signal.product_id:
            continue
        quantity = _line_quantity(signal, line, meters)
        if quantity is None:
            continue
        pricing = line.attribute.pricing
        data = signal.data if isinstance(signal.data, dict) else {}
        user = data.get("external_user_id")
        records.append(
            UsageRecord(
                organization_id=signal.organization_id,
                signal_id=signal.pk,
                customer_id=signal.customer_id,
                order_id=line.order_id,
                order_line_attribute_id=line.attribute.pk,
                event_name=signal.event_name,
                timestamp=signal.timestamp,
                quantity=quantity,
                credits_currency_id=line.attribute.credits_currency_id,
                credits=credits_for(pricing=pricing, quantity=quantity),
                external_user_id=user if isinstance(user, str) else None,
            )
        )
    if not records:
        return f"no active order line of this customer prices {signal.event_name!r} at {signal.timestamp:%Y-%m-%d %H:%M:%S} UTC"
    return records


def _line_quantity(
    signal: Any, line: RatableLine, meters: dict[str, MeterDefinition | None]
) -> Decimal | None:
    """What the signal brings to the line, or None when the line does not take it."""
    pricing = line.attribute.pricing
    if "meter_id" in pricing:
        definition = meters.get(pricing["meter_id"])
        if definition is None or not definition.matches(event_name=signal.event_name, data=signal.data):
            return None
        return definition.contribution(signal.data)  # None: a sum field that is not a number (not added)
    if line.attribute.event_name != signal.event_name:
        return None
    return signal_quantity(pricing=pricing, data=signal.data)
