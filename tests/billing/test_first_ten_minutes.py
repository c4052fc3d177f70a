# ruff: noqa: F811 (the SDK fixtures are imported from tests/sdk/conftest.py and taken as arguments)
"""Paid's "Your first 10 minutes" flow, end to end through paid-python against a live Tally, with a controlled
clock: an AI SDR product priced with a $500/month platform fee, $0.10 per `email_sent` and $50 per
`meeting_booked` (an outcome); a customer, a billing contact and an order, activated; signals sent during
January; January closes.

Billing rule (docs/billing.md): an invoice opens each billing period with that period's fees (in advance) and
the usage of the period that just closed (in arrears). So activation posts INV-0001 (January's platform fee),
and closing January posts exactly one more invoice, INV-0002: February's platform fee and January's emails and
meetings. Its PDF renders from the posted snapshot, and a signed billing-invoice-posted webhook arrives for each."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from paid import Paid
from paid.types import (
    CreateOrderLineRequest,
    ProductAttributeUpsert,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsagePerUnit,
    ProductSimplePricePoint,
)

from apps.billing.models import Invoice
from apps.billing.tasks import generate_due_invoices
from tests.sdk.conftest import base_url, client, make_client  # noqa: F401 (fixtures)
from tests.webhooks.conftest import allow_private_urls, receiver  # noqa: F401 (fixtures: a loopback receiver)

pytestmark = pytest.mark.django_db(transaction=True)

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
EMAILS, MEETINGS = 1234, 3


def _price(cents: int) -> list[ProductSimplePricePoint]:
    return [ProductSimplePricePoint(currency="USD", unit_price=cents)]


def _signals(event: str, count: int, at: datetime) -> list[dict]:
    return [
        {
            "event_name": event,
            "customer": {"external_customer_id": "acme-ltd"},
            "attribution": {"external_product_id": "ai-sdr"},
            "timestamp": (at + timedelta(seconds=i)).isoformat(),
            "idempotency_key": f"{event}-{i}",
        }
        for i in range(count)
    ]


def _posted_events(receiver, secret: str, since: int = 0) -> list[dict]:
    """The signed billing-invoice-posted deliveries from the `since`-th on, verified with the organization's
    secret (verification also refuses a signature more than 5 minutes old: check each soon after it came)."""
    payloads = [request.verify(secret) for request in receiver.requests[since:]]  # raises on a bad signature
    assert {payload["type"] for payload in payloads} <= {"billing-invoice-posted"}
    return [payload["data"] for payload in payloads]


def test_first_ten_minutes_from_signup_to_first_invoice(client: Paid, receiver):
    with time_machine.travel(JAN + timedelta(minutes=10), tick=True):
        secret = client.webhooks.update_webhook(
            "billing-invoice-posted", enabled=True, url=receiver.url
        ).signing_secret
        product = client.products.create_product(name="AI SDR", external_id="ai-sdr")
        client.products.update_product_by_id(
            product.id,
            product_attributes=[
                ProductAttributeUpsert(
                    name="Platform fee",
                    pricing=ProductPricingInput_RecurringPerUnit(
                        billing_frequency="Monthly", price_points=_price(50000)
                    ),
                ),
                ProductAttributeUpsert(
                    name="Emails sent",
                    pricing=ProductPricingInput_UsagePerUnit(
                        event_name="email_sent", price_points=_price(10)
                    ),
                ),
                ProductAttributeUpsert(
                    name="Meetings booked",
                    pricing=ProductPricingInput_UsagePerUnit(
                        event_name="meeting_booked", signal_type="outcome", price_points=_price(5000)
                    ),
                ),
            ],
        )
        customer = client.customers.create_customer(
            name="Acme Ltd", external_id="acme-ltd", email="billing@acme.test", default_currency="USD"
        )
        contact = client.contacts.create_contact(
            customer_id=customer.id,
            first_name="John",
            last_name="Doe",
            email="john@acme.test",
            roles=["BILLING"],
        )
        order = client.orders.create_order(
            customer_id=customer.id,
            billing_contact_ids=[contact.id],
            name="Acme Ltd - AI SDR",
            start_date=JAN,
            currency="USD",
            payment_terms="Net 30",
            auto_post_invoices=True,
            lines=[CreateOrderLineRequest(product_id=product.id)],
        )
        client.orders.activate_order_by_id(order.id)  # billing starts: January's fee, in advance

        (opening,) = client.invoices.list_invoices(customer_id=customer.id).data
        assert (opening.display_number, opening.status, opening.invoice_total) == (
            "INV-0001",
            "posted",
            50000,
        )
        assert (opening.start_date, opening.end_date) == (JAN, FEB)
        assert [
            (e["id"], e["displayNumber"], e["invoiceTotal"]) for e in _posted_events(receiver, secret)
        ] == [(opening.id, "INV-0001", 50000)]

    with time_machine.travel(JAN + timedelta(days=12), tick=True):
        emails = _signals("email_sent", EMAILS, JAN + timedelta(days=2))
        meetings = _signals("meeting_booked", MEETINGS, JAN + timedelta(days=9))
        for batch in (emails[:1000], emails[1000:], meetings):
            assert client.signals.create_signals(signals=batch).ingested == len(batch)
        # Rating runs in-process under tests (django-q2 sync); a replay is a duplicate, not new usage.
        assert client.signals.create_signals(signals=meetings[:1]).duplicates == 1

    with time_machine.travel(FEB + timedelta(minutes=3), tick=True):
        generate_due_invoices()  # the schedule, a few minutes after January closed
        generate_due_invoices()  # …and again: nothing is built twice

        invoices = client.invoices.list_invoices(external_customer_id="acme-ltd", status="posted").data
        assert [i.display_number for i in invoices] == ["INV-0002", "INV-0001"]  # newest first
        closing = invoices[0]
        assert (closing.start_date, closing.end_date, closing.order_id) == (FEB, MAR, order.id)
        assert (closing.currency, closing.tax_status, closing.tax_amount) == ("USD", "not_applicable", 0)
        total = 50000 + EMAILS * 10 + MEETINGS * 5000  # $500 + $123.40 + $150 = $773.40
        assert (closing.invoice_total_excluding_tax, closing.invoice_total) == (total, total)
        assert (closing.amount_due, closing.amount_paid, closing.amount_remaining) == (total, 0, total)
        assert (closing.payment_status, closing.billing_contact_id) == ("pending", contact.id)
        assert closing.due_date == closing.posted_date + timedelta(days=30)

        lines = client.invoices.get_invoice_lines(closing.id).data
        assert [(line.description, line.quantity, line.total_price_before_tax) for line in lines] == [
            ("AI SDR: Platform fee", 1, 50000),
            ("AI SDR: Emails sent", EMAILS, EMAILS * 10),
            ("AI SDR: Meetings booked", MEETINGS, MEETINGS * 5000),
        ]
        assert [(line.start_date, line.end_date) for line in lines] == [(FEB, MAR), (JAN, FEB), (JAN, FEB)]
        assert {line.order_id for line in lines} == {order.id}

        assert len(receiver.requests) == 2  # one delivery per posted invoice
        (event,) = _posted_events(receiver, secret, since=1)
        assert event | {"postedDate": None} == {
            "id": closing.id,
            "displayNumber": "INV-0002",
            "orderId": order.id,
            "customerId": customer.id,
            "status": "posted",
            "paymentStatus": "pending",
            "currency": "USD",
            "startDate": "2026-02-01T00:00:00Z",
            "endDate": "2026-03-01T00:00:00Z",
            "issueDate": event["issueDate"],
            "postedDate": None,
            "dueDate": event["dueDate"],
            "invoiceTotalExcludingTax": total,
            "taxAmount": 0,
            "invoiceTotal": total,
            "amountPaid": 0,
            "amountRemaining": total,
        }

    snapshot = Invoice.objects.get(display_id=closing.id).snapshot
    assert [
        (line["description"], line["quantity"], line["unitPrice"], line["amount"])
        for line in snapshot["lines"]
    ] == [
        ("AI SDR: Platform fee", "1", "50000", 50000),
        ("AI SDR: Emails sent", str(EMAILS), "10", EMAILS * 10),
        ("AI SDR: Meetings booked", str(MEETINGS), "5000", MEETINGS * 5000),
    ]
    assert snapshot["invoice"]["total"] == total and snapshot["customer"]["name"] == "Acme Ltd"

    from apps.billing.pdf import render_invoice_pdf

    pdf = render_invoice_pdf(snapshot)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
