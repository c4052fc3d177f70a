from contextlib import contextmanager

import pytest

from apps.catalog.models import Plan, PlanAttribute, Product
from apps.customers.models import Contact, Customer, CustomerAlias, CustomerUser
from apps.orders.models import Order, OrderLine, OrderLineAttribute, OrderSeat
from apps.signals.models import Signal, SignalKey


def all_rows() -> dict:
    """Every row (all organizations, all columns) of the tables the API writes, to prove a request wrote nothing."""
    return {
        model.__name__: sorted(model.objects.values(), key=lambda row: row["id"])
        for model in (
            Customer,
            CustomerAlias,
            CustomerUser,
            Contact,
            Product,
            Plan,
            PlanAttribute,
            Order,
            OrderLine,
            OrderLineAttribute,
            OrderSeat,
            Signal,
            SignalKey,
        )
    }


@pytest.fixture
def unchanged(db):
    """`with unchanged(): …` fails if the block writes, updates or deletes any API row."""

    @contextmanager
    def check():
        before = all_rows()
        yield
        assert all_rows() == before

    return check
