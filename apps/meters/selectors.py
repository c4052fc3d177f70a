"""Reads of meters, and evaluation: a meter definition compiled to SQL over the organization's signals.

Each data filter is an expression with per-vendor SQL (`as_postgresql` over JSONB, `as_sqlite` over the JSON1
functions) that compares JSON types as well as values, so both databases give the same answers (the table in
tests/meters/test_semantics.py runs on both). User values only ever travel as query parameters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError
from django.db.models import BooleanField, Case, Count, F, Field, Func, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from apps.common.exceptions import NotFound
from apps.meters.definition import PRESENCE_OPS, RANGE_OPS, MeterDefinition, MeterFilter, round_quantity
from apps.meters.models import Meter, MeterRollup, MeterRollupDay
from apps.orders.selectors import active_order_attribute_uses_meter
from apps.signals.selectors import signal_day_versions, signal_queryset, signal_window

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.catalog.models import Product

# SQLite sums JSON numbers in double precision; exact quantities are reported to this many places on both
# databases, so a float residue (2.9999999999999996) cannot push `up` rounding to the next unit.
EXACT_PLACES = Decimal("0.000000001")


# --- meters ----------------------------------------------------------------------------------------------


def meter_list(
    *, organization: Organization, product_id: str | None = None, include_archived: bool = False
) -> QuerySet[Meter]:
    """Meters newest first; archived ones only when asked."""
    qs = Meter.objects.filter(organization=organization).select_related("product")
    if product_id:
        qs = qs.filter(product__display_id=product_id)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs.order_by("-created_at", "-pk")


def meter_get(*, organization: Organization, meter_id: str) -> Meter:
    """By display id (`mtr_…`); another organization's id is NotFound. Archived meters are found."""
    meter = (
        Meter.objects.filter(organization=organization, display_id=meter_id).select_related("product").first()
    )
    if meter is None:
        raise NotFound("Meter", meter_id)
    return meter


def meters_to_roll_up() -> QuerySet[Meter]:
    """Every organization's saved, unarchived meters (the rollup sweep's work list)."""
    return (
        Meter.objects.filter(archived_at__isnull=True)
        .select_related("organization", "product")
        .order_by("pk")
    )


def meter_get_for_update(*, meter: Meter) -> Meter:
    """The meter row, locked until the transaction ends (services only, inside `transaction.atomic`)."""
    return Meter.objects.select_for_update().select_related("product").get(pk=meter.pk)


def meter_is_locked(*, meter: Meter) -> bool:
    """True while an active order's line pricing references the meter (`pricing["meter_id"]`): its definition
    then decides what those orders bill, so it may not change."""
    return active_order_attribute_uses_meter(organization=meter.organization, meter_id=meter.display_id)


def meter_definition(*, meter: Meter) -> MeterDefinition:
    return MeterDefinition.from_wire(
        event_name=meter.event_name,
        operation=meter.operation,
        field=meter.field or None,
        filters=meter.filters,
        rounding=meter.rounding,
    )


# --- SQL for JSON paths ------------------------------------------------------------------------------------


def _sqlite_path(path: tuple[str, ...]) -> str:
    # Segments never hold quotes or backslashes (definition.parse_path), so quoting them is enough.
    return "$" + "".join(f'."{segment}"' for segment in path)


def _pg_value(data_sql: str, data_params: list, path: tuple[str, ...]) -> tuple[str, list]:
    # A chain of `->` (one key each), not `#> '{a,b}'`: cheaper per row (no path array to take apart), and
    # `->` with a text key never indexes an array, where `#>` would read " 1" or "+1" as an index.
    return "(" + data_sql + " -> %s::text" * len(path) + ")", [*data_params, *path]


def _pg_nested(path: tuple[str, ...], value: Any) -> str:
    """`{"a": {"b": value}}` as JSON text: the document that `data @>` a path-equals-value test."""
    for segment in reversed(path):
        value = {segment: value}
    return json.dumps(value)


_SQLITE_NUMBER = "IN ('integer', 'real')"


def _sqlite_eq(type_sql: tuple[str, list], value_sql: tuple[str, list], value: Any) -> tuple[str, list]:
    """SQL true when the (present) field equals `value` in JSON type and value; false when it is missing."""
    (t, t_params), (x, x_params) = type_sql, value_sql
    if value is None or isinstance(value, bool):
        json_type = {None: "null", True: "true", False: "false"}[value]
        return f"COALESCE({t} = '{json_type}', 0)", t_params
    wanted = "= 'text'" if isinstance(value, str) else _SQLITE_NUMBER
    return f"COALESCE({t} {wanted} AND {x} = %s, 0)", [*t_params, *x_params, value]


class _DataExpression(Func):
    """Base of expressions over `Signal.data` at a JSON path; SQL exists per vendor only."""

    def __init__(self, path: tuple[str, ...], *args: Any) -> None:
        super().__init__(F("data"))
        self.path = tuple(path)  # `args` only feed the expression's identity (deconstruct)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"Meters need PostgreSQL or SQLite, not {connection.vendor}.")

    def _data(self, compiler, connection) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, list(params)


class DataFilterMatch(_DataExpression):
    """True where one meter filter (`field op value`) matches the signal's data; see definition.py."""

    output_field = BooleanField()

    def __init__(self, path: tuple[str, ...], op: str, value_json: str | None) -> None:
        # The value travels as JSON text: expressions must be hashable, and a list (`in`) is not.
        super().__init__(path, op, value_json)
        self.op = op
        self.value = None if value_json is None else json.loads(value_json)

    @classmethod
    def of(cls, item: MeterFilter) -> DataFilterMatch:
        value = None if item.op in PRESENCE_OPS else json.dumps(item.value)
        return cls(item.path, item.op, value)

    def as_postgresql(self, compiler, connection, **extra_context):
        v, params = _pg_value(*self._data(compiler, connection), self.path)
        op, value = self.op, self.value
        if op == "exists":
            return f"({v} IS NOT NULL)", params
        if op == "not exists":
            return f"({v} IS NULL)", params
        if op == "=":
            # Containment of {"a": {"b": value}} is `a.b = value` with jsonb's typed equality ('"12"' is not
            # '12', 'true' is not '1', 12 = 12.0), and a scalar never contains an object, an array never an
            # object nor a scalar (except at the top level, and `data` is always an object). It is the
            # cheapest test per row: no intermediate jsonb values are built.
            data_sql, data_params = self._data(compiler, connection)
            return f"COALESCE({data_sql} @> %s::jsonb, false)", [*data_params, _pg_nested(self.path, value)]
        if op == "!=":
            # jsonb equality compares types: '"12"' <> '12', 'true' <> '1'; numbers numerically (12 = 12.0).
            return f"COALESCE({v} <> %s::jsonb, false)", [*params, json.dumps(value)]
        if op == "in":
            placeholders = ", ".join(["%s::jsonb"] * len(value))
            return f"COALESCE({v} IN ({placeholders}), false)", [*params, *(json.dumps(x) for x in value)]
        if op in RANGE_OPS:
            if isinstance(value, str):
                # COLLATE "C": code point order, as SQLite's BINARY collation, whatever the database locale.
                return (
                    f"COALESCE(jsonb_typeof({v}) = 'string' AND ({v} #>> '{{}}') COLLATE \"C\" {op} %s, false)",
                    [*params, *params, value],
                )
            return (
                f"COALESCE(jsonb_typeof({v}) = 'number' AND {v} {op} %s::jsonb, false)",
                [*params, *params, json.dumps(value)],
            )
        raise NotSupportedError(f"Unknown meter filter op {op!r}")

    def as_sqlite(self, compiler, connection, **extra_context):
        data_sql, data_params = self._data(compiler, connection)
        path = _sqlite_path(self.path)
        type_sql, type_params = f"json_type({data_sql}, %s)", [*data_params, path]
        value_sql, value_params = f"json_extract({data_sql}, %s)", [*data_params, path]
        op, value = self.op, self.value
        if op == "exists":
            return f"({type_sql} IS NOT NULL)", type_params
        if op == "not exists":
            return f"({type_sql} IS NULL)", type_params

        def eq(x: Any) -> tuple[str, list]:
            return _sqlite_eq((type_sql, type_params), (value_sql, value_params), x)

        if op == "=":
            return eq(value)
        if op == "!=":
            sql, params = eq(value)
            return f"({type_sql} IS NOT NULL AND NOT {sql})", [*type_params, *params]
        if op == "in":
            parts = [eq(x) for x in value]
            return "(" + " OR ".join(sql for sql, _ in parts) + ")", [p for _, ps in parts for p in ps]
        if op in RANGE_OPS:
            wanted = "= 'text'" if isinstance(value, str) else _SQLITE_NUMBER
            return (
                f"COALESCE({type_sql} {wanted} AND {value_sql} {op} %s, 0)",
                [*type_params, *value_params, value],
            )
        raise NotSupportedError(f"Unknown meter filter op {op!r}")


class DataNumber(_DataExpression):
    """The number at a JSON path, or NULL when it is missing or not a JSON number (a string "12" included).
    Numeric on PostgreSQL, integer or real on SQLite: read it through `_decimal`."""

    output_field = Field()  # no converters: the driver's value as is

    def as_postgresql(self, compiler, connection, **extra_context):
        v, params = _pg_value(*self._data(compiler, connection), self.path)
        # jsonb -> numeric is a copy of the stored numeric (no text round trip); exact, like the JSON text.
        return f"(CASE WHEN jsonb_typeof({v}) = 'number' THEN {v}::numeric END)", [*params, *params]

    def as_sqlite(self, compiler, connection, **extra_context):
        data_sql, data_params = self._data(compiler, connection)
        path = _sqlite_path(self.path)
        return (
            f"(CASE WHEN json_type({data_sql}, %s) {_SQLITE_NUMBER} THEN json_extract({data_sql}, %s) END)",
            [*data_params, path, *data_params, path],
        )


class DataIsNumber(_DataExpression):
    """True where the value at a JSON path is a JSON number: the signals a sum meter adds (`signalCount`)."""

    output_field = BooleanField()

    def as_postgresql(self, compiler, connection, **extra_context):
        v, params = _pg_value(*self._data(compiler, connection), self.path)
        return f"COALESCE(jsonb_typeof({v}) = 'number', false)", params

    def as_sqlite(self, compiler, connection, **extra_context):
        data_sql, data_params = self._data(compiler, connection)
        return f"COALESCE(json_type({data_sql}, %s) {_SQLITE_NUMBER}, 0)", [
            *data_params,
            _sqlite_path(self.path),
        ]


def exact_decimal(value: Any) -> Decimal:
    """A sum as the database returned it (Decimal on PostgreSQL, float on SQLite) as a Decimal, digit for digit."""
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return exact_decimal(value).quantize(EXACT_PLACES).normalize() + 0  # + 0: no "-0"


# --- evaluation ------------------------------------------------------------------------------------------


def meter_signals(
    *,
    organization: Organization,
    product: Product,
    definition: MeterDefinition,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
) -> QuerySet:
    """The organization's signals that the definition counts: the product's (resolved, or unresolved but sent
    with its id or external id), the event name, every data filter, and `[window_from, window_to)` on the
    signal's own timestamp."""
    product_match = Q(product_id=product.pk) | Q(product__isnull=True, product_ref=product.display_id)
    if product.external_id:
        product_match |= Q(product__isnull=True, external_product_id=product.external_id)
    qs = signal_queryset(organization=organization).filter(product_match, event_name=definition.event_name)
    for item in definition.filters:
        qs = qs.filter(DataFilterMatch.of(item))
    if window_from is not None:
        qs = qs.filter(timestamp__gte=window_from)
    if window_to is not None:
        qs = qs.filter(timestamp__lt=window_to)
    return qs


@dataclass(frozen=True)
class MeterQuantity:
    customer_id: str | None  # display id when resolved, else the customerId as sent (if any)
    external_customer_id: str | None
    customer_name: str | None
    resolved: bool
    quantity: int
    exact_quantity: Decimal
    signal_count: int
    skipped: int


@dataclass(frozen=True)
class MeterPreview:
    rows: list[MeterQuantity]
    quantity: int
    exact_quantity: Decimal
    signal_count: int
    skipped: int
    window_from: datetime
    window_to: datetime


def meter_preview_compute(
    *,
    organization: Organization,
    product: Product,
    definition: MeterDefinition,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    meter: Meter | None = None,
) -> MeterPreview:
    """Quantity per customer over the window. Resolved signals group by customer; unresolved ones by the
    external id (else customerId) they were sent with. Each customer's quantity is rounded to whole units by
    the definition's rule; totals add the rounded quantities (and the exact ones).

    For a saved `meter`, whole past days whose rollup is current (`meter_rollup_days_current`) are read from
    the rollups, and only the rest of the window from the signals: one grouped query over the signals, one
    over the rollups, one that names the customers found."""
    window_from, window_to = signal_window(
        window_from=window_from, window_to=window_to, fields=("from", "to")
    )
    rolled = (
        meter_rollup_days_current(meter=meter, window_from=window_from, window_to=window_to) if meter else []
    )
    signals = meter_signals(organization=organization, product=product, definition=definition)
    groups = []
    ranges = _uncovered(window_from, window_to, rolled)
    if ranges:
        in_ranges = Q()
        for start, end in ranges:
            in_ranges |= Q(timestamp__gte=start, timestamp__lt=end)
        groups += meter_groups(signals.filter(in_ranges), definition)
    if rolled:
        groups += (
            MeterRollup.objects.filter(organization=organization, meter=meter, day__in=rolled)
            .values("customer_id", "raw_external_id", "raw_customer_ref")
            .order_by()
            .annotate(total=Sum("total"), counted=Sum("counted"), seen=Sum("seen"))
        )
    merged: dict[tuple, dict] = {}
    for group in groups:
        key = (group["customer_id"], group["raw_external_id"], group["raw_customer_ref"])
        into = merged.setdefault(key, {"total": None, "counted": 0, "seen": 0})
        if group.get("total") is not None:
            into["total"] = (into["total"] or Decimal(0)) + exact_decimal(group["total"])
        into["counted"] += group.get("counted", group["seen"])
        into["seen"] += group["seen"]
    names = _customer_names(signals, {key[0] for key in merged} - {None})

    rows = []
    for (customer_pk, raw_external_id, raw_customer_ref), group in merged.items():
        counted = group["counted"]
        exact = _decimal(group["total"]) if definition.operation == "sum" else Decimal(counted)
        resolved = customer_pk is not None
        # .get: a customer deleted outright between the two queries (its signals' link is then NULL anyway)
        display_id, name, external_id = names.get(customer_pk, (None, None, None))
        rows.append(
            MeterQuantity(
                customer_id=display_id if resolved else raw_customer_ref,
                external_customer_id=external_id if resolved else raw_external_id,
                customer_name=name,
                resolved=resolved,
                quantity=round_quantity(exact, definition.rounding),
                exact_quantity=exact,
                signal_count=counted,
                skipped=group["seen"] - counted,
            )
        )
    rows.sort(
        key=lambda r: (-r.quantity, -r.exact_quantity, r.customer_name or "", r.external_customer_id or "")
    )
    return MeterPreview(
        rows=rows,
        quantity=sum(r.quantity for r in rows),
        exact_quantity=sum((r.exact_quantity for r in rows), Decimal(0)),
        signal_count=sum(r.signal_count for r in rows),
        skipped=sum(r.skipped for r in rows),
        window_from=window_from,
        window_to=window_to,
    )


def meter_groups(signals: QuerySet, definition: MeterDefinition) -> list[dict]:
    """The signals grouped as the preview reports them: `customer_id`, `raw_external_id`, `raw_customer_ref`,
    and `seen` (signals), plus for a sum `total` and `counted` (signals whose field is a number)."""
    # Grouped on the signals' own columns only, names read afterwards: a join to customers per signal makes
    # PostgreSQL group by the customers' text columns too; it then expects one group per signal and sorts
    # every matching row (with `data`, to disk) instead of hashing a few thousand groups. Naming the groups by
    # subqueries in the same query would keep the plan off parallel workers.
    unresolved = Q(customer__isnull=True)
    groups = (
        signals.annotate(
            raw_external_id=_when(unresolved, "external_customer_id"),
            raw_customer_ref=_when(unresolved & Q(external_customer_id__isnull=True), "customer_ref"),
        )
        .values("customer_id", "raw_external_id", "raw_customer_ref")
        .order_by()
    )
    if definition.operation == "sum":
        path = tuple(definition.field.split("."))
        return list(
            groups.annotate(
                total=Sum(DataNumber(path), output_field=Field()),
                counted=Count("id", filter=Q(DataIsNumber(path))),
                seen=Count("id"),
            )
        )
    return list(groups.annotate(seen=Count("id")))


# --- rollups -----------------------------------------------------------------------------------------------

ROLLUP_DAYS = 92  # how far back saved meters keep day rollups; older days are read from the signals


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def meter_fingerprint(*, meter: Meter) -> str:
    """What a rollup's numbers depend on besides the signals: the definition (not its rounding: rollups hold
    exact values) and how the product is named on unresolved signals."""
    definition = meter_definition(meter=meter)
    basis = {
        "event": definition.event_name,
        "operation": definition.operation,
        "field": definition.field,
        "filters": [[f.field, f.op, repr(f.value)] for f in definition.filters],
        "product": [meter.product_id, meter.product.display_id, meter.product.external_id],
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def meter_rollup_days_stale(*, meter: Meter, days: list[date]) -> list[date]:
    """Of the days, those without a current rollup (none yet, the day's signals changed, or the meter did)."""
    fingerprint = meter_fingerprint(meter=meter)
    versions = signal_day_versions(organization=meter.organization, days=days)
    have = dict(
        MeterRollupDay.objects.filter(
            organization_id=meter.organization_id, meter=meter, day__in=days, fingerprint=fingerprint
        ).values_list("day", "version")
    )
    return [day for day in days if have.get(day) != versions[day]]


def meter_rollup_days_current(*, meter: Meter, window_from: datetime, window_to: datetime) -> list[date]:
    """The whole UTC days inside the window, before today, whose rollup is current."""
    last = min(window_to, timezone.now()).astimezone(UTC)
    first = window_from.astimezone(UTC)
    day = first.date() if first == day_bounds(first.date())[0] else first.date() + timedelta(days=1)
    days = []
    while day_bounds(day)[1] <= last:
        days.append(day)
        day += timedelta(days=1)
    if not days:
        return []
    stale = set(meter_rollup_days_stale(meter=meter, days=days))
    return [day for day in days if day not in stale]


def _uncovered(
    window_from: datetime, window_to: datetime, days: list[date]
) -> list[tuple[datetime, datetime]]:
    """`[window_from, window_to)` less the (sorted, whole) days, as the fewest ranges."""
    ranges, cursor = [], window_from
    for day in days:
        start, end = day_bounds(day)
        if start > cursor:
            ranges.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < window_to:
        ranges.append((cursor, window_to))
    return ranges


_NAMES_CHUNK = 5000  # primary keys per query: under SQLite's limit on query parameters


def _customer_names(signals: QuerySet, pks: set[int]) -> dict[int, tuple[str, str, str | None]]:
    """{pk: (display id, name, external id)} of the signals' resolved customers, deleted ones included (their
    signals still count). Read through the signals' relation: customers' models stay private to that app."""
    customers = signals.model._meta.get_field("customer").related_model._default_manager
    ordered = sorted(pks)
    names = {}
    for start in range(0, len(ordered), _NAMES_CHUNK):
        chunk = customers.filter(pk__in=ordered[start : start + _NAMES_CHUNK])
        rows = chunk.values_list("pk", "display_id", "name", "external_id")
        names.update({pk: (display_id, name, external_id) for pk, display_id, name, external_id in rows})
    return names


def _when(condition: Q, field: str) -> Case:
    return Case(When(condition, then=F(field)), default=Value(None))
