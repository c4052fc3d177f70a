"""A customer's tax-exempt flag (dashboard only: Paid's Customer has no such field) is set from the customer
form and makes its invoices tax-free."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.billing import services
from apps.customers.services import customer_create
from tests.billing.fixtures import T0, fee, line, make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard(organization):
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client


def test_the_customer_form_sets_tax_exempt_and_invoices_follow_it(dashboard, organization):
    services.billing_settings_update(organization=organization, tax_rate=Decimal("20"))
    customer = customer_create(organization=organization, name="Northwind", external_id="acme")
    form = dashboard.get(f"/customers/{customer.display_id}/edit/")
    assert b'name="tax_exempt"' in form.content and b"Tax exempt" in form.content

    response = dashboard.post(
        f"/customers/{customer.display_id}/edit/", {"name": "Northwind", "tax_exempt": "on", "metadata": ""}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.tax_exempt is True

    order = make_order(organization, customer, line(make_product(organization), fee()), start=T0)
    (invoice,) = services.invoice_generate_for_order(order=order, at=T0)
    assert (invoice.tax_exempt, invoice.tax_amount, invoice.tax_status) == (True, 0, "not_applicable")

    dashboard.post(f"/customers/{customer.display_id}/edit/", {"name": "Northwind", "metadata": ""})
    customer.refresh_from_db()
    assert customer.tax_exempt is False
    posted = services.invoice_post(invoice=invoice)  # posting applies the customer's status of the day
    assert (posted.tax_exempt, posted.tax_amount, posted.total_amount) == (False, 10000, 60000)
