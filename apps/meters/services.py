"""Writes of meters: create, update, archive (a meter referenced by an active order is locked: 409), and the
day rollups that keep saved meters' previews fast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from apps.catalog.selectors import pricing_lines_using_meter, product_get
from apps.common.exceptions import Conflict, DomainError, NotFound, ReferenceNotFound
from apps.meters.definition import MeterDefinition
from apps.meters.models import Meter, MeterRollup, MeterRollupDay
from apps.meters.selectors import (
    ROLLUP_DAYS,
    day_bounds,
    exact_decimal,
    meter_definition,
    meter_fingerprint,
    meter_get_for_update,
    meter_groups,
    meter_rollup_days_stale,
    meter_signals,
)
from apps.meters.selectors import meter_is_locked as _meter_is_locked
from apps.signals.selectors import signal_day_versions

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.catalog.models import Product

_DEFINITION_FIELDS = ("event_name", "operation", "field", "filters", "rounding")


class MeterLocked(Conflict):
    def __init__(self, meter_id: str):
        super().__init__(
            f"Meter {meter_id} is used by an active order, so changing it would change what that order bills. "
            "Create a new meter for the new billing logic instead.",
            code="METER_LOCKED",
        )
        self.meter_id = meter_id


def meter_is_locked(meter: Meter) -> bool:
    """True while an active (or paused) order's line pricing references the meter (`pricing["meter_id"]`)."""
    return _meter_is_locked(meter=meter)


class MeterInUse(Conflict):
    def __init__(self, meter_id: str, lines: list[str]):
        super().__init__(
            f"Meter {meter_id} supplies the quantity of {', '.join(lines)}; point those lines at another meter "
            "first.",
            code="METER_IN_USE",
        )
        self.meter_id = meter_id


def meter_pricing_reference_check(
    *, organization: Organization, product: Product | None, value: Any, field: str
):
    """A pricing line's `meterId`: a live meter of the organization that measures the line's own product.
    Registered with catalog's pricing_clean (apps/meters/apps.py), which cannot import meters."""
    meter = Meter.objects.filter(
        organization=organization, display_id=value, archived_at__isnull=True
    ).first()
    if meter is None:
        raise ReferenceNotFound("Meter", value, field=field)
    if product is not None and meter.product_id != product.pk:
        raise DomainError(
            f"meter {value} measures the signals of another product; a line of {product.display_id} needs a "
            "meter of that product",
            field=field,
        )


def meter_product(*, organization: Organization, product_id: Any, field: str = "productId") -> Product:
    """The product a meter (or a preview) is scoped to; an unknown id is a 400 naming `field`."""
    if not isinstance(product_id, str) or not product_id:
        raise DomainError("is required", field=field)
    try:
        return product_get(organization=organization, product_id=product_id)
    except NotFound:
        raise ReferenceNotFound("Product", product_id, field=field) from None


def _refuse_if_priced(meter: Meter) -> None:
    """A meter that pricing lines read must keep measuring their product: no archive, no product change."""
    lines = pricing_lines_using_meter(organization=meter.organization, meter_id=meter.display_id)
    if lines:
        raise MeterInUse(meter.display_id, lines)


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DomainError("is required", field="name")
    if len(name) > 255:
        raise DomainError("must be at most 255 characters", field="name")
    return name.strip()


def _apply_definition(meter: Meter, definition: MeterDefinition) -> None:
    stored = definition.to_json()
    meter.event_name = stored["event_name"]
    meter.operation = stored["operation"]
    meter.field = stored["field"] or ""
    meter.filters = stored["filters"]
    meter.rounding = stored["rounding"]


@transaction.atomic
def meter_create(
    *,
    organization: Organization,
    product_id: str,
    name: str,
    event_name: str,
    operation: str,
    field: str | None = None,
    filters: list[dict[str, Any]] | None = None,
    rounding: str | None = None,
) -> Meter:
    """A new meter on one of the organization's products; the definition is validated first."""
    product = meter_product(organization=organization, product_id=product_id)
    name = _clean_name(name)
    definition = MeterDefinition.from_wire(
        event_name=event_name, operation=operation, field=field, filters=filters, rounding=rounding
    )
    meter = Meter(organization=organization, product=product, name=name)
    _apply_definition(meter, definition)
    meter.save()
    _queue_rollup(meter)
    return meter


@transaction.atomic
def meter_update(*, meter: Meter, **changes: Any) -> Meter:
    """Partial update (keys present in `changes` only; `None` clears `field`). Locks the meter row. A locked
    meter may be renamed; any change to what it measures (product or definition) is MeterLocked."""
    meter = meter_get_for_update(meter=meter)
    if meter.archived_at is not None:
        raise Conflict(f"Meter {meter.display_id} is archived", code="METER_ARCHIVED")
    current = {
        "event_name": meter.event_name,
        "operation": meter.operation,
        "field": meter.field or None,
        "filters": meter.filters,
        "rounding": meter.rounding,
    }
    wanted = current | {key: changes[key] for key in _DEFINITION_FIELDS if key in changes}
    product = meter.product
    if "product_id" in changes and changes["product_id"] != meter.product.display_id:
        product = meter_product(organization=meter.organization, product_id=changes["product_id"])
    name = _clean_name(changes["name"]) if "name" in changes else meter.name
    definition = MeterDefinition.from_wire(**wanted)
    changes_billing = (
        product.pk != meter.product_id
        or definition.to_json() != MeterDefinition.from_wire(**current).to_json()
    )
    if changes_billing and meter_is_locked(meter):
        raise MeterLocked(meter.display_id)
    if product.pk != meter.product_id:
        _refuse_if_priced(meter)
    meter.product, meter.name = product, name
    _apply_definition(meter, definition)
    meter.save()
    if changes_billing:  # the old rollups' fingerprint no longer matches: roll the days up again
        _queue_rollup(meter)
    return meter


@transaction.atomic
def meter_archive(*, meter: Meter) -> Meter:
    """Archive (hide from lists, keep for history); idempotent. A locked meter cannot be archived."""
    meter = meter_get_for_update(meter=meter)
    if meter.archived_at is not None:
        return meter
    if meter_is_locked(meter):
        raise MeterLocked(meter.display_id)
    _refuse_if_priced(meter)
    meter.archived_at = timezone.now()
    meter.save(update_fields=["archived_at", "updated_at"])
    MeterRollup.objects.filter(organization_id=meter.organization_id, meter=meter).delete()
    MeterRollupDay.objects.filter(organization_id=meter.organization_id, meter=meter).delete()
    return meter


# --- rollups (docs/meters.md, "Rollups") ------------------------------------------------------------------


def _queue_rollup(meter: Meter) -> None:
    args = (meter.organization_id, meter.display_id)
    transaction.on_commit(lambda: async_task("apps.meters.tasks.roll_up_meter", *args, group="meters"))


def meter_rollup_compute(*, meter: Meter, day: date) -> None:
    """Summarize the meter's signals of one past UTC day into `MeterRollup` groups. The day's version is read
    before its signals, so a write that lands in between leaves the rollup marked stale, never silently short.
    Two runs for the same day serialize on its `MeterRollupDay` row; the last to commit stands."""
    fingerprint = meter_fingerprint(meter=meter)
    version = signal_day_versions(organization=meter.organization, days=[day])[day]
    start, end = day_bounds(day)
    definition = meter_definition(meter=meter)
    signals = meter_signals(
        organization=meter.organization,
        product=meter.product,
        definition=definition,
        window_from=start,
        window_to=end,
    )
    groups = meter_groups(signals, definition)
    now = timezone.now()
    with transaction.atomic():
        marker, _ = MeterRollupDay.objects.get_or_create(
            organization_id=meter.organization_id,
            meter=meter,
            day=day,
            defaults={"version": -1, "fingerprint": "", "computed_at": now},
        )
        marker = MeterRollupDay.objects.select_for_update().get(pk=marker.pk)
        MeterRollup.objects.filter(organization_id=meter.organization_id, meter=meter, day=day).delete()
        MeterRollup.objects.bulk_create(
            MeterRollup(
                organization_id=meter.organization_id,
                meter=meter,
                day=day,
                customer_id=group["customer_id"],
                raw_external_id=group["raw_external_id"],
                raw_customer_ref=group["raw_customer_ref"],
                total=None if group.get("total") is None else exact_decimal(group["total"]),
                counted=group.get("counted", group["seen"]),
                seen=group["seen"],
            )
            for group in groups
        )
        marker.version, marker.fingerprint, marker.computed_at = version, fingerprint, now
        marker.save(update_fields=["version", "fingerprint", "computed_at"])


def meter_rollups_refresh(*, meter: Meter, now: datetime | None = None, budget_seconds: float = 120) -> int:
    """Roll up the meter's past days (the last ROLLUP_DAYS, newest first) whose rollup is missing or stale,
    and forget rollups older than that. Returns the number of days computed (within the time budget)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(1, ROLLUP_DAYS + 1)]
    MeterRollup.objects.filter(organization_id=meter.organization_id, meter=meter, day__lt=days[-1]).delete()
    MeterRollupDay.objects.filter(
        organization_id=meter.organization_id, meter=meter, day__lt=days[-1]
    ).delete()
    deadline = monotonic() + budget_seconds
    computed = 0
    for day in meter_rollup_days_stale(meter=meter, days=days):
        if monotonic() > deadline:
            break
        meter_rollup_compute(meter=meter, day=day)
        computed += 1
    return computed
