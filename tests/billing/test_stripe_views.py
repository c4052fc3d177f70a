"""The dashboard's Stripe page (billing/stripe/): connecting keys, the webhook URL, charge attempts, the inbox."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.billing import selectors, stripe_services
from apps.billing import services as billing_services
from apps.billing.models import Invoice, InvoiceCharge
from tests.billing.conftest import STRIPE_TEST_KEY
from tests.billing.fixtures import fee, line, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db

URL = "/billing/stripe/"


@pytest.fixture
def dashboard(organization):
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client


def test_not_connected(dashboard, organization):
    page = dashboard.get(URL).content.decode()
    assert "Not connected" in page and "Connect Stripe" in page
    assert f"/api/v2/stripe/webhooks/{organization.display_id}" in page
    assert "No charges yet" in page and "No events received" in page


def test_connect_update_and_disconnect(dashboard, organization):
    response = dashboard.post(f"{URL}keys/", {"secret_key": "pk_test_123", "webhook_secret": "nope"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "starts with sk_" in page and "starts with whsec_" in page
    assert selectors.billing_settings_get(organization=organization).stripe_secret_key is None

    response = dashboard.post(f"{URL}keys/", {"secret_key": "sk_test_abcdefgh1234", "webhook_secret": ""})
    assert response.status_code == 302
    settings = selectors.billing_settings_get(organization=organization)
    assert (settings.stripe_secret_key, settings.stripe_webhook_secret) == ("sk_test_abcdefgh1234", None)
    page = dashboard.get(URL).content.decode()
    assert "sk_test_…1234" in page and "sk_test_abcdefgh1234" not in page  # never shown again
    assert "Test mode" in page and "No secret yet" in page

    dashboard.post(f"{URL}keys/", {"secret_key": "", "webhook_secret": "whsec_abc"})
    settings = selectors.billing_settings_get(organization=organization)
    assert (settings.stripe_secret_key, settings.stripe_webhook_secret) == (
        "sk_test_abcdefgh1234",
        "whsec_abc",
    )
    assert "Enter a key" in dashboard.post(f"{URL}keys/", {}).content.decode()

    response = dashboard.post(f"{URL}keys/", {"disconnect": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == URL
    settings = selectors.billing_settings_get(organization=organization)
    assert settings.stripe_secret_key is None and settings.stripe_webhook_secret is None


def test_charge_attempts_and_charging_again(
    dashboard, stripe_organization, localstripe, django_capture_on_commit_callbacks
):
    customer = make_customer(stripe_organization)
    stripe_services.payment_method_create(
        organization=stripe_organization, customer=customer, token="pm_card_chargeCustomerFail"
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(
            stripe_organization,
            customer,
            line(make_product(stripe_organization), fee(cents=7_700)),
            start=timezone.now() - timedelta(minutes=1),
        )
    # Posted outside the captured commits: the charge posting queues is left to the "collect" button.
    invoice = billing_services.invoice_post(invoice=Invoice.objects.get(order=order))
    response = dashboard.post(f"{URL}collect/", follow=True)
    page = response.content.decode()
    assert "1 invoice(s) charged" in page
    assert (
        "Failed" in page and "Your card was declined." in page and "$77.00" in page and "Charge again" in page
    )

    response = dashboard.post(f"{URL}invoices/{invoice.display_id}/charge/", follow=True)
    assert "declined" in response.content.decode()
    assert InvoiceCharge.objects.count() == 2

    good = stripe_services.payment_method_create(
        organization=stripe_organization, customer=customer, token="pm_card_visa"
    )
    stripe_services.payment_method_set_default(
        organization=stripe_organization, payment_method=good.payment_method
    )
    response = dashboard.post(f"{URL}invoices/{invoice.display_id}/charge/", follow=True)
    page = response.content.decode()
    assert f"{invoice.display_number} is paid." in page and "Paid" in page
    assert STRIPE_TEST_KEY not in page


def test_another_organizations_invoice_is_404(dashboard, other_organization):
    other_invoice_id = "inv_doesnotexist"
    assert dashboard.post(f"{URL}invoices/{other_invoice_id}/charge/").status_code == 404
    assert dashboard.get(f"{URL}collect/").status_code == 405


def test_login_required():
    assert Client().get(URL).status_code == 302
