from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.costs.models import CostRecord, ModelPrice
from apps.costs.pricing import (
    PRICE_TABLE_VERSION,
    Usage,
    model_price_override_amount,
    price_usage,
)

pytestmark = pytest.mark.django_db
AT = datetime(2025, 6, 1, tzinfo=UTC)


def test_known_model_is_priced_from_the_table_with_its_version(organization):
    # gpt-4o-mini: $0.15 per million input, $0.60 per million output, $0.075 per million cached input.
    price = price_usage(
        organization=organization,
        vendor="openai",
        model="gpt-4o-mini",
        usage=Usage(input_tokens=800, output_tokens=500, cache_read_tokens=200),
        at=AT,
    )
    expected = (Decimal(800) * Decimal("0.15") + 500 * Decimal("0.6") + 200 * Decimal("0.075")) / 1_000_000
    assert price.amount == expected
    assert price.status == CostRecord.PriceStatus.PRICED
    assert price.currency == "USD"
    assert price.version == PRICE_TABLE_VERSION == f"genai-prices {genai_prices.__version__}"


def test_vendor_case_and_unknown_vendor(organization):
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    by_vendor = price_usage(
        organization=organization, vendor="OpenAI", model="gpt-4o-mini", usage=usage, at=AT
    )
    by_model = price_usage(
        organization=organization, vendor="my-proxy", model="gpt-4o-mini", usage=usage, at=AT
    )
    assert by_vendor.amount == by_model.amount == Decimal("0.15")


def test_unknown_model_is_flagged_never_zero(organization):
    price = price_usage(
        organization=organization,
        vendor="openai",
        model="my-finetune-xyz",
        usage=Usage(input_tokens=10, output_tokens=10),
        at=AT,
    )
    assert price.amount is None
    assert price.status == CostRecord.PriceStatus.UNKNOWN_MODEL
    assert price.version == ""


def test_no_model_is_unknown(organization):
    price = price_usage(
        organization=organization, vendor="openai", model="", usage=Usage(input_tokens=1), at=AT
    )
    assert price.amount is None and price.status == CostRecord.PriceStatus.UNKNOWN_MODEL


def test_override_wins_over_the_table_and_is_per_organization(organization, other_organization):
    ModelPrice.objects.create(
        organization=organization,
        vendor="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("2"),
        cache_read_per_million=Decimal("0.5"),
    )
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=2_000_000)
    mine = price_usage(organization=organization, vendor="OpenAI", model="gpt-4o-mini", usage=usage, at=AT)
    theirs = price_usage(
        organization=other_organization, vendor="openai", model="gpt-4o-mini", usage=usage, at=AT
    )
    assert (mine.amount, mine.status, mine.version) == (
        Decimal("4"),
        CostRecord.PriceStatus.OVERRIDE,
        "override",
    )
    assert theirs.status == CostRecord.PriceStatus.PRICED and theirs.amount != Decimal("4")


def test_override_prices_an_unknown_model(organization):
    ModelPrice.objects.create(
        organization=organization,
        vendor="acme",
        model="my-finetune",
        currency="EUR",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("6"),
    )
    price = price_usage(
        organization=organization,
        vendor="acme",
        model="my-finetune",
        usage=Usage(input_tokens=1000, output_tokens=1000, cache_creation_tokens=1000),
        at=AT,
    )
    # cache writes at the input price when the override has no cache price
    assert price.amount == Decimal("0.012") and price.currency == "EUR"


counts = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
per_million = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    input_tokens=counts,
    output_tokens=counts,
    cache_read=counts,
    cache_creation=counts,
    input_price=per_million,
    output_price=per_million,
    cache_read_price=st.one_of(st.none(), per_million),
    cache_creation_price=st.one_of(st.none(), per_million),
)
def test_override_arithmetic(
    input_tokens,
    output_tokens,
    cache_read,
    cache_creation,
    input_price,
    output_price,
    cache_read_price,
    cache_creation_price,
):
    price = ModelPrice(
        input_per_million=input_price,
        output_per_million=output_price,
        cache_read_per_million=cache_read_price,
        cache_creation_per_million=cache_creation_price,
    )
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
    )
    amount = model_price_override_amount(price=price, usage=usage)
    n = lambda v: v or 0  # noqa: E731
    exact = (
        n(input_tokens) * input_price
        + n(output_tokens) * output_price
        + n(cache_read) * (cache_read_price if cache_read_price is not None else input_price)
        + n(cache_creation) * (cache_creation_price if cache_creation_price is not None else input_price)
    ) / 1_000_000
    # Exact to the column's 12 places, never negative, and fits CostRecord.amount (24 digits, 12 places).
    assert abs(amount - exact) <= Decimal("0.5e-12")
    assert amount >= 0
    assert amount.as_tuple().exponent == -12
    assert len(amount.as_tuple().digits) <= 24
    # Linear in the tokens: twice the usage costs twice (to rounding).
    doubled = Usage(
        input_tokens=2 * n(input_tokens),
        output_tokens=2 * n(output_tokens),
        cache_read_tokens=2 * n(cache_read),
        cache_creation_tokens=2 * n(cache_creation),
    )
    assert abs(model_price_override_amount(price=price, usage=doubled) - 2 * amount) <= Decimal("1e-12")
