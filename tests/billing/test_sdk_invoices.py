# ruff: noqa: F811 (the SDK fixtures are imported from tests/sdk/conftest.py and taken as arguments)
"""The invoice, payment and payment-allocation API through the real paid-python client against a live server
(§3.8, §3.14, §6), plus the Tally extensions (post, void, reissue, generate) over plain HTTP."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError
from paid.types import PaymentAllocationInput

from apps.billing import services
from apps.billing.models import Invoice
from tests.billing.fixtures import attr, fee, line, make_customer, make_order, make_product
from tests.sdk.conftest import base_url, client, http, make_client, other_client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

FEB = datetime(2026, 2, 1, tzinfo=UTC)
NOW = FEB + timedelta(days=1)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def customer(organization):
    return make_customer(organization)


@pytest.fixture
def order(organization, customer):
    """Activated at NOW with a January start: activation builds January's and February's invoices (drafts)."""
    product = make_product(organization)
    return make_order(
        organization,
        customer,
        line(product, fee(), attr("Onboarding", "oneTime", "flat", 10000)),
        purchase_order_reference="PO-7",
    )


def _invoices(order):
    return list(Invoice.objects.filter(order=order).order_by("period_start"))


def test_list_get_lines_and_metadata(client: Paid, http, order, customer):
    january, february = _invoices(order)
    page = client.invoices.list_invoices(customer_id=customer.display_id)
    assert [i.id for i in page.data] == [february.display_id, january.display_id]
    assert (page.pagination.total, page.pagination.has_more) == (2, False)
    got = client.invoices.get_invoice_by_id(january.display_id)
    assert (got.status, got.display_number, got.source, got.payment_status) == (
        "draft",
        None,
        "order_based",
        "pending",
    )
    assert (got.invoice_total, got.amount_due, got.amount_remaining, got.credit_notes_total) == (
        60000,
        60000,
        60000,
        0,
    )
    assert (got.order_id, got.customer_id, got.purchase_order_reference) == (
        order.display_id,
        customer.display_id,
        "PO-7",
    )
    assert got.dispute_link is None and got.public_url_token and got.tax_exempt is False

    lines = client.invoices.get_invoice_lines(january.display_id, limit=1)
    assert lines.pagination.total == 2 and lines.pagination.has_more
    first = lines.data[0]
    assert (first.description, first.quantity, first.total_price_before_tax, first.total_price_after_tax) == (
        "AI SDR: Platform fee",
        1,
        50000,
        50000,
    )
    assert (first.payment_status, first.balance_amount, first.currency) == ("pending", 50000, "USD")
    assert first.order_line_attribute_id.startswith("ola_")

    updated = client.invoices.update_invoice_by_id(january.display_id, metadata={"crm": {"deal": 42}})
    assert updated.metadata == {"crm": {"deal": 42}}
    wire = http.get(f"invoices/{january.display_id}").json()
    assert (
        isinstance(wire["invoiceTotal"], int)
        and wire["taxRate"] == 0
        and wire["metadata"] == {"crm": {"deal": 42}}
    )


def test_list_filters(client: Paid, http, organization, order, customer):
    january, february = _invoices(order)
    services.invoice_post(invoice=january)
    by = client.invoices.list_invoices
    assert [i.id for i in by(status="posted").data] == [january.display_id]
    assert [i.id for i in by(status="draft", order_id=order.display_id).data] == [february.display_id]
    assert [i.id for i in by(display_number="INV-0001").data] == [january.display_id]
    assert by(display_number="INV-0002").data == []
    assert len(by(external_customer_id="acme").data) == 2 and by(external_customer_id="nobody").data == []
    assert len(by(purchase_order_reference="PO-7", currency="usd").data) == 2
    assert by(currency="EUR").data == []
    assert [i.id for i in by(issue_date_from="2026-02-02").data] == [february.display_id, january.display_id]
    assert by(issue_date_to="2026-02-01").data == []
    assert [i.id for i in by(payment_status="pending", status="posted").data] == [january.display_id]
    with time_machine.travel(NOW + timedelta(days=40), tick=True):
        assert [i.id for i in by(payment_status="overdue").data] == [january.display_id]
    with pytest.raises(BadRequestError):
        by(status="bogus")


def test_post_void_reissue_and_generate_extensions(http, order):
    january, february = _invoices(order)
    posted = http.post(f"invoices/{january.display_id}/post")
    assert posted.status_code == 200
    body = posted.json()
    assert (body["status"], body["displayNumber"], body["postedDate"] is not None) == (
        "posted",
        "INV-0001",
        True,
    )
    assert (
        http.post(f"invoices/{january.display_id}/post").json()["displayNumber"] == "INV-0001"
    )  # idempotent

    voided = http.post(f"invoices/{january.display_id}/void").json()
    assert voided["status"] == "voided"
    refused = http.post(f"invoices/{january.display_id}/post")
    assert (refused.status_code, refused.json()["code"]) == (400, "INVOICE_NOT_DRAFT")

    reissued = http.post(f"invoices/{january.display_id}/reissue")
    assert reissued.status_code == 201
    assert (reissued.json()["status"], reissued.json()["reissuedFromId"]) == ("draft", january.display_id)

    generated = http.post(f"orders/{order.display_id}/invoices/generate", json={})
    assert generated.status_code == 200
    assert [i["id"] for i in generated.json()["data"]] == [reissued.json()["id"], february.display_id]
    again = http.post(f"orders/{order.display_id}/invoices/generate", json={"at": "2026-01-15T00:00:00Z"})
    assert [i["id"] for i in again.json()["data"]] == [reissued.json()["id"]]
    future = http.post(f"orders/{order.display_id}/invoices/generate", json={"at": "2030-01-01T00:00:00Z"})
    assert (future.status_code, future.json()["error"]) == (400, "at: must not be in the future")
    assert Invoice.objects.filter(order=order).count() == 3


def test_payments_and_allocations(client: Paid, http, organization, order, customer):
    january, _ = _invoices(order)
    services.invoice_post(invoice=january)
    fee_line, onboarding = client.invoices.get_invoice_lines(january.display_id).data

    payment = client.payments.create_payment(
        customer_id=customer.display_id, amount=70000, currency="USD", payment_type="bankTransfer"
    )
    assert (payment.number, payment.amount, payment.balance, payment.status) == (1, 70000, 70000, "posted")
    assert payment.id.startswith("pay_") and payment.invoice_id is None
    assert client.payments.get_payment(payment.id).id == payment.id
    assert [p.id for p in client.payments.list_payments(external_customer_id="acme").data] == [payment.id]

    created = client.payment_allocations.create_payment_allocation(
        payment_id=payment.id, allocations=[PaymentAllocationInput(invoice_line_id=fee_line.id, amount=20000)]
    )
    (allocation,) = created.data
    assert (allocation.invoice_id, allocation.invoice_line_id, allocation.amount) == (
        january.display_id,
        fee_line.id,
        20000,
    )
    assert (allocation.type, allocation.status, allocation.currency) == ("allocated", "applied", "USD")
    invoice = client.invoices.get_invoice_by_id(january.display_id)
    assert (invoice.payment_status, invoice.amount_paid, invoice.amount_remaining) == (
        "partiallyPaid",
        20000,
        40000,
    )
    assert client.invoices.get_invoice_lines(january.display_id).data[0].payment_status == "partiallyPaid"

    with pytest.raises(BadRequestError) as error:
        client.payment_allocations.create_payment_allocation(
            payment_id=payment.id,
            allocations=[PaymentAllocationInput(invoice_line_id=fee_line.id, amount=30001)],
        )
    assert error.value.body["code"] == "OVER_ALLOCATION"

    client.payment_allocations.create_payment_allocation(
        payment_id=payment.id,
        allocations=[
            PaymentAllocationInput(invoice_line_id=fee_line.id, amount=30000),
            PaymentAllocationInput(invoice_line_id=onboarding.id, amount=10000, currency="USD"),
        ],
    )
    invoice = client.invoices.get_invoice_by_id(january.display_id)
    assert (invoice.payment_status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 60000, 0)
    assert {line.payment_status for line in client.invoices.get_invoice_lines(january.display_id).data} == {
        "paid"
    }
    assert client.payments.get_payment(payment.id).balance == 10000
    listed = client.payment_allocations.list_payment_allocations(invoice_id=january.display_id)
    assert listed.pagination.total == 3
    assert client.payment_allocations.list_payment_allocations(payment_id="pay_nobody").data == []

    paid = client.invoices.list_invoices(payment_status="paid").data
    assert [i.id for i in paid] == [january.display_id]


def test_payment_create_is_idempotent_with_a_key(http, customer):
    body = {"customerId": customer.display_id, "amount": 500, "currency": "usd", "paymentType": "cash"}
    first = http.post("payments/", json=body, headers={"Idempotency-Key": "pay-1"})
    replay = http.post("payments/", json=body, headers={"Idempotency-Key": "pay-1"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.json()["id"] == replay.json()["id"] and first.json()["currency"] == "USD"
    reused = http.post("payments/", json={**body, "amount": 501}, headers={"Idempotency-Key": "pay-1"})
    assert (reused.status_code, reused.json()["code"]) == (400, "IDEMPOTENCY_KEY_REUSED")
    assert first.json()["displayNumber"] == "PAY-0001"


def test_payment_validation(client: Paid, customer):
    with pytest.raises(NotFoundError):
        client.payments.create_payment(
            customer_id="cus_nobody", amount=500, currency="USD", payment_type="cash"
        )
    with pytest.raises(BadRequestError):
        client.payments.create_payment(
            customer_id=customer.display_id, amount=0, currency="USD", payment_type="cash"
        )
    with pytest.raises(BadRequestError):
        client.payments.create_payment(
            customer_id=customer.display_id, amount=500, currency="XYZ", payment_type="cash"
        )
    with pytest.raises(BadRequestError):
        client.payments.create_payment(amount=500, currency="USD", payment_type="cash")
    by_external = client.payments.create_payment(
        external_customer_id="acme", amount=500, currency="USD", payment_type="check", status="draft"
    )
    assert by_external.status == "draft"
    with pytest.raises(BadRequestError) as error:
        client.payment_allocations.create_payment_allocation(payment_id=by_external.id, allocations=[])
    assert "allocations" in error.value.body["error"]


def test_another_organizations_ids_are_404(client: Paid, other_client: Paid, http, order, customer):
    january, _ = _invoices(order)
    services.invoice_post(invoice=january)
    payment = client.payments.create_payment(
        customer_id=customer.display_id, amount=100, currency="USD", payment_type="cash"
    )
    line_id = client.invoices.get_invoice_lines(january.display_id).data[0].id
    for call in (
        lambda: other_client.invoices.get_invoice_by_id(january.display_id),
        lambda: other_client.invoices.get_invoice_lines(january.display_id),
        lambda: other_client.invoices.update_invoice_by_id(january.display_id, metadata={}),
        lambda: other_client.payments.get_payment(payment.id),
        lambda: other_client.payments.create_payment(
            customer_id=customer.display_id, amount=100, currency="USD", payment_type="cash"
        ),
        lambda: other_client.payment_allocations.create_payment_allocation(
            payment_id=payment.id, allocations=[PaymentAllocationInput(invoice_line_id=line_id, amount=100)]
        ),
    ):
        with pytest.raises((NotFoundError, ApiError)) as error:
            call()
        assert error.value.status_code == 404
    assert other_client.invoices.list_invoices().data == []
    assert other_client.payment_allocations.list_payment_allocations().data == []
