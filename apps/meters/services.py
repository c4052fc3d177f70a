"""Writes of meters: create, update, archive. A meter referenced by an active order is locked (409)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.catalog.selectors import pricing_lines_using_meter, product_get
from apps.common.exceptions import Conflict, DomainError, NotFound, ReferenceNotFound
from apps.meters.definition import MeterDefinition
from apps.meters.models import Meter
from apps.meters.selectors import meter_get_for_update
from apps.meters.selectors import meter_is_locked as _meter_is_locked

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
    return meter
