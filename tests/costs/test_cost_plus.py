"""Billing's cost-plus lines are priced from the AI costs the costs app recorded for the order's customer and the
line's product in the billed period (apps.costs.selectors.cost_plus_provider)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.catalog.services import product_attributes_upsert
from tests.billing.fixtures import T0, make_customer, make_order, make_product
from tests.costs.test_margins import FEB, cost, generate

pytestmark = pytest.mark.django_db


def test_a_cost_plus_line_bills_the_periods_priced_costs_times_the_multiplier(organization):
    customer, other = make_customer(organization), make_customer(organization, external_id="other")
    product = make_product(organization, name="Agent", external_id="agent")
    elsewhere = make_product(organization, name="Other agent", external_id="other-agent")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "AI usage",
                "pricing": {"pricing_type": "UsageCostPlus", "cost_plus_multiplier": Decimal("1.5")},
            }
        ],
    )
    order = make_order(organization, customer, {"product_id": product.display_id})
    day = timedelta(days=1)
    cost(organization, "1.234", at=T0 + day, customer=customer, product=product)  # counted
    cost(organization, "0.0005", at=FEB - timedelta(seconds=1), customer=customer, product=product)  # counted
    cost(organization, "9", at=FEB, customer=customer, product=product)  # next period
    cost(organization, "9", at=T0 + day, customer=other, product=product)  # another customer
    cost(organization, "9", at=T0 + day, customer=customer, product=elsewhere)  # another product
    cost(organization, "9", at=T0 + day, customer=customer, product=product, currency="EUR")  # not USD
    cost(organization, None, at=T0 + day, customer=customer, product=product)  # unknown model: unpriced

    invoice = generate(order, FEB)[-1]
    [line] = invoice.lines.all()
    # (1.234 + 0.0005) USD = 123.45 cents, x 1.5 = 185.175 → 185 (half up, once per line)
    assert (line.description, line.amount) == ("Agent: AI usage: AI costs x 1.5", 185)
