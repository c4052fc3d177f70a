"""Signal ingestion: validate each item, resolve ids in bulk, drop replayed idempotency keys, store the batch
in one transaction. No pricing here: rating reads stored signals later."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from apps.catalog.selectors import product_pks_by_reference
from apps.common.ids import new_display_id
from apps.customers.selectors import customer_pks_by_reference
from apps.signals.models import Signal, SignalKey

if TYPE_CHECKING:
    from apps.accounts.models import Organization

MAX_BATCH = 1000
MAX_FUTURE = timedelta(hours=24)
_TEXT_LIMIT = 255


@dataclass
class IngestResult:
    ingested: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, field: str | None, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _Invalid(name, "is required")
        return None
    if not isinstance(value, str) or not value:
        raise _Invalid(name, "must be a non-empty string")
    if len(value) > _TEXT_LIMIT:
        raise _Invalid(name, f"is longer than {_TEXT_LIMIT} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse the item rather than fail the whole batch.
        raise _Invalid(name, "must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise _Invalid(name, "is not valid Unicode (lone surrogate)") from None
    return value


def _one_of(value: Any, name: str, keys: tuple[str, str], *, required: bool) -> tuple[str | None, str | None]:
    """An attribution union ({customerId} | {externalCustomerId}): exactly one key."""
    if value is None:
        if required:
            raise _Invalid(name, "is required")
        return None, None
    if not isinstance(value, dict):
        raise _Invalid(name, "must be an object")
    first, second = (_text(value.get(key), f"{name}.{key}") for key in keys)
    if (first is None) == (second is None):
        raise _Invalid(name, f"needs exactly one of {keys[0]} or {keys[1]}")
    return first, second


# A date and a time of day; the offset is optional (RFC 3339 wants one; a naive time is read as UTC).
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _timestamp(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise _Invalid("timestamp", "must be an ISO-8601 datetime string")
    if not _DATETIME.match(value):
        # A bare date ("2026-11-01") is not an event time: midnight UTC would put a caller west of UTC in the
        # wrong day (and billing period), so it is refused rather than guessed.
        raise _Invalid("timestamp", f"{value!r} is not an ISO-8601 datetime with a time of day")
    try:
        parsed = datetime.fromisoformat(value)
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Invalid("timestamp", f"{value!r} is not an ISO-8601 datetime") from None
    if parsed > now + MAX_FUTURE:
        raise _Invalid("timestamp", "is more than 24 hours in the future")
    return parsed


# An escaped NUL (`\u0000`) in the JSON text, not a literal backslash followed by "u0000".
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _data(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Invalid("data", "must be a JSON object")
    # What the database would refuse, per item instead of failing the batch: NaN/Infinity (not JSON), NUL
    # (PostgreSQL jsonb cannot store it) and lone surrogates (not encodable).
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode()
    except ValueError as error:  # UnicodeEncodeError is a ValueError
        problem = (
            "contains a lone surrogate" if isinstance(error, UnicodeError) else "contains NaN or Infinity"
        )
        raise _Invalid("data", problem) from None
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise _Invalid("data", "must not contain NUL characters")
    return value


def _parse(item: Any, now: datetime) -> dict[str, Any]:
    """One wire Signal → the columns to store (raises _Invalid naming the field)."""
    if not isinstance(item, dict):
        raise _Invalid(None, "must be a JSON object")
    customer_ref, external_customer_id = _one_of(
        item.get("customer"), "customer", ("customerId", "externalCustomerId"), required=True
    )
    product_ref, external_product_id = _one_of(
        item.get("attribution"), "attribution", ("productId", "externalProductId"), required=False
    )
    unit = item.get("customerUnit")
    if unit is not None and not isinstance(unit, dict):
        raise _Invalid("customerUnit", "must be an object")
    return {
        "event_name": _text(item.get("eventName"), "eventName", required=True),
        "customer_ref": customer_ref,
        "external_customer_id": external_customer_id,
        "product_ref": product_ref,
        "external_product_id": external_product_id,
        "external_customer_unit_id": _text(
            (unit or {}).get("externalCustomerUnitId"), "customerUnit.externalCustomerUnitId"
        ),
        "data": _data(item.get("data")),
        "timestamp": _timestamp(item.get("timestamp"), now),
        "idempotency_key": _text(item.get("idempotencyKey"), "idempotencyKey"),
    }


def _new_keys(*, organization_id: int, keys: list[str], now: datetime) -> set[str]:
    """Record idempotency keys; returns the ones not seen before. One statement: a concurrent request with the
    same key waits on the unique index and then sees it as taken, so a key is stored once."""
    if not keys:
        return set()
    table = SignalKey._meta.db_table
    rows = ", ".join(["(%s, %s, %s)"] * len(keys))
    params: list[Any] = []
    for key in keys:
        params += [organization_id, key, now]
    sql = (
        f"INSERT INTO {table} (organization_id, key, created_at) VALUES {rows} "
        "ON CONFLICT (organization_id, key) DO NOTHING RETURNING key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def signal_ingest(*, organization: Organization, signals: list[Any]) -> IngestResult:
    """Store a batch of wire signals. Invalid items are counted in `failed` (with their index and message) and
    the valid ones stored; items whose idempotency key was seen before (in this batch or earlier) are counted
    in `duplicates`. One transaction; no pricing."""
    now = timezone.now()
    result = IngestResult()
    parsed: list[dict[str, Any]] = []
    for index, item in enumerate(signals):
        try:
            parsed.append(_parse(item, now))
        except _Invalid as invalid:
            result.failed += 1
            where = f"signals[{index}].{invalid.field}" if invalid.field else f"signals[{index}]"
            result.errors.append(
                {"index": index, "field": invalid.field, "message": f"{where}: {invalid.problem}"}
            )

    seen: set[str] = set()
    unique = []
    for row in parsed:
        key = row["idempotency_key"]
        if key is not None and key in seen:
            result.duplicates += 1
            continue
        if key is not None:
            seen.add(key)
        unique.append(row)

    customers_by_display, customers_by_external = customer_pks_by_reference(
        organization=organization,
        display_ids={r["customer_ref"] for r in unique if r["customer_ref"]},
        external_ids={r["external_customer_id"] for r in unique if r["external_customer_id"]},
    )
    products_by_display, products_by_external = product_pks_by_reference(
        organization=organization,
        display_ids={r["product_ref"] for r in unique if r["product_ref"]},
        external_ids={r["external_product_id"] for r in unique if r["external_product_id"]},
    )
    with transaction.atomic():
        fresh = _new_keys(organization_id=organization.pk, keys=sorted(seen), now=now)
        rows = []
        for row in unique:
            key = row["idempotency_key"]
            if key is not None and key not in fresh:
                result.duplicates += 1
                continue
            customer_id = customers_by_display.get(row["customer_ref"]) or customers_by_external.get(
                row["external_customer_id"]
            )
            product_id = products_by_display.get(row["product_ref"]) or products_by_external.get(
                row["external_product_id"]
            )
            rows.append(
                Signal(
                    organization_id=organization.pk,
                    display_id=new_display_id("sig"),
                    customer_id=customer_id,
                    product_id=product_id,
                    created_at=now,
                    **row,
                )
            )
        Signal.objects.bulk_create(rows, batch_size=MAX_BATCH)
        result.ingested = len(rows)
    return result


KEY_RETENTION = timedelta(days=40)  # the contract promises at least 35 days of duplicate detection


def signal_keys_purge(*, now: datetime | None = None) -> int:
    """Forget idempotency keys older than KEY_RETENTION; returns how many were deleted."""
    cutoff = (now or timezone.now()) - KEY_RETENTION
    deleted, _ = SignalKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def signal_attribute_unresolved(*, organization: Organization) -> int:
    """Attach stored signals whose customer or product was unknown at ingest to the row their raw id (external
    id, alias or display id) names now. Signals rating skipped for want of a customer go back to pending.
    Returns the number of signals updated. Idempotent; no locks: a signal only ever goes unresolved → resolved."""
    unresolved = Signal.objects.filter(organization=organization)
    updated = 0

    no_customer = unresolved.filter(customer__isnull=True)
    refs = set(no_customer.exclude(customer_ref=None).values_list("customer_ref", flat=True).distinct())
    externals = set(
        no_customer.exclude(external_customer_id=None)
        .values_list("external_customer_id", flat=True)
        .distinct()
    )
    if refs or externals:
        by_display, by_external = customer_pks_by_reference(
            organization=organization, display_ids=refs, external_ids=externals
        )
        for field, resolved in (("customer_ref", by_display), ("external_customer_id", by_external)):
            for pk, raw_ids in _group_by_pk(resolved).items():
                updated += no_customer.filter(**{f"{field}__in": raw_ids}).update(
                    customer_id=pk,
                    rating=Case(
                        When(rating=Signal.Rating.SKIPPED, then=Value(Signal.Rating.PENDING)),
                        default="rating",
                    ),
                )

    no_product = unresolved.filter(product__isnull=True)
    refs = set(no_product.exclude(product_ref=None).values_list("product_ref", flat=True).distinct())
    externals = set(
        no_product.exclude(external_product_id=None).values_list("external_product_id", flat=True).distinct()
    )
    if refs or externals:
        by_display, by_external = product_pks_by_reference(
            organization=organization, display_ids=refs, external_ids=externals
        )
        for field, resolved in (("product_ref", by_display), ("external_product_id", by_external)):
            for pk, raw_ids in _group_by_pk(resolved).items():
                updated += no_product.filter(**{f"{field}__in": raw_ids}).update(product_id=pk)
    return updated


def _group_by_pk(resolved: dict[str, int]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for raw_id, pk in resolved.items():
        grouped.setdefault(pk, []).append(raw_id)
    return grouped
