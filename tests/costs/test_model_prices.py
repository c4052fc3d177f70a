"""An organization's own model prices: they win over the price table, and setting one prices the usage that
waited, unpriced, for a model the table does not know (dashboard: /costs/prices/)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from apps.common.exceptions import DomainError
from apps.costs import selectors, services
from apps.costs.models import CostRecord, ModelPrice
from apps.costs.pricing import Usage, price_usage

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 1, tzinfo=UTC)


def flagged(organization, model="house-llm-7b", **tokens):
    n = CostRecord.objects.count()
    return CostRecord.objects.create(
        organization=organization,
        display_id=f"cst_mp{n}",
        source=CostRecord.Source.BULK,
        kind=CostRecord.Kind.USAGE,
        timestamp=AT,
        vendor="acme-ai",
        model=model,
        input_tokens=tokens.get("input_tokens", 1_000_000),
        output_tokens=tokens.get("output_tokens", 500_000),
        price_status=CostRecord.PriceStatus.UNKNOWN_MODEL,
    )


def test_setting_a_price_prices_the_waiting_records_of_that_model_only(organization, other_organization):
    waiting = flagged(organization)
    other_model = flagged(organization, model="house-llm-70b")
    other_org = flagged(other_organization)
    assert selectors.unknown_models(organization=organization)[0]["records"] == 1

    price, priced = services.model_price_set(
        organization=organization,
        vendor=" Acme-AI ",
        model="house-llm-7b",
        input_per_million="0.40",
        output_per_million="1.60",
    )
    assert (price.vendor, priced) == ("acme-ai", 1)
    waiting.refresh_from_db()
    # 1,000,000 input x 0.40 + 500,000 output x 1.60 per million = 0.40 + 0.80
    assert (waiting.amount, waiting.price_status, waiting.currency) == (Decimal("1.2"), "override", "USD")
    for untouched in (other_model, other_org):
        untouched.refresh_from_db()
        assert untouched.price_status == "unknown_model" and untouched.amount is None
    assert [row["model"] for row in selectors.unknown_models(organization=organization)] == ["house-llm-70b"]

    # Replacing the price changes new pricing, not what was already priced.
    services.model_price_set(
        organization=organization,
        vendor="acme-ai",
        model="house-llm-7b",
        input_per_million=1,
        output_per_million=2,
    )
    assert ModelPrice.objects.filter(organization=organization).count() == 1
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert (
        price_usage(
            organization=organization, vendor="acme-ai", model="house-llm-7b", usage=usage, at=AT
        ).amount
        == 3
    )
    waiting.refresh_from_db()
    assert waiting.amount == Decimal("1.2")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"vendor": ""}, "vendor"),
        ({"model": "  "}, "model"),
        ({"input_per_million": "-1"}, "inputPerMillion"),
        ({"output_per_million": "lots"}, "outputPerMillion"),
        ({"output_per_million": None}, "outputPerMillion"),
        ({"cache_read_per_million": "NaN"}, "cacheReadPerMillion"),
        ({"currency": "dollars"}, "currency"),
    ],
)
def test_bad_prices_are_refused_and_change_nothing(organization, fields, field):
    flagged(organization)
    good = {"vendor": "acme-ai", "model": "house-llm-7b", "input_per_million": 1, "output_per_million": 2}
    with pytest.raises(DomainError) as error:
        services.model_price_set(organization=organization, **(good | fields))
    assert error.value.field == field
    assert not ModelPrice.objects.exists()
    assert CostRecord.objects.get().price_status == "unknown_model"


def test_the_prices_page_lists_waiting_models_and_sets_and_removes_prices(organization, other_organization):
    flagged(organization)
    dashboard = Client()
    assert dashboard.login(username="owner@acme.test", password="acme-pass-123")
    page = dashboard.get("/costs/prices/?vendor=acme-ai&model=house-llm-7b").content.decode()
    assert "Waiting for a price" in page and "house-llm-7b" in page and 'value="house-llm-7b"' in page

    response = dashboard.post(
        "/costs/prices/",
        {
            "vendor": "acme-ai",
            "model": "house-llm-7b",
            "currency": "USD",
            "input_per_million": "0.4",
            "output_per_million": "1.6",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "priced 1 record(s)" in page and "Waiting for a price" not in page
    price = ModelPrice.objects.get()
    other_price, _ = services.model_price_set(
        organization=other_organization, vendor="x", model="y", input_per_million=1, output_per_million=1
    )
    assert dashboard.post(f"/costs/prices/{other_price.pk}/delete/").status_code == 404
    dashboard.post(f"/costs/prices/{price.pk}/delete/")
    assert not ModelPrice.objects.filter(organization=organization).exists()
    assert ModelPrice.objects.filter(pk=other_price.pk).exists()
