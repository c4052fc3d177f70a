from io import StringIO

import pytest
from django.core.management import call_command

from apps.catalog.models import CreditCurrency, Plan, Product
from apps.orders.models import Order

pytestmark = pytest.mark.django_db


def test_load_demo_builds_both_guide_catalogs_once(organization):
    call_command("load_demo", organization=organization.display_id, stdout=StringIO())
    chatbot = Product.objects.get(organization=organization, external_id="chatbot")
    plans = {p.name: p for p in Plan.objects.filter(product=chatbot)}
    assert set(plans) == {"Starter", "Pro", "Business"}
    assert plans["Starter"].is_default
    assert [plans[n].upgrade_path_order for n in ("Starter", "Pro", "Business")] == [0, 1, 2]
    prices = {
        name: plan.attributes.get(pricing_type="RecurringPerUnit").pricing["price_points"][0]["unit_price"]
        for name, plan in plans.items()
    }
    assert {k: int(v) for k, v in prices.items()} == {"Starter": 2900, "Pro": 7900, "Business": 19900}
    allowances = {
        name: int(plan.attributes.get(pricing_type="RecurringPerUnit").credit_benefits.get().amount)
        for name, plan in plans.items()
    }
    assert allowances == {"Starter": 500, "Pro": 2000, "Business": 10000}
    assert CreditCurrency.objects.get(organization=organization).key == "chat_credits"

    sdr = Product.objects.get(organization=organization, external_id="ai-sdr")
    events = {a.event_name: a.pricing for a in sdr.attributes.all()}
    assert int(events["email_sent"]["price_points"][0]["unit_price"]) == 10
    assert events["meeting_booked"]["signal_type"] == "outcome"
    assert int(events[None]["price_points"][0]["unit_price"]) == 50000

    orders = Order.objects.filter(organization=organization)
    assert sorted(o.creation_state for o in orders) == ["active", "active", "draft"]

    out = StringIO()
    call_command("load_demo", organization=organization.display_id, stdout=out)
    assert "already loaded" in out.getvalue()
    assert Product.objects.filter(organization=organization).count() == 2
    assert Order.objects.filter(organization=organization).count() == 3
