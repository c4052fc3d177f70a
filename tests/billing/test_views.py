"""The billing dashboard: invoice list and detail with post / void / reissue, the PDF, payments, settings;
another organization's invoices are 404."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.billing import selectors, services
from apps.billing.models import Invoice
from tests.billing.fixtures import T0, fee, line, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def dashboard(organization):
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client


@pytest.fixture
def draft(organization):
    order = make_order(organization, make_customer(organization), line(make_product(organization), fee()))
    (invoice,) = services.invoice_generate_for_order(order=order, at=T0)
    return invoice


def test_list_and_filters(dashboard, draft):
    page = dashboard.get("/billing/invoices/")
    assert page.status_code == 200 and b"Draft" in page.content and b"$500.00" in page.content
    assert draft.display_id.encode() in page.content
    posted_only = dashboard.get("/billing/invoices/?status=posted", headers=HTMX)
    assert b"No invoices match these filters." in posted_only.content
    assert (
        dashboard.get(f"/billing/invoices/?order={draft.order.display_id}").context["page"].paginator.count
        == 1
    )


def test_post_void_and_reissue_from_the_detail_page(dashboard, draft):
    detail = dashboard.get(f"/billing/invoices/{draft.display_id}/")
    assert (
        detail.status_code == 200
        and b"AI SDR: Platform fee" in detail.content
        and b">Post<" in detail.content
    )
    assert (
        dashboard.get(f"/billing/invoices/{draft.display_id}/pdf/").status_code == 404
    )  # drafts have no PDF

    response = dashboard.post(f"/billing/invoices/{draft.display_id}/post/", headers=HTMX)
    assert response["HX-Redirect"] == f"/billing/invoices/{draft.display_id}/"
    draft.refresh_from_db()
    assert draft.display_number == "INV-0001"
    pdf = dashboard.get(f"/billing/invoices/{draft.display_id}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    dashboard.post(f"/billing/invoices/{draft.display_id}/void/")
    draft.refresh_from_db()
    assert draft.status == "voided"
    again = dashboard.post(f"/billing/invoices/{draft.display_id}/post/", follow=True)
    assert b"Not posted" in again.content  # the refusal is shown, nothing changes
    dashboard.post(f"/billing/invoices/{draft.display_id}/reissue/")
    reissued = Invoice.objects.get(reissued_from=draft)
    assert reissued.status == "draft"
    assert b"Replaced by" in dashboard.get(f"/billing/invoices/{draft.display_id}/").content


def test_payments_page(dashboard, organization, draft):
    assert b"No payments yet" in dashboard.get("/billing/payments/").content
    services.payment_create(
        organization=organization, customer=draft.customer, amount=12345, currency="USD", payment_type="check"
    )
    page = dashboard.get("/billing/payments/")
    assert b"PAY-0001" in page.content and b"$123.45" in page.content


def test_settings_page_saves_and_refuses_bad_input(dashboard, organization):
    form = dashboard.get("/billing/settings/")
    assert form.status_code == 200 and b"Tax rate (%)" in form.content
    bad = dashboard.post("/billing/settings/", {"tax_rate": "120", "payment_terms_days": "30"}, headers=HTMX)
    assert bad.status_code == 200 and "tax_rate" in bad.context["form"].errors
    assert selectors.billing_settings_get(organization=organization).pk is None  # nothing saved
    response = dashboard.post(
        "/billing/settings/",
        {"legal_name": "Acme AI Inc.", "tax_rate": "8.25", "payment_terms_days": "15", "city": "Springfield"},
        headers=HTMX,
    )
    assert response["HX-Redirect"] == "/billing/settings/"
    saved = selectors.billing_settings_get(organization=organization)
    assert (saved.legal_name, saved.tax_rate, saved.payment_terms_days, saved.address) == (
        "Acme AI Inc.",
        Decimal("8.25"),
        15,
        {"city": "Springfield"},
    )


def test_another_organizations_invoice_is_404(other_organization, draft):
    client = Client()
    assert client.login(username="owner@globex.test", password="globex-pass-123")
    assert client.get(f"/billing/invoices/{draft.display_id}/").status_code == 404
    assert client.post(f"/billing/invoices/{draft.display_id}/post/").status_code == 404
    draft.refresh_from_db()
    assert draft.status == "draft"
