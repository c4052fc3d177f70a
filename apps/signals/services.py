"""Signal ingestion: validate each item, resolve ids in bulk, drop replayed idempotency keys, store the batch
in one transaction. No pricing here: rating reads stored signals later.

This is the API's hot path (docs/benchmarks.md). Items are checked by a fast path that accepts only the plain
shapes and falls back to the exact checker (`_parse`) for anything else, so the error messages come from one
place; on PostgreSQL the batch is written with `COPY`, on SQLite with `bulk_create`."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import psycopg
import psycopg.adapt
import psycopg.postgres
import psycopg.pq
from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.catalog.selectors import product_pks_by_reference
from apps.common.hooks import Hook
from apps.common.ids import new_display_ids
from apps.customers.selectors import customer_pks_by_reference
from apps.customers.services import customer_pks_get_or_create_by_external_ids
from apps.signals.models import Signal, SignalDay, SignalKey

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
    customers_created: int = 0  # by the organization's auto_create_customers setting


class _Row(NamedTuple):
    """One valid item, as the columns to store. `data_json` is `data` as JSON text (what COPY sends)."""

    event_name: str
    customer_ref: str | None
    external_customer_id: str | None
    product_ref: str | None
    external_product_id: str | None
    external_customer_unit_id: str | None
    data: dict[str, Any] | None
    data_json: str | None
    timestamp: datetime
    idempotency_key: str | None


class _Invalid(Exception):
    def __init__(self, field: str | None, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem


# --- the exact checker: every rule and every message ---------------------------------------------------------


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
# One encoder for every item (json.dumps with options builds a new one per call). Compact separators: the text
# is parsed into jsonb (or JSON on SQLite), so the spacing is not kept anyway.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _data(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _Invalid("data", "must be a JSON object")
    # What the database would refuse, per item instead of failing the batch: NaN/Infinity (not JSON), NUL
    # (PostgreSQL jsonb cannot store it) and lone surrogates (not encodable).
    try:
        text = _ENCODER.encode(value)
        text.encode()
    except ValueError as error:  # UnicodeEncodeError is a ValueError
        problem = (
            "contains a lone surrogate" if isinstance(error, UnicodeError) else "contains NaN or Infinity"
        )
        raise _Invalid("data", problem) from None
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise _Invalid("data", "must not contain NUL characters")
    return value, text


def _parse(item: Any, now: datetime) -> _Row:
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
    event_name = _text(item.get("eventName"), "eventName", required=True)
    unit_id = _text((unit or {}).get("externalCustomerUnitId"), "customerUnit.externalCustomerUnitId")
    data, data_json = _data(item.get("data"))
    return _Row(
        event_name,
        customer_ref,
        external_customer_id,
        product_ref,
        external_product_id,
        unit_id,
        data,
        data_json,
        _timestamp(item.get("timestamp"), now),
        _text(item.get("idempotencyKey"), "idempotencyKey"),
    )


# --- the fast path: the plain shapes only; None sends the item to `_parse` -----------------------------------


def _plain(value: Any) -> bool:
    """A text `_text` accepts as it is: ASCII (so no lone surrogate), no NUL, 1 to 255 characters."""
    return (
        value.__class__ is str and 0 < len(value) <= _TEXT_LIMIT and value.isascii() and "\x00" not in value
    )


def _parse_fast(item: Any, now: datetime, latest: datetime) -> _Row | None:
    if item.__class__ is not dict:
        return None
    event_name = item.get("eventName")
    customer = item.get("customer")
    if not _plain(event_name) or customer.__class__ is not dict or len(customer) != 1:
        return None
    external_customer_id = customer.get("externalCustomerId")
    customer_ref = None
    if external_customer_id is None:
        customer_ref = customer.get("customerId")
        if not _plain(customer_ref):
            return None
    elif not _plain(external_customer_id):
        return None
    product_ref = external_product_id = None
    attribution = item.get("attribution")
    if attribution is not None:
        if attribution.__class__ is not dict or len(attribution) != 1:
            return None
        external_product_id = attribution.get("externalProductId")
        if external_product_id is None:
            product_ref = attribution.get("productId")
            if not _plain(product_ref):
                return None
        elif not _plain(external_product_id):
            return None
    unit_id = None
    unit = item.get("customerUnit")
    if unit is not None:
        if unit.__class__ is not dict:
            return None
        unit_id = unit.get("externalCustomerUnitId")
        if unit_id is not None and not _plain(unit_id):
            return None
    key = item.get("idempotencyKey")
    if key is not None and not _plain(key):
        return None
    sent_at = item.get("timestamp")
    if sent_at is None:
        timestamp = now
    else:
        if sent_at.__class__ is not str or not _DATETIME.match(sent_at):
            return None
        try:
            timestamp = datetime.fromisoformat(sent_at)
            timestamp = (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):
            return None
        if timestamp > latest:
            return None
    data = item.get("data")
    data_json = None
    if data is not None:
        if data.__class__ is not dict:
            return None
        data_json = _dump_fast(data)
        if data_json is None:
            try:
                data_json = _ENCODER.encode(data)
            except ValueError:  # NaN or Infinity
                return None
            if (not data_json.isascii() and not _encodable(data_json)) or "\\u0000" in data_json:
                return None
    return _Row(
        event_name,
        customer_ref,
        external_customer_id,
        product_ref,
        external_product_id,
        unit_id,
        data,
        data_json,
        timestamp,
        key,
    )


def _dump_fast(data: dict[str, Any]) -> str | None:
    """`data` as JSON text by orjson (~20x the standard encoder), or None where only the standard encoder
    can say what the exact checker would: orjson refuses integers past 64 bits, non-string keys, lone
    surrogates and very deep nesting, writes NaN and Infinity as `null` (so any `null` goes the exact way),
    and a NUL needs `_JSON_NUL`. Where it answers, its text is the same JSON as the standard encoder's (floats
    may be spelled `1e-7` instead of `1e-07`: the same number, stored the same in jsonb)."""
    try:
        text = orjson.dumps(data)
    except orjson.JSONEncodeError:
        return None
    if b"null" in text or b"\\u0000" in text:
        return None
    return text.decode()


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- storing -------------------------------------------------------------------------------------------------


def _new_keys(*, organization_id: int, keys: list[str], now: datetime) -> set[str]:
    """Record idempotency keys; returns the ones not seen before. One statement: a concurrent request with the
    same key waits on the unique index and then sees it as taken, so a key is stored once. Keys go in sorted
    order, so two batches that share keys lock them in the same order and cannot deadlock."""
    if not keys:
        return set()
    table = SignalKey._meta.db_table
    conflict = "ON CONFLICT (organization_id, key) DO NOTHING RETURNING key"
    if connection.vendor == "postgresql":
        # The keys as one array parameter, bound server-side: no 2,400-parameter statement to build and quote.
        sql = (
            f"INSERT INTO {table} (organization_id, key, created_at) "
            "SELECT %s, u.key, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(key, n) ORDER BY u.n "
            + conflict
        )
        with psycopg.Cursor(_pg_connection()) as cursor:
            # prepare=False: no named prepared statement, which a transaction-mode pooler (PgBouncer) may
            # not carry from one transaction to the next.
            cursor.execute(sql, [organization_id, now, keys], prepare=False)
            return {row[0] for row in cursor.fetchall()}
    rows = ", ".join(["(%s, %s, %s)"] * len(keys))
    params: list[Any] = []
    for key in keys:
        params += [organization_id, key, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (organization_id, key, created_at) VALUES {rows} {conflict}", params
        )
        return {row[0] for row in cursor.fetchall()}


def _pg_connection() -> psycopg.Connection:
    connection.ensure_connection()
    return connection.connection


# The columns ingest fills, in COPY order; every other column of Signal gets its default (`_copy_plan`).
_INGEST_COLUMNS = (
    "organization_id",
    "display_id",
    "customer_id",
    "product_id",
    "created_at",
    *_Row._fields[:6],
    "data",
    "timestamp",
    "idempotency_key",
)
# PostgreSQL column type → the type COPY's binary format is written as (varchar is sent as text).
_BINARY_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "varchar": "text",
    "text": "text",
    "timestamp with time zone": "timestamptz",
    "jsonb": "jsonb",
}


class _JsonTextBinaryDumper(psycopg.adapt.Dumper):
    """`data` for a binary COPY into jsonb from the JSON text already made (`_Row.data_json`): jsonb's binary
    format is a version byte and the text. (psycopg's own jsonb dumper takes an object: it would encode the
    text again, as one JSON string.)"""

    format = psycopg.pq.Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


@dataclass(frozen=True)
class _CopyPlan:
    sql: str
    types: list[str] | None  # None: text COPY (a column type the binary plan does not know)
    defaults: tuple[Any, ...]  # values of the columns ingest does not fill, after its own


@functools.cache
def _copy_plan() -> _CopyPlan:
    """How ingest COPYs into the signals table: binary when every column's type is one of _BINARY_TYPES
    (less to format here, less to parse in PostgreSQL), else text."""
    fields = {f.attname: f for f in Signal._meta.concrete_fields}
    rest = [f for f in fields.values() if not f.primary_key and f.attname not in _INGEST_COLUMNS]
    columns = [fields[name].column for name in _INGEST_COLUMNS] + [f.column for f in rest]
    types = []
    for f in [fields[name] for name in _INGEST_COLUMNS] + rest:
        db_type = f.db_type(connection) or ""
        types.append(_BINARY_TYPES.get(db_type.split("(")[0]))
    # A default is sent as Django prepares it (a jsonb default would need its own dumper: text COPY then).
    rest_types = types[len(_INGEST_COLUMNS) :]
    binary = None not in types and "jsonb" not in rest_types
    sql = f"COPY {Signal._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    return _CopyPlan(
        sql=sql + (" (FORMAT BINARY)" if binary else ""),
        types=types if binary else None,
        defaults=tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest),
    )


def _store(
    *, organization_id: int, rows: list[tuple[_Row, int | None, int | None]], now: datetime
) -> list[str]:
    """Write the signals: COPY on PostgreSQL (no INSERT to compile, no parameters to adapt one by one),
    bulk_create elsewhere. Returns their display ids, in the order of `rows`."""
    display_ids = new_display_ids("sig", len(rows))
    if connection.vendor == "postgresql":
        plan = _copy_plan()
        with psycopg.Cursor(_pg_connection()) as cursor:
            cursor.adapters.register_dumper(None, _JsonTextBinaryDumper)
            with cursor.copy(plan.sql) as copy:
                if plan.types:
                    copy.set_types(plan.types)
                defaults = plan.defaults
                for display_id, (row, customer_id, product_id) in zip(display_ids, rows, strict=True):
                    copy.write_row(
                        (
                            organization_id,
                            display_id,
                            customer_id,
                            product_id,
                            now,
                            *row[:6],
                            row.data_json,
                            row.timestamp,
                            row.idempotency_key,
                            *defaults,
                        )
                    )
        return display_ids
    Signal.objects.bulk_create(
        [
            Signal(
                organization_id=organization_id,
                display_id=display_id,
                customer_id=customer_id,
                product_id=product_id,
                created_at=now,
                event_name=row.event_name,
                customer_ref=row.customer_ref,
                external_customer_id=row.external_customer_id,
                product_ref=row.product_ref,
                external_product_id=row.external_product_id,
                external_customer_unit_id=row.external_customer_unit_id,
                data=row.data,
                timestamp=row.timestamp,
                idempotency_key=row.idempotency_key,
            )
            for display_id, (row, customer_id, product_id) in zip(display_ids, rows, strict=True)
        ],
        batch_size=MAX_BATCH,
    )
    return display_ids


# --- the service ---------------------------------------------------------------------------------------------


def signal_ingest(*, organization: Organization, signals: list[Any]) -> IngestResult:
    """Store a batch of wire signals. Invalid items are counted in `failed` (with their index and message) and
    the valid ones stored; items whose idempotency key was seen before (in this batch or earlier) are counted
    in `duplicates`. With the organization's `auto_create_customers` on, an unknown `externalCustomerId` of a
    stored signal becomes a customer named after it (once, even under concurrent batches). One transaction;
    no pricing."""
    now = timezone.now()
    latest = now + MAX_FUTURE
    result = IngestResult()
    unique: list[_Row] = []
    seen: set[str] = set()
    for index, item in enumerate(signals):
        row = _parse_fast(item, now, latest)
        if row is None:
            try:
                row = _parse(item, now)
            except _Invalid as invalid:
                result.failed += 1
                where = f"signals[{index}].{invalid.field}" if invalid.field else f"signals[{index}]"
                result.errors.append(
                    {"index": index, "field": invalid.field, "message": f"{where}: {invalid.problem}"}
                )
                continue
        key = row.idempotency_key
        if key is not None:
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
        unique.append(row)

    customers_by_display, customers_by_external = customer_pks_by_reference(
        organization=organization,
        display_ids={r.customer_ref for r in unique if r.customer_ref},
        external_ids={r.external_customer_id for r in unique if r.external_customer_id},
    )
    products_by_display, products_by_external = product_pks_by_reference(
        organization=organization,
        display_ids={r.product_ref for r in unique if r.product_ref},
        external_ids={r.external_product_id for r in unique if r.external_product_id},
    )
    with transaction.atomic():
        fresh = _new_keys(organization_id=organization.pk, keys=sorted(seen), now=now)
        stored = [r for r in unique if r.idempotency_key is None or r.idempotency_key in fresh]
        result.duplicates += len(unique) - len(stored)
        if organization.auto_create_customers:
            # Only the signals being stored create customers: a replay names no one new.
            unknown = {
                r.external_customer_id
                for r in stored
                if r.external_customer_id and r.external_customer_id not in customers_by_external
            }
            if unknown:
                created = customer_pks_get_or_create_by_external_ids(
                    organization=organization, external_ids=unknown
                )
                result.customers_created = created.created
                customers_by_external = {**customers_by_external, **created.pks}
        rows = []
        for row in stored:
            if row.customer_ref is not None:
                customer_id = customers_by_display.get(row.customer_ref)
            else:
                customer_id = customers_by_external.get(row.external_customer_id)
            if row.product_ref is not None:
                product_id = products_by_display.get(row.product_ref)
            else:
                product_id = products_by_external.get(row.external_product_id)
            rows.append((row, customer_id, product_id))
        if rows:
            display_ids = _store(organization_id=organization.pk, rows=rows, now=now)
            _days_touched(
                organization_id=organization.pk,
                days={row.timestamp.astimezone(UTC).date() for row, *_ in rows},
            )
            signals_ingested.send(
                organization_id=organization.pk,
                traced_signal_ids=[
                    display_id
                    for display_id, (row, *_) in zip(display_ids, rows, strict=True)
                    if row.data and ("costData" in row.data or "paid" in row.data)
                ],
            )
        result.ingested = len(rows)
    return result


def _days_touched(*, organization_id: int, days: set[date]) -> None:
    """Bump the version of each UTC day whose signals the caller's transaction changes (`SignalDay`). Days in
    order, so concurrent batches lock the rows in the same order; last in the transaction, so the row locks
    are held only until the commit."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {SignalDay._meta.db_table} (organization_id, day, version) VALUES (%s, %s, 1) "
            f"ON CONFLICT (organization_id, day) DO UPDATE SET version = {SignalDay._meta.db_table}.version + 1",
            [(organization_id, day) for day in sorted(days)],
        )


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
                attributed = no_customer.filter(**{f"{field}__in": raw_ids})
                days = set(
                    attributed.annotate(day=TruncDate("timestamp", tzinfo=UTC)).values_list("day", flat=True)
                )
                if days:  # the signals change hands: summaries of their days are stale
                    _days_touched(organization_id=organization.pk, days=days)
                updated += attributed.update(
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


def signals_rating_set(*, outcomes: dict[int, tuple[str, str]]) -> None:
    """Record rating's verdict per signal pk: `(status, reason)`, status one of Signal.Rating. Rating calls it in
    the transaction that holds the signals' row locks."""
    by_outcome: dict[tuple[str, str], list[int]] = {}
    for pk, outcome in outcomes.items():
        by_outcome.setdefault(outcome, []).append(pk)
    for (status, reason), pks in by_outcome.items():
        Signal.objects.filter(pk__in=pks).update(rating=status, rating_error=reason)


def signal_trace_ids_fill(*, organization: Organization, trace_ids: dict[int, str]) -> int:
    """Record the trace each signal (by pk) was linked through (costs, §3.5 `traceId`). Append-only: a signal
    that already has a trace id keeps it. Returns the number of signals updated."""
    updated = 0
    for pk, trace_id in trace_ids.items():
        updated += Signal.objects.filter(organization=organization, pk=pk, trace_id__isnull=True).update(
            trace_id=trace_id
        )
    return updated


# Sent inside the ingest transaction when a batch stored signals (`organization_id=`, and `traced_signal_ids=`:
# the display ids of the stored signals whose data carries `costData` or `paid`, §5); rating connects to it
# (apps/rating/apps.py) to rate them once the batch commits, costs to take their costs. Signals can't import
# rating or costs: they sit above it.
signals_ingested = Hook("signals.ingested")


def signal_trace_ids_set(
    *, organization: Organization, trace_ids: dict[str, str], stored_since: datetime
) -> dict[str, int]:
    """Record the OTLP trace id (32 hex) of signals just ingested from `paid.trace.signal` spans (apps/costs):
    `trace_ids` maps each signal's idempotency key to its trace id. Only signals stored at or after
    `stored_since` are looked at (the `created_at` index; a replayed key kept its first signal's trace id).
    Returns {idempotency key: signal pk} of the signals updated."""
    if not trace_ids:
        return {}
    found = dict(
        Signal.objects.filter(
            organization=organization, created_at__gte=stored_since, idempotency_key__in=list(trace_ids)
        ).values_list("idempotency_key", "pk")
    )
    signal_trace_ids_fill(
        organization=organization, trace_ids={pk: trace_ids[key] for key, pk in found.items()}
    )
    return found
