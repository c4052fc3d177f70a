"""Spans received over OTLP (`/v1/traces`, apps/costs/otlp.py) → cost records and span-based signals
(docs/costs.md, "OTLP ingestion").

A span carrying LLM usage (`gen_ai.usage.*` or OpenInference `llm.token_count.*`) becomes one
`CostRecord(source=span, kind=usage)`, priced by `pricing.price_usage`, once per (trace id, span id): exporters
retry, and a replayed span is counted as a duplicate. A `paid.trace.signal` span becomes a signal through
`signal_ingest` (idempotency key `otlp:<trace>:<span>`), with its trace id recorded; with
`data.paid.enable_cost_tracing` it takes every cost record of its trace, whichever arrives first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.catalog.selectors import product_pks_by_reference
from apps.costs.models import CostRecord
from apps.costs.pricing import Usage, price_usage
from apps.costs.services import cost_records_link_for_signals, signals_link_for_cost_records
from apps.customers.selectors import customer_pks_by_reference
from apps.signals.services import signal_ingest, signal_trace_ids_set

if TYPE_CHECKING:
    from apps.accounts.models import Organization

SIGNAL_SPAN_NAME = "paid.trace.signal"
_TEXT_LIMIT = 255

_VENDOR_KEYS = ("gen_ai.system", "gen_ai.provider.name", "llm.provider", "llm.system")
_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
# Total input (cached included, as OpenAI and OpenInference report it), output, cache reads, cache writes,
# reasoning (part of the output).
_INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
_CACHE_READ_KEYS = (
    "gen_ai.usage.cached_input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
_CACHE_CREATION_KEYS = (
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
_REASONING_KEYS = (
    "gen_ai.usage.reasoning_output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)


@dataclass(frozen=True)
class SpanIn:
    """One decoded span: ids as lowercase hex, attributes as plain Python values."""

    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    name: str
    start_at: datetime
    attributes: dict[str, Any]


@dataclass
class SpansResult:
    costs: int = 0
    signals: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


# --- reading attributes ----------------------------------------------------------------------------------------


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _count(attributes: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    value = _first(attributes, keys)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value >= 0 else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:_TEXT_LIMIT] or None


def _scope_id(value: Any) -> int | None:
    try:
        scope = int(value)
    except (TypeError, ValueError):
        return None
    return scope if -(2**63) <= scope < 2**63 else None


def span_usage(attributes: dict[str, Any]) -> Usage | None:
    """The LLM usage a span reports, or None if it reports none. Input is made non-cached: the reported prompt
    total less cache reads and writes."""
    total_input = _count(attributes, _INPUT_KEYS)
    output = _count(attributes, _OUTPUT_KEYS)
    if total_input is None and output is None:
        return None
    cache_read = _count(attributes, _CACHE_READ_KEYS)
    cache_creation = _count(attributes, _CACHE_CREATION_KEYS)
    non_cached = None
    if total_input is not None:
        non_cached = max(0, total_input - (cache_read or 0) - (cache_creation or 0))
    return Usage(
        input_tokens=non_cached,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=_count(attributes, _REASONING_KEYS),
    )


def span_metadata(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """`metadata.<a>.<b>` attributes (the SDK flattens `paid_tracing(metadata=…)`) nested back into a dict; a key
    that clashes with a nested one is kept flat."""
    nested: dict[str, Any] = {}
    for key in sorted(k for k in attributes if k.startswith("metadata.") and len(k) > len("metadata.")):
        parts = key[len("metadata.") :].split(".")
        node = nested
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                node = None
                break
            node = child
        if node is None or parts[-1] in node:
            nested[key[len("metadata.") :]] = attributes[key]
        else:
            node[parts[-1]] = attributes[key]
    return nested or None


# --- the service -----------------------------------------------------------------------------------------------


def spans_ingest(*, organization: Organization, spans: list[SpanIn]) -> SpansResult:
    """Store what a batch of spans tells: cost records for LLM usage, signals for `paid.trace.signal` spans, and
    the links between them. A replayed span changes nothing. One transaction."""
    result = SpansResult()
    cost_spans: list[tuple[SpanIn, Usage]] = []
    signal_spans: list[SpanIn] = []
    for span in spans:
        if span.name == SIGNAL_SPAN_NAME and span.attributes.get("event_name") is not None:
            signal_spans.append(span)
        elif (usage := span_usage(span.attributes)) is not None:
            cost_spans.append((span, usage))
    with transaction.atomic():
        new_records = _costs_store(organization=organization, spans=cost_spans, result=result)
        _signals_store(organization=organization, spans=signal_spans, result=result)
        if new_records:
            # Spans arriving after their signal: its scope's or its trace's (apps/costs/services.py).
            signals_link_for_cost_records(organization=organization, record_pks=[r.pk for r in new_records])
    return result


def _costs_store(
    *, organization: Organization, spans: list[tuple[SpanIn, Usage]], result: SpansResult
) -> list[CostRecord]:
    if not spans:
        return []
    by_ids: dict[tuple[str, str], tuple[SpanIn, Usage]] = {}
    for span, usage in spans:
        if (span.trace_id, span.span_id) in by_ids:
            result.duplicates += 1
        else:
            by_ids[(span.trace_id, span.span_id)] = (span, usage)
    existing = set(
        CostRecord.objects.filter(
            organization=organization,
            trace_id__in={t for t, _ in by_ids},
            span_id__in={s for _, s in by_ids},
        ).values_list("trace_id", "span_id")
    )
    fresh = [v for k, v in by_ids.items() if k not in existing]
    result.duplicates += len(by_ids) - len(fresh)
    if not fresh:
        return []
    customer_ids = {c for s, _ in fresh if (c := _text(s.attributes.get("external_customer_id")))}
    product_ids = {p for s, _ in fresh if (p := _text(s.attributes.get("external_agent_id")))}
    _, customers = customer_pks_by_reference(
        organization=organization, display_ids=set(), external_ids=customer_ids
    )
    _, products = product_pks_by_reference(
        organization=organization, display_ids=set(), external_ids=product_ids
    )
    records = []
    for span, usage in fresh:
        attributes = span.attributes
        vendor = _text(_first(attributes, _VENDOR_KEYS)) or ""
        model = _text(_first(attributes, _MODEL_KEYS)) or ""
        price = price_usage(
            organization=organization, vendor=vendor, model=model, usage=usage, at=span.start_at
        )
        external_customer_id = _text(attributes.get("external_customer_id"))
        external_product_id = _text(attributes.get("external_agent_id"))
        records.append(
            CostRecord(
                organization=organization,
                source=CostRecord.Source.SPAN,
                kind=CostRecord.Kind.USAGE,
                timestamp=span.start_at,
                customer_id=customers.get(external_customer_id) if external_customer_id else None,
                external_customer_id=external_customer_id,
                product_id=products.get(external_product_id) if external_product_id else None,
                external_product_id=external_product_id,
                vendor=vendor[:100],
                model=model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_creation_tokens=usage.cache_creation_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                amount=price.amount,
                currency=price.currency,
                price_status=price.status,
                price_version=price.version,
                trace_id=span.trace_id,
                span_id=span.span_id,
                paid_scope_id=_scope_id(attributes.get("paid_scope_id")),
                metadata=span_metadata(attributes),
            )
        )
    # A concurrent retry of the same batch may have inserted some meanwhile: those rows are skipped.
    CostRecord.objects.bulk_create(records, ignore_conflicts=True)
    wanted = {(r.trace_id, r.span_id) for r in records}
    stored = [
        r
        for r in CostRecord.objects.filter(
            organization=organization,
            trace_id__in={t for t, _ in wanted},
            span_id__in={s for _, s in wanted},
            signal_id__isnull=True,
        )
        if (r.trace_id, r.span_id) in wanted
    ]
    result.costs += len(records)
    return stored


def _signal_wire(span: SpanIn) -> dict[str, Any]:
    """The span as a `signals/bulk` item; `data` is the span's JSON string (left as is when it is not JSON, so
    `signal_ingest` words the error)."""
    attributes = span.attributes
    data: Any = attributes.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = "(not JSON) " + data[:100]
    item: dict[str, Any] = {
        "eventName": attributes.get("event_name"),
        "timestamp": span.start_at.isoformat(),
        "idempotencyKey": f"otlp:{span.trace_id}:{span.span_id}",
    }
    if (customer := attributes.get("external_customer_id")) is not None:
        item["customer"] = {"externalCustomerId": customer}
    if (product := attributes.get("external_agent_id")) is not None:
        item["attribution"] = {"externalProductId": product}
    if data is not None:
        item["data"] = data
    return item


def _signals_store(*, organization: Organization, spans: list[SpanIn], result: SpansResult) -> None:
    if not spans:
        return
    stored_since = timezone.now()
    ingested = signal_ingest(organization=organization, signals=[_signal_wire(s) for s in spans])
    result.signals += ingested.ingested
    result.duplicates += ingested.duplicates
    result.rejected += ingested.failed
    result.errors += [e["message"].replace("signals[", "spans[", 1) for e in ingested.errors]
    by_key = {f"otlp:{s.trace_id}:{s.span_id}": s for s in spans}
    pks = signal_trace_ids_set(
        organization=organization,
        trace_ids={key: s.trace_id for key, s in by_key.items()},
        stored_since=stored_since,
    )
    # With `enable_cost_tracing` the signal takes its trace's cost records (and, with a scope, its scope's).
    cost_records_link_for_signals(organization=organization, signal_pks=pks.values())
