"""Delivered value per signal (docs/value.md, "Delivered value"): each unarchived metric bound to a signal's
event name evaluates its formula over the signal's `data`, and the result is stored as one `DeliveredValue`.

Two entry points: `value_deliver(organization, signal_ids)` for signals rating has just rated (rating's
`signals_rated` hook → `tasks.value_deliver_signals`), and `value_backfill(organization, metric)` recomputing a
metric's rows over history after it changes. Both write with an upsert on (organization, metric, signal_id),
so either may run again, or overlap, without duplicating a row."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.db import transaction

from apps.signals.selectors import signal_queryset
from apps.value.formula import CONTEXT, FormulaError, duration_to_seconds, parse
from apps.value.models import DeliveredValue, ValueMetric

logger = logging.getLogger(__name__)

BATCH = 1000
QUANTUM = Decimal("1e-12")  # DeliveredValue.value's 12 decimal places
MAX_VALUE = Decimal("1e20")  # its 20 integer digits
_parse = lru_cache(maxsize=256)(parse)  # one parse per expression, not per signal
UPSERT_FIELDS = ["customer_id", "event_name", "timestamp", "value", "metric_version", "computed_at"]


def bind(metric: ValueMetric, data: Any) -> dict[str, Any]:
    """The formula's variables for one signal's `data`: `data[id]`, else the binding's `defaults[id]`, else
    null. A `duration` variable read from the data is converted to seconds with its `<id>_unit` field (a
    default is taken as seconds already)."""
    data = data if isinstance(data, dict) else {}
    defaults = metric.signal.get("defaults") or {}
    variables: dict[str, Any] = {}
    for variable in metric.formula["variables"]:
        var_id = variable["id"]
        if var_id in data and data[var_id] is not None:
            value = data[var_id]
            if variable.get("type") == "duration":
                value = duration_to_seconds(value, data.get(f"{var_id}_unit"))
        elif var_id in defaults:
            value = Decimal(defaults[var_id])
        else:
            value = None
        variables[var_id] = value
    return variables


def signal_value(metric: ValueMetric, data: Any) -> Decimal | None:
    """What a signal with this `data` delivers for the metric, rounded to the stored 12 decimal places; None
    when it delivers nothing (a null or non-number result, a FormulaError, a value too large to store)."""
    try:
        result = _parse(metric.formula["expression"]).evaluate(bind(metric, data))
    except FormulaError as error:
        logger.debug("value metric %s: no value: %s", metric.pk, error)
        return None
    if not isinstance(result, Decimal):
        if result is not None:
            logger.debug("value metric %s: no value: the formula gave %r, not a number", metric.pk, result)
        return None
    try:
        value = result.quantize(QUANTUM, context=CONTEXT)
    except InvalidOperation:
        value = None
    if value is None or abs(value) >= MAX_VALUE:
        logger.debug("value metric %s: no value: %s is too large to store", metric.pk, result)
        return None
    return value


def _rows(metric: ValueMetric, signals: Iterable) -> tuple[list[DeliveredValue], list[int]]:
    """Rows for the signals that deliver a value, and the pks of those that deliver none."""
    rows, empty = [], []
    for signal in signals:
        value = signal_value(metric, signal.data)
        if value is None:
            empty.append(signal.pk)
            continue
        rows.append(
            DeliveredValue(
                organization_id=metric.organization_id,
                metric=metric,
                signal_id=signal.pk,
                customer_id=signal.customer_id,
                event_name=signal.event_name,
                timestamp=signal.timestamp,
                value=value,
                metric_version=metric.version,
            )
        )
    return rows, empty


def _write(metric: ValueMetric, rows: list[DeliveredValue], empty: list[int]) -> None:
    if empty:  # a signal that no longer delivers a value (its metric changed) loses its old row
        DeliveredValue.objects.filter(
            organization_id=metric.organization_id, metric=metric, signal_id__in=empty
        ).delete()
    if rows:
        DeliveredValue.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["organization", "metric", "signal_id"],
            update_fields=UPSERT_FIELDS,
        )


def value_deliver(*, organization, signal_ids: list[int]) -> int:
    """Compute and store what the given signals (pks, of this organization) delivered for each unarchived
    metric bound to their event names. Returns the number of rows written. Idempotent."""
    metrics_by_event: dict[str, list[ValueMetric]] = {}
    for metric in ValueMetric.objects.filter(organization=organization, archived_at__isnull=True):
        metrics_by_event.setdefault(metric.signal["eventName"], []).append(metric)
    if not metrics_by_event or not signal_ids:
        return 0
    written = 0
    for start in range(0, len(signal_ids), BATCH):
        chunk = signal_ids[start : start + BATCH]
        signals = list(
            signal_queryset(organization=organization)
            .filter(pk__in=chunk, event_name__in=list(metrics_by_event))
            .only("pk", "customer_id", "event_name", "timestamp", "data")
        )
        with transaction.atomic():
            for event_name, metrics in metrics_by_event.items():
                matching = [s for s in signals if s.event_name == event_name]
                if not matching:
                    continue
                for metric in metrics:
                    rows, empty = _rows(metric, matching)
                    _write(metric, rows, empty)
                    written += len(rows)
    return written


def value_backfill(*, organization, metric: ValueMetric) -> int:
    """Recompute the metric's rows over all of the organization's signals with its event name, in batches of
    BATCH signals (each batch one transaction: upsert the values, delete rows of signals that now deliver
    none), then delete rows left from an older version. An archived metric is left as it is (its rows stay;
    new signals compute nothing for it). Stops early when the metric changes meanwhile: that change queued a
    backfill of its own. Returns the number of rows written."""
    metric = ValueMetric.objects.filter(organization=organization, pk=metric.pk).first()
    if metric is None or metric.archived_at is not None:
        return 0
    signals = (
        signal_queryset(organization=organization)
        .filter(event_name=metric.signal["eventName"])
        .only("pk", "customer_id", "event_name", "timestamp", "data")
        .order_by("pk")
    )
    written, after = 0, 0
    while True:
        batch = list(signals.filter(pk__gt=after)[:BATCH])
        if not batch:
            break
        if not ValueMetric.objects.filter(pk=metric.pk, version=metric.version).exists():
            return written  # changed (or deleted) meanwhile: the newer backfill takes over
        with transaction.atomic():
            rows, empty = _rows(metric, batch)
            _write(metric, rows, empty)
        written += len(rows)
        after = batch[-1].pk
    DeliveredValue.objects.filter(organization=organization, metric=metric).exclude(
        metric_version=metric.version
    ).delete()
    return written
