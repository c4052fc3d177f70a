"""Margins against the database: a real order invoiced through billing (fee + usage), signals rated, credits
burned with an overage price, and cost records created directly; grouped by customer, product and event name,
one signal's margin, proration, unattributed costs, currencies kept apart, tenancy; the API and the pages."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from apps.billing import services as billing_services
from apps.catalog.services import credit_currency_create
from apps.costs.margins import margin_report, signal_margin
from apps.costs.models import CostRecord
from apps.credits.services import credit_order_grants_due
from apps.signals.models import Signal
from tests.billing.fixtures import (
    T0,
    attr,
    fee,
    line,
    make_customer,
    make_order,
    make_product,
    rate,
    send,
    usage,
)

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 1, tzinfo=UTC)
MID_JAN = datetime(2026, 1, 16, 12, tzinfo=UTC)  # 15.5 of January's 31 days before it


def generate(order, when):
    with time_machine.travel(when, tick=False):
        return billing_services.invoice_generate_for_order(order=order)


def cost(organization, amount, *, at, customer=None, product=None, signal=None, currency="USD", **fields):
    n = CostRecord.objects.filter(organization=organization).count()
    return CostRecord.objects.create(
        organization=organization,
        display_id=f"cst_test{n}",
        source="bulk",
        kind="cost",
        timestamp=at,
        customer=customer,
        product=product,
        signal_id=signal.pk if signal else None,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        price_status="given" if amount is not None else "unknown_model",
        vendor=fields.pop("vendor", "openai"),
        model=fields.pop("model", "gpt-4o-mini"),
        **fields,
    )


@pytest.fixture
def world(organization):
    """January 2026: Acme pays a $500 monthly fee and $0.10 per email (10 emails: $1.00 on February's invoice),
    and 15 chat credits at 1 credit each from a 10-credit benefit whose overage costs 2 cents a credit."""
    customer = make_customer(organization)
    product = make_product(organization)
    currency = credit_currency_create(organization=organization, name="Chat credits", key="chat")
    benefit = {
        "id": "b",
        "amount": Decimal(10),
        "credits_currency_id": currency.display_id,
        "overage_unit_price": 2,
    }
    chat = attr(
        "Chat",
        "usage",
        "prepaidCredits",
        0,
        event_name="chat_message",
        credits_currency_id=currency.display_id,
        credit_cost=Decimal(1),
        credit_benefits=[benefit],
    )
    order = make_order(organization, customer, line(product, fee(), usage("Emails", "email_sent", 10), chat))
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        credit_order_grants_due(organization=organization, order_id=order.display_id)
        send(organization, "email_sent", T0 + timedelta(days=2), quantity=3)
        send(organization, "chat_message", T0 + timedelta(days=2), quantity=15)
        rate(organization)
    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        send(organization, "email_sent", T0 + timedelta(days=20), quantity=7)
        rate(organization)
    generate(order, FEB)
    email = Signal.objects.get(organization=organization, event_name="email_sent", data__quantity=7)
    chat_signal = Signal.objects.get(organization=organization, event_name="chat_message")
    cost(organization, "0.30", at=T0 + timedelta(days=20), customer=customer, product=product, signal=email)
    cost(
        organization,
        "0.05",
        at=T0 + timedelta(days=2),
        customer=customer,
        product=product,
        signal=chat_signal,
    )
    cost(organization, "0.02", at=T0 + timedelta(days=5))  # unattributed
    cost(organization, "1.00", at=T0 + timedelta(days=5), customer=customer, currency="EUR")
    cost(organization, None, at=T0 + timedelta(days=6), customer=customer, model="mystery-1")  # unknown model
    cost(organization, "9.99", at=FEB + timedelta(days=1), customer=customer)  # outside January
    return {"customer": customer, "product": product, "email": email, "chat": chat_signal}


def rows_by(report):
    return {(r.key, r.currency): r for r in report.rows}


def test_by_customer_fees_usage_cost_and_unattributed(organization, world):
    report = margin_report(organization=organization, start=T0, end=FEB, group_by="customer")
    rows = rows_by(report)
    acme = rows[(world["customer"].display_id, "USD")]
    assert acme.label == "Acme"
    # January's fee and the 5 overage credits at 2 cents (February's fee, on the same invoice, is not in)
    assert acme.fee_revenue == Decimal("500.10")
    assert acme.usage_revenue == Decimal("1.00")  # 10 emails at 10 cents
    assert acme.credits_value == Decimal("0.30") and acme.credits_burned == 15  # shown, not added
    assert acme.cost == Decimal("0.35") and acme.cost_records == 3 and acme.unpriced_costs == 1
    assert acme.revenue == acme.fee_revenue + acme.usage_revenue
    assert acme.margin == acme.revenue - Decimal("0.35")
    assert rows[(world["customer"].display_id, "EUR")].cost == Decimal("1.00")  # never converted
    assert rows[(world["customer"].display_id, "EUR")].margin_percent is None  # no EUR revenue
    unattributed = rows[(None, "USD")]
    assert unattributed.label == "Unattributed (no customer)" and unattributed.cost == Decimal("0.02")
    (usd,) = [t for t in report.totals() if t.currency == "USD"]
    assert usd.cost == Decimal("0.37") and usd.revenue == acme.revenue


def test_overage_is_fee_revenue_of_its_period(organization, world):
    rows = rows_by(margin_report(organization=organization, start=T0, end=FEB, group_by="customer"))
    # 500.00 platform fee + 0.10 overage (5 credits x 2 cents, an `overage` line) → fees are 500.10
    acme = rows[(world["customer"].display_id, "USD")]
    assert acme.fee_revenue == Decimal("500.10")


def test_fees_are_prorated_by_overlap(organization, world):
    rows = rows_by(margin_report(organization=organization, start=T0, end=MID_JAN, group_by="customer"))
    acme = rows[(world["customer"].display_id, "USD")]
    share = Decimal(int(15.5 * 86400 * 1_000_000)) / Decimal(31 * 86400 * 1_000_000)
    assert acme.fee_revenue == (Decimal(50010) * share).scaleb(-2)
    assert acme.usage_revenue == Decimal(100) * share / 100


def test_by_product_and_by_event_name(organization, world):
    by_product = rows_by(margin_report(organization=organization, start=T0, end=FEB, group_by="product"))
    ai_sdr = by_product[(world["product"].display_id, "USD")]
    assert ai_sdr.label == "AI SDR" and ai_sdr.cost == Decimal("0.35")
    assert by_product[(None, "USD")].label == "No product"  # the unattributed and the unknown-model costs
    by_event = rows_by(margin_report(organization=organization, start=T0, end=FEB, group_by="eventName"))
    emails = by_event[("email_sent", "USD")]
    assert emails.usage_revenue == Decimal("1.00") and emails.cost == Decimal("0.30")
    assert emails.margin == Decimal("0.70")
    chat = by_event[("chat_message", "USD")]
    assert (
        chat.credit_revenue == Decimal("0.30") and chat.credits_burned == 15 and chat.cost == Decimal("0.05")
    )
    assert by_event[(None, "USD")].label == "Not linked to a signal"


def test_a_signals_margin_and_breakdown(organization, world):
    result = signal_margin(organization=organization, signal_pk=world["email"].pk)
    assert result.currency == "USD"
    assert result.usage_revenue == Decimal("0.70")  # 7 emails at the line's 10 cents
    assert result.cost == Decimal("0.30") and result.margin == Decimal("0.40")
    assert result.margin_percent == Decimal("0.40") / Decimal("0.70") * 100
    assert result.breakdown[0]["model"] == "gpt-4o-mini" and result.breakdown[0]["records"] == 1
    chat = signal_margin(organization=organization, signal_pk=world["chat"].pk)
    assert chat.credit_revenue == Decimal("0.30") and chat.cost == Decimal("0.05")


def test_uninvoiced_usage_has_no_revenue_yet(organization, world):
    with time_machine.travel(FEB + timedelta(days=3), tick=False):
        send(organization, "email_sent", FEB + timedelta(days=2), quantity=4)
        rate(organization)
    signal = Signal.objects.get(organization=organization, data__quantity=4)
    result = signal_margin(organization=organization, signal_pk=signal.pk)
    assert result.usage_revenue == 0 and result.uninvoiced_quantity == 4


def test_another_organization_sees_none_of_it(organization, other_organization, world):
    report = margin_report(organization=other_organization, start=T0, end=FEB, group_by="customer")
    assert report.rows == []
    assert signal_margin(organization=other_organization, signal_pk=world["email"].pk).records == []


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_margins_by_customer(api, world):
    response = api.get("/api/v2/margins", {"from": "2026-01-01", "to": "2026-02-01", "groupBy": "customer"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["groupBy"] == "customer" and body["from"].startswith("2026-01-01")
    acme = next(
        r for r in body["data"] if r["key"] == world["customer"].display_id and r["currency"] == "USD"
    )
    assert acme["revenue"] == "501.10" and acme["cost"] == "0.35" and acme["margin"] == "500.75"
    assert acme["unpricedCosts"] == 1 and acme["creditsValue"] == "0.30"
    assert any(r["key"] is None for r in body["data"])
    assert {t["currency"] for t in body["totals"]} == {"USD", "EUR"}


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "yesterday"},
        {"groupBy": "planet"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
def test_api_refuses_bad_periods_and_groups(api, query):
    response = api.get("/api/v2/margins", query)
    assert response.status_code == 400, response.content
    assert "error" in response.json() or "errors" in response.json() or "message" in response.json()


def test_api_signal_margin_and_tenancy(api, other_api, world):
    response = api.get(f"/api/v2/margins/signals/{world['email'].display_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["revenue"], body["cost"], body["margin"], body["marginPercent"]) == (
        "0.70",
        "0.30",
        "0.40",
        "57.14",
    )
    assert body["breakdown"][0]["amount"] == "0.30" and len(body["costs"]) == 1
    assert other_api.get(f"/api/v2/margins/signals/{world['email'].display_id}").status_code == 404


# --- pages ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def dashboard(organization):
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client


def test_pages_show_revenue_against_cost(dashboard, world):
    page = dashboard.get("/costs/margins/?start=2026-01-01&end=2026-02-01")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Most profitable customers" in text and "$501.10" in text and "$0.35" in text
    assert "Unattributed (no customer)" in text
    by_event = dashboard.get(
        "/costs/margins/?start=2026-01-01&end=2026-02-01&group=eventName"
    ).content.decode()
    assert "email_sent" in by_event and "$0.70" in by_event
    customer = dashboard.get(
        f"/costs/margins/customers/{world['customer'].display_id}/?start=2026-01-01&end=2026-02-01"
    )
    assert customer.status_code == 200 and b"<svg" in customer.content and b"<rect" in customer.content
    product = dashboard.get(
        f"/costs/margins/products/{world['product'].display_id}/?start=2026-01-01&end=2026-02-01"
    )
    assert product.status_code == 200 and b"$0.35" in product.content
    signal = dashboard.get(f"/costs/margins/signals/{world['email'].display_id}/")
    assert signal.status_code == 200 and b"gpt-4o-mini" in signal.content and b"$0.40" in signal.content


def test_pages_of_another_organization_are_404(dashboard, other_organization):
    from tests.billing.fixtures import make_customer as other_customer

    stranger = other_customer(other_organization, external_id="stranger")
    assert dashboard.get(f"/costs/margins/customers/{stranger.display_id}/").status_code == 404
    assert dashboard.get("/costs/margins/signals/sig_nope/").status_code == 404
