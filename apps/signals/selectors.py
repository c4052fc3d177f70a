from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError, connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.catalog.selectors import product_pks_by_reference
from apps.common.exceptions import DomainError, NotFound
from apps.customers.selectors import customer_pks_by_reference
from apps.signals.models import Signal, SignalDay

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.catalog.models import Product


def signal_list(
    *,
    organization: Organization,
    signal_name: str | None = None,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    product_id: str | None = None,
    external_product_id: str | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
) -> QuerySet[Signal]:
    """Signals newest first. Customer and product filters match resolved signals by the resolved row (so an
    alias finds its customer's signals) and unresolved ones by the id as it was sent."""
    qs = Signal.objects.filter(organization=organization)
    if signal_name:
        qs = qs.filter(event_name=signal_name)
    if customer_id or external_customer_id:
        by_display, by_external = customer_pks_by_reference(
            organization=organization,
            display_ids={customer_id} if customer_id else set(),
            external_ids={external_customer_id} if external_customer_id else set(),
        )
        if customer_id:
            qs = qs.filter(Q(customer_id=by_display.get(customer_id, 0)) | Q(customer_ref=customer_id))
        if external_customer_id:
            qs = qs.filter(
                Q(customer_id=by_external.get(external_customer_id, 0))
                | Q(external_customer_id=external_customer_id)
            )
    if product_id or external_product_id:
        by_display, by_external = product_pks_by_reference(
            organization=organization,
            display_ids={product_id} if product_id else set(),
            external_ids={external_product_id} if external_product_id else set(),
        )
        if product_id:
            qs = qs.filter(Q(product_id=by_display.get(product_id, 0)) | Q(product_ref=product_id))
        if external_product_id:
            qs = qs.filter(
                Q(product_id=by_external.get(external_product_id, 0))
                | Q(external_product_id=external_product_id)
            )
    if created_at_from:
        qs = qs.filter(created_at__gte=created_at_from)
    if created_at_to:
        qs = qs.filter(created_at__lte=created_at_to)
    return qs.select_related("customer", "product").order_by("-created_at", "-id")


def signal_get(*, organization: Organization, signal_id: str) -> Signal:
    signal = (
        Signal.objects.filter(organization=organization, display_id=signal_id)
        .select_related("customer", "product")
        .first()
    )
    if signal is None:
        raise NotFound("Signal", signal_id)
    return signal


def signal_queryset(*, organization: Organization) -> QuerySet[Signal]:
    """All of the organization's signals, unordered: the base other apps (meters) build their queries on."""
    return Signal.objects.filter(organization=organization)


# --- signal metadata: the JSON paths seen in signal data ---------------------------------------------------
#
# `GET analytics/signals/metadata` and the meter builder's field list. Reading every signal in the window would
# be slow on a big table (9 s for 345k signals on PostgreSQL), so each event name contributes only its newest
# signals in the window, found by the (organization, event_name, timestamp) index, and the event names come
# from a skip scan of that index (one probe per name). The sample's data is walked in Python: measured on both
# databases, that beat walking it in SQL (recursive jsonb_each / json_each) by 1.4-9x (docs/signals.md).

METADATA_WINDOW = timedelta(days=30)
METADATA_SAMPLE = 200  # newest signals read per event name
METADATA_SAMPLE_ONE_NAME = 1000  # when the caller asks for one event name
METADATA_MAX_NAMES = 200  # event names looked at, in name order
METADATA_UNRESOLVED_SCAN = 2000  # newest signals of a name searched for unresolved ones of a product
METADATA_MAX_DEPTH = 10  # as meter paths (apps.meters.definition.MAX_PATH_DEPTH)
# Keys a meter's dotted path cannot name: empty, with a dot, quote, backslash or NUL, or shaped like an array
# index. Such a key is left out with everything under it.
_UNADDRESSABLE_KEY = re.compile(r'^$|^-?[0-9]+$|[."\\\x00]')
JSON_TYPES = ("string", "number", "boolean", "null", "object", "array")


@dataclass(frozen=True)
class SignalPath:
    path: str  # dotted object keys (`usage.minutes`), the form meter fields take
    types: tuple[str, ...]  # JSON types seen, in JSON_TYPES order
    signal_count: int  # sampled signals that had the path
    type_counts: tuple[tuple[str, int], ...] = ()  # (JSON type, sampled signals with it), most seen first


@dataclass(frozen=True)
class SignalNameMetadata:
    signal_name: str
    sampled: int  # signals read; below the sample bound, every signal of the window was read
    sample_limit: int
    paths: tuple[SignalPath, ...]

    @property
    def complete(self) -> bool:
        return self.sampled < self.sample_limit


@dataclass(frozen=True)
class SignalMetadata:
    signals: tuple[SignalNameMetadata, ...]
    window_from: datetime
    window_to: datetime


def signal_window(
    *,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    fields: tuple[str, str] = ("fromDate", "toDate"),
) -> tuple[datetime, datetime]:
    """`[from, to)` on the signal's own timestamp; by default the 30 days up to now (or up to `to`). A window
    that ends before it starts is a DomainError naming the wire fields (`fields`: from, to)."""
    window_to = window_to or timezone.now()
    window_from = window_from or window_to - METADATA_WINDOW
    if window_from >= window_to:
        raise DomainError(f"must be before {fields[1]}", field=fields[0])
    return window_from, window_to


def signal_metadata(
    *,
    organization: Organization,
    signal_name: str | None = None,
    product: Product | None = None,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    sample: int | None = None,
) -> SignalMetadata:
    """Event names with signals in `[window_from, window_to)` (their timestamp) and, for each, the JSON paths
    and types seen in the data of its newest `sample` signals there. `product` narrows to the signals a meter
    on that product reads (resolved to it, or unresolved but sent with its id or external id)."""
    window_from, window_to = signal_window(window_from=window_from, window_to=window_to)
    if sample is None:
        sample = METADATA_SAMPLE if signal_name is None else METADATA_SAMPLE_ONE_NAME
    rows = _metadata_sample(
        organization=organization,
        signal_name=signal_name,
        product=product,
        window_from=window_from,
        window_to=window_to,
        sample=sample,
    )
    walked: dict[str, tuple[list[int], dict[str, dict[str, int]]]] = {}
    for event_name, text in rows:
        sampled, paths = walked.setdefault(event_name, ([0], {}))
        sampled[0] += 1
        data = json.loads(text) if isinstance(text, str) else text
        if isinstance(data, dict):
            _walk(data, "", 1, paths)
    order = {json_type: index for index, json_type in enumerate(JSON_TYPES)}
    signals = tuple(
        SignalNameMetadata(
            signal_name=name,
            sampled=sampled[0],
            sample_limit=sample,
            paths=tuple(
                SignalPath(
                    path=path,
                    types=tuple(sorted(types, key=order.__getitem__)),
                    signal_count=sum(types.values()),
                    type_counts=tuple(sorted(types.items(), key=lambda item: (-item[1], order[item[0]]))),
                )
                for path, types in sorted(paths.items())
            ),
        )
        for name, (sampled, paths) in sorted(walked.items())
    )
    return SignalMetadata(signals=signals, window_from=window_from, window_to=window_to)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _walk(data: dict, prefix: str, depth: int, paths: dict[str, dict[str, int]]) -> None:
    for key, value in data.items():
        if _UNADDRESSABLE_KEY.search(key):
            continue
        path = prefix + key
        types = paths.setdefault(path, {})
        json_type = _json_type(value)
        types[json_type] = types.get(json_type, 0) + 1
        if json_type == "object" and depth < METADATA_MAX_DEPTH:
            _walk(value, path + ".", depth + 1, paths)


def _metadata_sample(
    *,
    organization: Organization,
    signal_name: str | None,
    product: Product | None,
    window_from: datetime,
    window_to: datetime,
    sample: int,
) -> list[tuple[str, Any]]:
    """(event name, data as JSON text) of the newest `sample` signals of each event name in the window.

    For a product, the signals resolved to it come from an index range (organization, product, event name,
    timestamp); the unresolved ones sent with its id or external id are looked for among the newest
    METADATA_UNRESOLVED_SCAN signals of each name only, so a name the product never sends costs a bounded
    scan, not the whole window."""
    table = Signal._meta.db_table
    if signal_name is not None:
        names_sql, names_params = "SELECT CAST(%s AS varchar(255)) AS event_name", [signal_name]
    else:
        # A skip scan: one index probe per distinct name instead of reading every row of the organization.
        names_sql = f"""
            WITH RECURSIVE n(event_name, depth) AS (
                SELECT (SELECT event_name FROM {table} WHERE organization_id = %s
                        ORDER BY event_name LIMIT 1), 1
                UNION ALL
                SELECT (SELECT s.event_name FROM {table} s WHERE s.organization_id = %s
                        AND s.event_name > n.event_name ORDER BY s.event_name LIMIT 1), n.depth + 1
                FROM n WHERE n.event_name IS NOT NULL AND n.depth < %s
            )
            SELECT event_name FROM n WHERE event_name IS NOT NULL"""
        names_params = [organization.pk, organization.pk, METADATA_MAX_NAMES]
    window = [
        organization.pk,
        connection.ops.adapt_datetimefield_value(window_from),
        connection.ops.adapt_datetimefield_value(window_to),
    ]
    in_window = "s.organization_id = %s AND s.event_name = names.event_name AND s.timestamp >= %s AND s.timestamp < %s"
    newest = "ORDER BY s.timestamp DESC, s.id DESC LIMIT %s"
    # Each part: ids of one name's signals (correlated with `names`), with their parameters.
    if product is None:
        parts = [(f"SELECT s.id FROM {table} s WHERE {in_window} {newest}", [*window, sample])]
    else:
        refs, ref_params = "u.product_ref = %s", [product.display_id]
        if product.external_id:
            refs, ref_params = f"({refs} OR u.external_product_id = %s)", [*ref_params, product.external_id]
        parts = [
            (
                f"SELECT s.id FROM {table} s WHERE {in_window} AND s.product_id = %s {newest}",
                [*window, product.pk, sample],
            ),
            (
                f"SELECT u.id FROM {table} u WHERE u.id IN (SELECT s.id FROM {table} s WHERE {in_window} {newest})"
                f" AND u.product_id IS NULL AND {refs}",
                [*window, METADATA_UNRESOLVED_SCAN, *ref_params],
            ),
        ]
    if connection.vendor == "postgresql":
        data, pick = (
            "sig.data::text",
            "CROSS JOIN LATERAL ({ids}) picked JOIN {table} sig ON sig.id = picked.id",
        )
    elif connection.vendor == "sqlite":
        # No LATERAL on SQLite: a correlated `IN (… LIMIT n)` picks each name's ids.
        data, pick = "sig.data", "JOIN {table} sig ON sig.id IN ({ids})"
    else:
        raise NotSupportedError(f"Signal metadata needs PostgreSQL or SQLite, not {connection.vendor}.")
    selects = [
        f"SELECT names.event_name, sig.timestamp, sig.id, {data} FROM names {pick.format(ids=ids, table=table)}"
        for ids, _ in parts
    ]
    sql = f"WITH names AS ({names_sql}) " + " UNION ALL ".join(selects)
    params = [*names_params, *(param for _, part_params in parts for param in part_params)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if product is not None:
        # Resolved and unresolved signals of a name together: keep its newest `sample`.
        rows.sort(key=lambda row: (row[0], row[1], row[2]), reverse=True)
        kept, taken = [], dict.fromkeys((row[0] for row in rows), 0)
        for row in rows:
            if taken[row[0]] < sample:
                taken[row[0]] += 1
                kept.append(row)
        rows = kept
    return [(event_name, text) for event_name, _, _, text in rows]


# --- the dashboard's signals page ----------------------------------------------------------------------------

ATTRIBUTIONS = ("resolved", "unresolved_customer", "unresolved_product")


def signal_search(
    *,
    organization: Organization,
    signal_name: str | None = None,
    customer: str | None = None,
    product_id: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    attribution: str | None = None,
    rating: str | None = None,
    after_id: int | None = None,
) -> QuerySet[Signal]:
    """`signal_list` (newest first) with the dashboard's filters: `customer` is a customer id (`cus_…`) or an
    external customer id; `attribution` one of ATTRIBUTIONS; `rating` a Signal.Rating; `after_id` keeps only
    signals stored after that one (the live stream)."""
    by_customer = {}
    if customer:
        by_customer = {"customer_id" if customer.startswith("cus_") else "external_customer_id": customer}
    qs = signal_list(
        organization=organization,
        signal_name=signal_name,
        product_id=product_id,
        created_at_from=received_from,
        created_at_to=received_to,
        **by_customer,
    )
    if attribution == "resolved":
        qs = qs.filter(customer__isnull=False)
    elif attribution == "unresolved_customer":
        qs = qs.filter(customer__isnull=True)
    elif attribution == "unresolved_product":
        qs = qs.filter(
            Q(product_ref__isnull=False) | Q(external_product_id__isnull=False), product__isnull=True
        )
    if rating:
        qs = qs.filter(rating=rating)
    if after_id is not None:
        qs = qs.filter(id__gt=after_id)
    return qs


def signals_claim_for_rating(*, organization: Organization, limit: int) -> list[Signal]:
    """Lock up to `limit` pending signals, oldest first, for the caller's transaction. On PostgreSQL rows that
    another worker holds are skipped (`FOR UPDATE SKIP LOCKED`), so several rating workers can run at once;
    SQLite serialises writers anyway."""
    pending = Signal.objects.filter(organization=organization, rating=Signal.Rating.PENDING).order_by("pk")
    return list(pending.select_for_update(skip_locked=True)[:limit])


def organizations_with_pending_signals() -> list[int]:
    """Primary keys of organizations that have signals waiting for rating (the rating schedule's sweep)."""
    pending = Signal.objects.filter(rating=Signal.Rating.PENDING)
    return sorted(set(pending.values_list("organization_id", flat=True).distinct()))


def signal_day_versions(*, organization: Organization, days: list[date]) -> dict[date, int]:
    """The current version of each of the days (0: no signal of that day has been written since versions
    began), for summaries that must know whether the day's signals changed since they were computed."""
    found = dict(
        SignalDay.objects.filter(organization=organization, day__in=days).values_list("day", "version")
    )
    return {day: found.get(day, 0) for day in days}
