"""Manual costs and linking costs to signals (docs/costs.md, "Manual costs and linking").

- `cost_records_ingest`: `POST costs/bulk` (§3.9). Every record is checked before anything is written; one bad
  record fails the batch with its index and field named. `usage` records are priced (apps.costs.pricing).
- `signal_costs_process`: the django-q2 task queued after a signal batch commits (apps.costs.apps): turns each
  signal's `data.costData` (§5.5) into a cost record linked to it, then links cost records to the signals.
- `model_price_set` / `model_price_delete`: an organization's own price for a model; setting one prices the
  records of that model the table did not know (`unknown_model`).
- `cost_records_link_for_signals` / `signals_link_for_cost_records`: the two directions of linking, so spans
  may arrive before or after their signal. A cost record is linked to a signal by (external customer id,
  `paid_scope_id`) (§5.4); a record no scope claims goes to the one signal of its trace, if the trace has
  exactly one (tracing tokens join several processes into one trace, §5.5; span signals with cost tracing, §5.3).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.selectors import organization_get
from apps.catalog.selectors import product_pks_by_reference
from apps.common.exceptions import DomainError, NotFound
from apps.costs.models import CostRecord, ModelPrice
from apps.costs.pricing import Usage, price_usage
from apps.customers.selectors import customer_pks_by_reference
from apps.signals.selectors import signal_queryset
from apps.signals.services import signal_trace_ids_fill

if TYPE_CHECKING:
    from apps.accounts.models import Organization

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_FUTURE = timedelta(hours=24)
MAX_ERRORS_SHOWN = 20
_TEXT_LIMIT = 255
_AMOUNT_QUANTUM = Decimal("1e-12")  # CostRecord.amount: 12 decimal places
_AMOUNT_LIMIT = Decimal("1e12")  # and 24 digits in all
SCOPE_LOOKBACK = timedelta(days=7)  # how far back a late span looks for the signal of its scope or trace


@dataclass
class CostIngestResult:
    ingested: int = 0
    duplicates: int = 0


class _Invalid(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem


# --- checking one value --------------------------------------------------------------------------------------


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _Invalid(name, "is required")
        return None
    if not isinstance(value, str):
        raise _Invalid(name, "must be a string")
    value = value.strip()
    if not value:
        if required:
            raise _Invalid(name, "must not be empty")
        return None
    if len(value) > _TEXT_LIMIT:
        raise _Invalid(name, f"must be at most {_TEXT_LIMIT} characters")
    return value


def _amount(value: Any, name: str) -> Decimal:
    if value is None:
        raise _Invalid(name, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(name, "must be a number (major units, e.g. 0.0123)")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(name, "must be a finite number")
    try:
        amount = Decimal(str(value)).quantize(_AMOUNT_QUANTUM)
    except InvalidOperation:
        raise _Invalid(name, f"must be below {_AMOUNT_LIMIT:,f}") from None
    if amount < 0:
        raise _Invalid(name, "must not be negative")
    if amount >= _AMOUNT_LIMIT:
        raise _Invalid(name, f"must be below {int(_AMOUNT_LIMIT):,}")
    return amount


def _currency(value: Any, name: str) -> str:
    if value is None:
        raise _Invalid(name, "is required")
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise _Invalid(name, 'must be an ISO-4217 code such as "USD"')
    return value.strip().upper()


def _tokens(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the SDK may send 10.0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(name, "must be a whole number")
    if value < 0:
        raise _Invalid(name, "must not be negative")
    if value >= 2**63:
        raise _Invalid(name, "is too large")
    return value


def _timestamp(value: Any, name: str, now: datetime) -> datetime:
    if value is None:
        return now
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise _Invalid(name, "must be an ISO-8601 date-time, e.g. 2026-01-31T23:00:00Z")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > now + MAX_FUTURE:
        raise _Invalid(name, "is more than 24 hours in the future")
    return parsed


def _object(value: Any, name: str, *, required: bool = False) -> dict | None:
    if value is None:
        if required:
            raise _Invalid(name, "is required")
        return None
    if not isinstance(value, dict):
        raise _Invalid(name, "must be a JSON object")
    return value


def _reference(
    value: Any, name: str, keys: tuple[str, str], *, required: bool
) -> tuple[str | None, str | None]:
    """CustomerAttribution / ProductAttribution: an object with exactly one of `keys` (by id | by external id)."""
    obj = _object(value, name, required=required)
    if obj is None:
        return None, None
    by_id = _text(obj.get(keys[0]), f"{name}.{keys[0]}")
    by_external = _text(obj.get(keys[1]), f"{name}.{keys[1]}")
    if (by_id is None) == (by_external is None):
        raise _Invalid(name, f"must have exactly one of {keys[0]}, {keys[1]}")
    return by_id, by_external


# --- costs/bulk ----------------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    record: CostRecord  # not saved; customer/product still to resolve
    customer_ref: str | None
    product_ref: str | None
    usage: Usage | None  # to price (a usage record without costOverride)


def _parse_cost(item: Any, name: str, now: datetime, organization: Organization) -> _Parsed:
    if not isinstance(item, dict):
        raise _Invalid(name, "must be a JSON object")
    kind = item.get("type")
    if kind not in (CostRecord.Kind.COST, CostRecord.Kind.USAGE):
        raise _Invalid(f"{name}.type", 'must be "cost" or "usage"')
    customer_ref, external_customer_id = _reference(
        item.get("customer"), f"{name}.customer", ("customerId", "externalCustomerId"), required=True
    )
    product_ref, external_product_id = _reference(
        item.get("product"), f"{name}.product", ("productId", "externalProductId"), required=False
    )
    record = CostRecord(
        organization=organization,
        source=CostRecord.Source.BULK,
        kind=kind,
        timestamp=_timestamp(item.get("timestamp"), f"{name}.timestamp", now),
        external_customer_id=external_customer_id,
        external_product_id=external_product_id,
        metadata=_object(item.get("metadata"), f"{name}.metadata"),
        idempotency_key=_text(item.get("idempotencyKey"), f"{name}.idempotencyKey"),
    )
    usage = None
    if kind == CostRecord.Kind.COST:
        record.amount = _amount(item.get("amount"), f"{name}.amount")
        record.currency = _currency(item.get("currency"), f"{name}.currency")
        record.vendor = _text(item.get("vendor"), f"{name}.vendor") or ""
        record.model = _text(item.get("model"), f"{name}.model") or ""
        record.price_status = CostRecord.PriceStatus.GIVEN
    else:
        record.vendor = _text(item.get("vendor"), f"{name}.vendor", required=True)
        record.model = _text(item.get("model"), f"{name}.model", required=True)
        tokens = _object(item.get("usage"), f"{name}.usage", required=True)
        usage = Usage(
            input_tokens=_tokens(tokens.get("inputTokens"), f"{name}.usage.inputTokens"),
            output_tokens=_tokens(tokens.get("outputTokens"), f"{name}.usage.outputTokens"),
            cache_read_tokens=_tokens(
                tokens.get("cacheReadInputTokens"), f"{name}.usage.cacheReadInputTokens"
            ),
            cache_creation_tokens=_tokens(
                tokens.get("cacheCreationInputTokens"), f"{name}.usage.cacheCreationInputTokens"
            ),
            reasoning_tokens=_tokens(
                tokens.get("reasoningOutputTokens"), f"{name}.usage.reasoningOutputTokens"
            ),
        )
        if usage.is_empty:
            raise _Invalid(
                f"{name}.usage",
                "must have at least one of inputTokens, outputTokens, "
                "cacheReadInputTokens, cacheCreationInputTokens",
            )
        _set_tokens(record, usage)
        override = _object(item.get("costOverride"), f"{name}.costOverride")
        if override is not None:
            record.amount = _amount(override.get("amount"), f"{name}.costOverride.amount")
            record.currency = _currency(override.get("currency"), f"{name}.costOverride.currency")
            record.price_status = CostRecord.PriceStatus.GIVEN
            usage = None  # "the usage breakdown is still recorded for analytics", not priced
    return _Parsed(record=record, customer_ref=customer_ref, product_ref=product_ref, usage=usage)


def _set_tokens(record: CostRecord, usage: Usage) -> None:
    record.input_tokens = usage.input_tokens
    record.output_tokens = usage.output_tokens
    record.cache_read_tokens = usage.cache_read_tokens
    record.cache_creation_tokens = usage.cache_creation_tokens
    record.reasoning_tokens = usage.reasoning_tokens


def _price(record: CostRecord, usage: Usage, organization: Organization) -> None:
    price = price_usage(
        organization=organization, vendor=record.vendor, model=record.model, usage=usage, at=record.timestamp
    )
    record.amount = price.amount
    record.currency = price.currency
    record.price_status = price.status
    record.price_version = price.version


def cost_records_ingest(*, organization: Organization, costs: list[Any]) -> CostIngestResult:
    """Store a `costs/bulk` batch, all or nothing: every record is checked (and every `customerId`/`productId`
    resolved) first; any problem raises DomainError (400) naming each bad record's index and field, or
    NotFound (404) for an id of no customer/product of the organization, and nothing is stored. Records whose
    optional `idempotencyKey` was seen (earlier in the batch or before) count as `duplicates`. Unknown external
    ids are stored as sent (attributed when linked by external id), as signals do."""
    if len(costs) > MAX_BATCH:
        raise DomainError(f"costs: at most {MAX_BATCH} records per request; got {len(costs)}", field="costs")
    now = timezone.now()
    parsed: list[_Parsed] = []
    errors: list[str] = []
    for index, item in enumerate(costs):
        try:
            parsed.append(_parse_cost(item, f"costs[{index}]", now, organization))
        except _Invalid as invalid:
            errors.append(f"{invalid.field}: {invalid.problem}")
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
        raise DomainError("; ".join(shown) + more, code="VALIDATION_ERROR")

    customers_by_display, customers_by_external = customer_pks_by_reference(
        organization=organization,
        display_ids={p.customer_ref for p in parsed if p.customer_ref},
        external_ids={p.record.external_customer_id for p in parsed if p.record.external_customer_id},
    )
    products_by_display, products_by_external = product_pks_by_reference(
        organization=organization,
        display_ids={p.product_ref for p in parsed if p.product_ref},
        external_ids={p.record.external_product_id for p in parsed if p.record.external_product_id},
    )
    for index, p in enumerate(parsed):
        if p.customer_ref is not None:
            if p.customer_ref not in customers_by_display:
                raise _not_found("Customer", p.customer_ref, f"costs[{index}].customer.customerId")
            p.record.customer_id = customers_by_display[p.customer_ref]
        else:
            p.record.customer_id = customers_by_external.get(p.record.external_customer_id)
        if p.product_ref is not None:
            if p.product_ref not in products_by_display:
                raise _not_found("Product", p.product_ref, f"costs[{index}].product.productId")
            p.record.product_id = products_by_display[p.product_ref]
        elif p.record.external_product_id:
            p.record.product_id = products_by_external.get(p.record.external_product_id)

    result = CostIngestResult()
    unique: list[_Parsed] = []
    seen: set[str] = set()
    for p in parsed:
        key = p.record.idempotency_key
        if key is not None:
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
        unique.append(p)
    for p in unique:
        if p.usage is not None:
            _price(p.record, p.usage, organization)

    for attempt in range(2):  # a concurrent batch with the same key: the second pass sees it as a duplicate
        try:
            with transaction.atomic():
                known = (
                    set(
                        CostRecord.objects.filter(
                            organization=organization, idempotency_key__in=sorted(seen)
                        ).values_list("idempotency_key", flat=True)
                    )
                    if seen
                    else set()
                )
                stored = [p.record for p in unique if p.record.idempotency_key not in known]
                CostRecord.objects.bulk_create(stored, batch_size=MAX_BATCH)
        except IntegrityError:
            if attempt:
                raise
            for p in unique:
                p.record.pk = None
            continue
        break
    result.duplicates += len(unique) - len(stored)
    result.ingested = len(stored)
    return result


def _not_found(resource: str, identifier: str, field: str) -> NotFound:
    error = NotFound(resource, identifier)
    error.message = f"{field}: {error.message}"
    return error


# --- a signal's data.costData (§5.5) -------------------------------------------------------------------------

_ATTRIBUTE_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model")


def _cost_data_record(signal: Any, organization: Organization) -> CostRecord | None:
    """The cost record of one signal's `data.costData`, or None (no costData, or a malformed one: the signal is
    stored already, so a bad costData is logged and skipped, never an error)."""
    data = signal.data if isinstance(signal.data, dict) else {}
    cost_data = data.get("costData")
    if not isinstance(cost_data, dict):
        return None
    name = f"signal {signal.display_id} data.costData"
    try:
        timestamp = signal.timestamp
        if cost_data.get("start_time") is not None:
            timestamp = _timestamp(cost_data.get("start_time"), "start_time", timezone.now())
        record = CostRecord(
            organization=organization,
            source=CostRecord.Source.SIGNAL,
            timestamp=timestamp,
            customer_id=signal.customer_id,
            external_customer_id=signal.external_customer_id,
            product_id=signal.product_id,
            external_product_id=signal.external_product_id,
            vendor=_text(cost_data.get("vendor"), "vendor") or "",
            trace_id=signal.trace_id,
            signal_id=signal.pk,
            idempotency_key=f"costData:{signal.display_id}",  # one cost record per signal
        )
        given = _object(cost_data.get("cost"), "cost")
        attributes = _object(cost_data.get("attributes"), "attributes")
        if given is not None:
            record.kind = CostRecord.Kind.COST
            record.amount = _amount(given.get("amount"), "cost.amount")
            record.currency = _currency(given.get("currency", "USD"), "cost.currency")
            record.model = _text(cost_data.get("gen_ai.response.model"), "gen_ai.response.model") or ""
            record.price_status = CostRecord.PriceStatus.GIVEN
        elif attributes is not None:
            record.kind = CostRecord.Kind.USAGE
            model = next((attributes.get(k) for k in _ATTRIBUTE_MODEL_KEYS if attributes.get(k)), None)
            record.model = _text(model, "attributes.gen_ai.response.model", required=True)
            usage = _attribute_usage(attributes)
            if usage.is_empty:
                raise _Invalid("attributes", "has no gen_ai.usage.* token counts")
            _set_tokens(record, usage)
            _price(record, usage, organization)
        else:
            raise _Invalid("costData", "needs `cost` or `attributes`")
    except _Invalid as invalid:
        logger.warning("%s.%s %s: no cost recorded", name, invalid.field, invalid.problem)
        return None
    return record


def _attribute_usage(attributes: dict) -> Usage:
    """Token counts from OTel GenAI attribute names. `gen_ai.usage.input_tokens` counts the whole prompt (OTel
    GenAI conventions, OpenAI's `prompt_tokens`): cache reads and writes are taken out of it, since
    `Usage.input_tokens` is the non-cached input."""
    total_input = _tokens(attributes.get("gen_ai.usage.input_tokens"), "gen_ai.usage.input_tokens")
    cache_read = _tokens(
        attributes.get("gen_ai.usage.cached_input_tokens"), "gen_ai.usage.cached_input_tokens"
    )
    cache_creation = _tokens(
        attributes.get("gen_ai.usage.cache_creation_input_tokens"), "gen_ai.usage.cache_creation_input_tokens"
    )
    input_tokens = None
    if total_input is not None:
        input_tokens = max(total_input - (cache_read or 0) - (cache_creation or 0), 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=_tokens(attributes.get("gen_ai.usage.output_tokens"), "gen_ai.usage.output_tokens"),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=_tokens(
            attributes.get("gen_ai.usage.reasoning_output_tokens"), "gen_ai.usage.reasoning_output_tokens"
        ),
    )


def signal_costs_process(organization_id: int, signal_ids: list[str]) -> int:
    """django-q2 task (queued by apps.costs.apps after a signal batch commits): the cost records of the signals'
    `data.costData`, then linking. `signal_ids` are display ids. Safe to run again. Returns the records linked."""
    organization = organization_get(organization_id=organization_id)
    signals = list(signal_queryset(organization=organization).filter(display_id__in=list(signal_ids)))
    records = [r for r in (_cost_data_record(s, organization) for s in signals) if r is not None]
    if records:
        CostRecord.objects.bulk_create(records, ignore_conflicts=True)  # idempotency key: once per signal
    return cost_records_link_for_signals(organization=organization, signal_pks=[s.pk for s in signals])


# --- linking -------------------------------------------------------------------------------------------------


def _paid(data: Any) -> dict:
    paid = data.get("paid") if isinstance(data, dict) else None
    return paid if isinstance(paid, dict) else {}


def _scope_of(data: Any) -> int | None:
    scope = _paid(data).get("paid_scope_id")
    if isinstance(scope, bool) or not isinstance(scope, int | str):
        return None
    try:
        return int(scope)
    except ValueError:
        return None


def _cost_tracing(data: Any) -> bool:
    return _paid(data).get("enable_cost_tracing") is True


def _linkable() -> Any:
    """Cost records linking may move: not those of a signal's own costData."""
    return CostRecord.objects.exclude(source=CostRecord.Source.SIGNAL)


def _link_scope(*, organization: Organization, signal: Any, scope: int) -> int:
    """Give `signal` the records of its (external customer id, scope): unlinked ones, and ones a trace gave to
    another signal that does not own this scope. The first signal of a scope keeps it."""
    candidates = list(
        _linkable()
        .filter(
            organization=organization, external_customer_id=signal.external_customer_id, paid_scope_id=scope
        )
        .exclude(signal_id=signal.pk)
        .values_list("pk", "signal_id")
    )
    if not candidates:
        return 0
    others = {sid for _, sid in candidates if sid is not None}
    owners = {
        pk
        for pk, data in signal_queryset(organization=organization)
        .filter(pk__in=others)
        .values_list("pk", "data")
        if _scope_of(data) == scope
    }
    if owners and min(owners) < signal.pk:
        return 0  # an earlier signal owns the scope
    movable = [pk for pk, sid in candidates if sid is None or sid not in owners]
    return _linkable().filter(organization=organization, pk__in=movable).update(signal_id=signal.pk)


def _trace_signal_ids(*, organization: Organization, trace_id: str) -> set[int]:
    return set(
        CostRecord.objects.filter(organization=organization, trace_id=trace_id, signal_id__isnull=False)
        .values_list("signal_id", flat=True)
        .distinct()
    )


def _link_trace(*, organization: Organization, signal_pk: int, trace_id: str) -> int:
    """Unlinked records of the trace go to `signal_pk` when it is the trace's only signal."""
    if _trace_signal_ids(organization=organization, trace_id=trace_id) - {signal_pk}:
        return 0
    return (
        _linkable()
        .filter(organization=organization, trace_id=trace_id, signal_id__isnull=True)
        .update(signal_id=signal_pk)
    )


def cost_records_link_for_signals(*, organization: Organization, signal_pks: Iterable[int]) -> int:
    """After signals are stored: each cost-attributed signal (`data.paid.paid_scope_id`, §5.4) takes the cost
    records of its external customer id and scope; a signal that so finds its trace (or has one: span signals
    with `enable_cost_tracing`, §5.3) records it as its `trace_id` and takes its trace's unlinked records if it
    is the trace's only signal. Idempotent. Returns the number of records linked."""
    signals = list(
        signal_queryset(organization=organization)
        .filter(pk__in=list(signal_pks))
        .only("pk", "external_customer_id", "data", "trace_id")
        .order_by("pk")
    )
    linked = 0
    found_traces: dict[int, str] = {}
    for signal in signals:
        scope = _scope_of(signal.data)
        if scope is None and not _cost_tracing(signal.data):
            continue
        if scope is not None and signal.external_customer_id:
            linked += _link_scope(organization=organization, signal=signal, scope=scope)
        trace_id = signal.trace_id
        if trace_id is None:
            trace_id = (
                CostRecord.objects.filter(
                    organization=organization, signal_id=signal.pk, trace_id__isnull=False
                )
                .order_by("timestamp", "pk")
                .values_list("trace_id", flat=True)
                .first()
            )
            if trace_id:
                found_traces[signal.pk] = trace_id
        if trace_id:
            linked += _link_trace(organization=organization, signal_pk=signal.pk, trace_id=trace_id)
    if found_traces:
        signal_trace_ids_fill(organization=organization, trace_ids=found_traces)
    return linked


def signals_link_for_cost_records(*, organization: Organization, record_pks: Iterable[int]) -> int:
    """After cost records are stored (the OTLP ingest calls it for span costs): each unlinked record goes to
    the signal of its (external customer id, `paid_scope_id`), else to the only signal of its trace. Signals
    stored up to SCOPE_LOOKBACK before the record are searched. Returns the number of records linked."""
    records = list(
        _linkable()
        .filter(organization=organization, pk__in=list(record_pks), signal_id__isnull=True)
        .values_list("pk", "external_customer_id", "customer_id", "paid_scope_id", "trace_id", "created_at")
    )
    if not records:
        return 0
    linked = 0
    since = min(r[5] for r in records) - SCOPE_LOOKBACK
    scopes: dict[tuple[str, int | None, int], list[int]] = {}
    for pk, external_customer_id, customer_id, scope, _, _ in records:
        if scope is not None and external_customer_id:
            scopes.setdefault((external_customer_id, customer_id, scope), []).append(pk)
    # The signal's customer as resolved now (a span's customer may have been unknown when it was stored).
    _, resolved = customer_pks_by_reference(
        organization=organization, display_ids=set(), external_ids={key[0] for key in scopes}
    )
    signals_by_pk: dict[int, Any] = {}
    for (external_customer_id, customer_id, scope), pks in scopes.items():
        customer_id = customer_id or resolved.get(external_customer_id)
        candidates = signal_queryset(organization=organization).filter(
            created_at__gte=since, data__paid__paid_scope_id=scope
        )
        if customer_id is not None:
            candidates = candidates.filter(customer_id=customer_id, external_customer_id=external_customer_id)
        else:
            candidates = candidates.filter(customer__isnull=True, external_customer_id=external_customer_id)
        signal = candidates.order_by("pk").only("pk", "trace_id").first()
        if signal is not None:
            linked += _linkable().filter(organization=organization, pk__in=pks).update(signal_id=signal.pk)
            signals_by_pk[signal.pk] = signal
    # Their traces: the signals that found one get it, and unlinked records of a one-signal trace join it.
    traces = {r[4] for r in records if r[4]}
    found_traces: dict[int, str] = {}
    for trace_id in sorted(traces):
        owners = _trace_signal_ids(organization=organization, trace_id=trace_id)
        if not owners:
            owner = (
                signal_queryset(organization=organization)
                .filter(created_at__gte=since, trace_id=trace_id, data__paid__enable_cost_tracing=True)
                .order_by("pk")
                .values_list("pk", flat=True)
                .first()
            )
            owners = {owner} if owner is not None else set()
        for pk in owners & signals_by_pk.keys():
            if signals_by_pk[pk].trace_id is None:
                found_traces[pk] = trace_id
        if len(owners) == 1:
            linked += _link_trace(organization=organization, signal_pk=next(iter(owners)), trace_id=trace_id)
    if found_traces:
        signal_trace_ids_fill(organization=organization, trace_ids=found_traces)
    return linked


# --- an organization's own model prices ------------------------------------------------------------------


def _per_million(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    if value in (None, ""):
        if required:
            raise DomainError("is required", field=name)
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise DomainError("must be a number (price per million tokens)", field=name) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e9"):
        raise DomainError("must be a price between 0 and 999,999,999 per million tokens", field=name)
    return amount


@transaction.atomic
def model_price_set(
    *,
    organization: Organization,
    vendor: str,
    model: str,
    currency: str = "USD",
    input_per_million: Any,
    output_per_million: Any,
    cache_read_per_million: Any = None,
    cache_creation_per_million: Any = None,
) -> tuple[ModelPrice, int]:
    """Create or replace the organization's price for a vendor's model (it wins over the price table from now
    on; records already priced keep their amount), then price the records of that model still flagged
    `unknown_model`. Returns the price and how many records it priced."""
    vendor, model = (vendor or "").strip().lower(), (model or "").strip()
    if not vendor:
        raise DomainError("is required", field="vendor")
    if not model:
        raise DomainError("is required", field="model")
    fields = {
        "currency": _currency_field(currency),
        "input_per_million": _per_million(input_per_million, "inputPerMillion"),
        "output_per_million": _per_million(output_per_million, "outputPerMillion"),
        "cache_read_per_million": _per_million(cache_read_per_million, "cacheReadPerMillion", required=False),
        "cache_creation_per_million": _per_million(
            cache_creation_per_million, "cacheCreationPerMillion", required=False
        ),
    }
    price, _ = ModelPrice.objects.update_or_create(
        organization=organization, vendor=vendor, model=model, defaults=fields
    )
    flagged = CostRecord.objects.filter(
        organization=organization,
        kind=CostRecord.Kind.USAGE,
        price_status=CostRecord.PriceStatus.UNKNOWN_MODEL,
        vendor__iexact=vendor,
        model=model,
    )
    priced = 0
    for record in flagged.select_for_update():
        usage = Usage(
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_read_tokens=record.cache_read_tokens,
            cache_creation_tokens=record.cache_creation_tokens,
            reasoning_tokens=record.reasoning_tokens,
        )
        _price(record, usage, organization)
        record.save(update_fields=["amount", "currency", "price_status", "price_version"])
        priced += 1
    return price, priced


def _currency_field(value: Any) -> str:
    try:
        return _currency(value, "currency")
    except _Invalid as invalid:
        raise DomainError(invalid.problem, field="currency") from None


@transaction.atomic
def model_price_delete(*, organization: Organization, price_id: int) -> None:
    """Remove one of the organization's model prices (records it priced keep their amount). NotFound otherwise."""
    deleted, _ = ModelPrice.objects.filter(organization=organization, pk=price_id).delete()
    if not deleted:
        raise NotFound("Model price", str(price_id))
