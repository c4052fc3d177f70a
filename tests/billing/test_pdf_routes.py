"""Where a posted invoice's PDF can be fetched: the API (a Tally extension) and the public link by
`publicUrlToken`; drafts have none, and other organizations' invoices are not found."""

import pytest
from django.test import Client

from apps.billing import services
from tests.billing.fixtures import T0, fee, line, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(organization):
    order = make_order(organization, make_customer(organization), line(make_product(organization), fee()))
    (invoice,) = services.invoice_generate_for_order(order=order, at=T0)
    return invoice


def public_url(organization, invoice) -> str:
    return f"/invoices/{organization.display_id}/{invoice.public_url_token}.pdf"


def test_the_api_serves_a_posted_invoices_pdf_and_refuses_a_drafts(api, other_api, draft):
    response = api.get(f"/api/v2/invoices/{draft.display_id}/pdf")
    assert response.status_code == 409
    assert response.json()["code"] == "INVOICE_NOT_POSTED" and "post it" in response.json()["error"]

    posted = services.invoice_post(invoice=draft)
    response = api.get(f"/api/v2/invoices/{posted.display_id}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF-")
    assert 'filename="INV-0001.pdf"' in response["Content-Disposition"]
    assert other_api.get(f"/api/v2/invoices/{posted.display_id}/pdf").status_code == 404


def test_the_public_link_needs_no_login_and_only_the_right_token(organization, other_organization, draft):
    anonymous = Client()
    assert anonymous.get(public_url(organization, draft)).status_code == 404  # a draft: nothing to show
    posted = services.invoice_post(invoice=draft)
    response = anonymous.get(public_url(organization, posted))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert anonymous.get(f"/invoices/{organization.display_id}/not-the-token.pdf").status_code == 404
    assert anonymous.get(public_url(other_organization, posted)).status_code == 404


def test_the_detail_page_shows_the_public_link(organization, draft, settings):
    settings.PUBLIC_BASE_URL = "https://billing.example.com"
    posted = services.invoice_post(invoice=draft)
    dashboard = Client()
    assert dashboard.login(username="owner@acme.test", password="acme-pass-123")
    page = dashboard.get(f"/billing/invoices/{posted.display_id}/").content.decode()
    assert f"https://billing.example.com{public_url(organization, posted)}" in page
