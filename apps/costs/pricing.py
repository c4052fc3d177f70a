"""Pricing LLM usage (docs/costs.md, "Pricing"): an organization's own `ModelPrice` first, then the maintained
`genai-prices` table; a model neither knows is `unknown_model` with no amount (never zero).

`Usage.input_tokens` is the NON-cached input. genai-prices counts `input_tokens` as the whole prompt (cache reads
and writes included) and prices the cached part at its own rate, so the three are added back before asking it.
Reasoning tokens are part of the output tokens (OpenAI and the OTel GenAI conventions report them so) and are not
priced a second time."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import genai_prices

from apps.costs.models import CostRecord, ModelPrice

if TYPE_CHECKING:
    from apps.accounts.models import Organization

PRICE_TABLE_VERSION = f"genai-prices {genai_prices.__version__}"
OVERRIDE_VERSION = "override"
_MILLION = Decimal(1_000_000)
_AMOUNT_QUANTUM = Decimal("1e-12")  # CostRecord.amount has 12 decimal places


@dataclass(frozen=True)
class Usage:
    """Token counts of one LLM call; None = not reported."""

    input_tokens: int | None = None  # non-cached input
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None  # included in output_tokens; informational

    @property
    def is_empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.input_tokens,
                self.output_tokens,
                self.cache_read_tokens,
                self.cache_creation_tokens,
            )
        )


@dataclass(frozen=True)
class Price:
    amount: Decimal | None  # major units; None when unknown_model
    currency: str  # "USD"
    status: str  # CostRecord.PriceStatus value: priced | override | unknown_model
    version: str  # which price table priced it ("genai-prices 0.2.3" or "override")


def _n(value: int | None) -> int:
    return value or 0


def _quantize(amount: Decimal) -> Decimal:
    return amount.quantize(_AMOUNT_QUANTUM)


def model_price_override_amount(*, price: ModelPrice, usage: Usage) -> Decimal:
    """The cost of `usage` at an organization's per-million prices (cached tokens at the input price when the
    override has no cache price)."""
    cache_read = (
        price.cache_read_per_million if price.cache_read_per_million is not None else price.input_per_million
    )
    cache_creation = (
        price.cache_creation_per_million
        if price.cache_creation_per_million is not None
        else price.input_per_million
    )
    total = (
        _n(usage.input_tokens) * price.input_per_million
        + _n(usage.output_tokens) * price.output_per_million
        + _n(usage.cache_read_tokens) * cache_read
        + _n(usage.cache_creation_tokens) * cache_creation
    )
    return _quantize(total / _MILLION)


def _table_price(*, vendor: str, model: str, usage: Usage, at: datetime) -> Decimal | None:
    gp_usage = genai_prices.Usage(
        input_tokens=_n(usage.input_tokens) + _n(usage.cache_read_tokens) + _n(usage.cache_creation_tokens),
        output_tokens=_n(usage.output_tokens),
        cache_read_tokens=_n(usage.cache_read_tokens),
        cache_write_tokens=_n(usage.cache_creation_tokens),
    )
    provider_ids = [vendor.strip().lower(), None] if vendor.strip() else [None]
    for provider_id in provider_ids:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = genai_prices.calc_price(
                    gp_usage, model, provider_id=provider_id, genai_request_timestamp=at
                )
        except LookupError:
            continue  # vendor not in the table (e.g. "azure-openai" spelled otherwise): try by model alone
        except (ValueError, ArithmeticError):
            return None
        return _quantize(Decimal(result.total_price))
    return None


def price_usage(*, organization: Organization, vendor: str, model: str, usage: Usage, at: datetime) -> Price:
    """Price one LLM call: the organization's `ModelPrice` for (vendor, model) if it has one, else the price
    table at `at`; a model neither knows → amount None, status unknown_model."""
    override = (
        ModelPrice.objects.filter(
            organization=organization, vendor__iexact=vendor.strip(), model=model.strip()
        )
        .order_by("pk")
        .first()
        if model
        else None
    )
    if override is not None:
        return Price(
            amount=model_price_override_amount(price=override, usage=usage),
            currency=override.currency,
            status=CostRecord.PriceStatus.OVERRIDE,
            version=OVERRIDE_VERSION,
        )
    amount = _table_price(vendor=vendor, model=model.strip(), usage=usage, at=at) if model.strip() else None
    if amount is None:
        return Price(amount=None, currency="USD", status=CostRecord.PriceStatus.UNKNOWN_MODEL, version="")
    return Price(
        amount=amount, currency="USD", status=CostRecord.PriceStatus.PRICED, version=PRICE_TABLE_VERSION
    )
