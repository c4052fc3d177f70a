"""`client.costs.create_costs` (paid-python) against the live server (§3.9)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from paid import Cost_Cost, Cost_Usage, CostOverride, CustomerByExternalId, CustomerById, ProductByExternalId
from paid.core.api_error import ApiError
from paid.errors import BadRequestError
from paid.types import TokenUsage

from apps.catalog.services import product_create
from apps.costs.models import CostRecord
from apps.customers.services import customer_create
from tests.sdk.conftest import base_url, client, http, make_client, other_client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Beta Co", external_id="beta")


def test_both_record_types_through_the_sdk(client, organization, customer):  # noqa: F811
    product_create(organization=organization, name="Agent", external_id="agent-1")
    response = client.costs.create_costs(
        costs=[
            Cost_Cost(
                timestamp=AT,
                customer=CustomerById(customer_id=customer.display_id),
                product=ProductByExternalId(external_product_id="agent-1"),
                amount=0.25,
                currency="USD",
                vendor="acme",
            ),
            Cost_Usage(
                timestamp=AT,
                customer=CustomerByExternalId(external_customer_id="beta"),
                vendor="openai",
                model="gpt-4o-mini",
                usage=TokenUsage(input_tokens=1000, output_tokens=100),
            ),
            Cost_Usage(
                customer=CustomerByExternalId(external_customer_id="beta"),
                vendor="openai",
                model="gpt-4o-mini",
                usage=TokenUsage(input_tokens=5),
                cost_override=CostOverride(amount=1.5, currency="USD"),
            ),
        ]
    )
    assert (response.ingested, response.duplicates) == (3, 0)
    given, priced, overridden = CostRecord.objects.filter(organization=organization).order_by("pk")
    assert (given.amount, given.price_status, given.product.external_id) == (
        Decimal("0.25"),
        "given",
        "agent-1",
    )
    assert priced.price_status == "priced"
    assert priced.amount == (Decimal(1000) * Decimal("0.15") + 100 * Decimal("0.6")) / 1_000_000
    assert (overridden.amount, overridden.price_status, overridden.input_tokens) == (
        Decimal("1.5"),
        "given",
        5,
    )


def test_idempotency_key_as_an_extra_field(client, organization, customer):  # noqa: F811
    record = Cost_Cost(
        customer=CustomerByExternalId(external_customer_id="beta"),
        amount=1,
        currency="USD",
        idempotencyKey="run-42",
    )
    assert client.costs.create_costs(costs=[record]).ingested == 1
    again = client.costs.create_costs(costs=[record])
    assert (again.ingested, again.duplicates) == (0, 1)
    assert CostRecord.objects.filter(organization=organization).count() == 1


def test_a_bad_record_is_a_bad_request_and_nothing_is_stored(client, organization, customer):  # noqa: F811
    good = Cost_Cost(customer=CustomerByExternalId(external_customer_id="beta"), amount=1, currency="USD")
    bad = Cost_Cost(customer=CustomerByExternalId(external_customer_id="beta"), amount=-1, currency="USD")
    with pytest.raises(BadRequestError) as error:
        client.costs.create_costs(costs=[good, bad])
    assert "costs[1].amount" in error.value.body["error"]
    assert not CostRecord.objects.exists()


def test_another_organizations_customer_id_is_404(other_client, customer):  # noqa: F811
    with pytest.raises(ApiError) as error:
        other_client.costs.create_costs(
            costs=[
                Cost_Cost(customer=CustomerById(customer_id=customer.display_id), amount=1, currency="USD")
            ]
        )
    assert error.value.status_code == 404
    assert not CostRecord.objects.exists()


def test_wire_answer_is_exactly_the_cost_ingest_response(http, customer):  # noqa: F811
    response = http.post(
        "costs/bulk",
        json={
            "costs": [
                {"type": "cost", "customer": {"externalCustomerId": "beta"}, "amount": 1, "currency": "USD"}
            ]
        },
    )
    assert response.status_code == 200
    assert response.json() == {"ingested": 1, "duplicates": 0}
