# ruff: noqa: F811 (the SDK and localstripe fixtures are imported and taken as arguments)
"""The customer portal in a real browser: a link made through the SDK opens on the customer's plan, credits and
invoices (with the PDF link); a saved card is made the default and another removed, through the page's forms.
Cards are saved beforehand against localstripe (Stripe.js cannot make cards there: see docs/portal.md)."""

import httpx
import pytest

from apps.billing.models import PaymentMethod
from apps.billing.services import billing_settings_update
from apps.billing.stripe_services import stripe_customer_id_find
from tests.checkout.portal_fixtures import (  # noqa: F401 (fixtures)
    localstripe,
    localstripe_server,
    portal_customer,
    save_card,
    stripe_card,
    stripe_organization,
    stripe_secret,
)
from tests.sdk.conftest import base_url, client, make_client  # noqa: F401 (fixtures)

try:
    from playwright.sync_api import expect
except ImportError:  # conftest skips (or fails in CI) before a test body runs
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_walk_the_portal(
    page, client, stripe_organization, localstripe, settings, django_capture_on_commit_callbacks
):
    organization = stripe_organization
    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    billing_settings_update(organization=organization, stripe_publishable_key="pk_test_tally")
    customer = portal_customer(organization, capture=django_capture_on_commit_callbacks)
    visa = save_card(organization, customer, "pm_card_visa")  # the first card: the default
    debit = save_card(organization, customer, stripe_card(localstripe).id)

    portal = client.customer_portals.create_customer_portal(
        external_customer_id="acme", return_url="https://app.acme.test/settings"
    )
    page.goto(portal.url)
    expect(page.get_by_role("heading", name="Billing for Acme")).to_be_visible()
    plan = page.locator("#portal-plan")
    expect(plan.locator("tbody tr")).to_have_count(1)
    expect(plan).to_contain_text("Pro plan")
    expect(plan).to_contain_text("Active")
    expect(plan).to_contain_text("$125.00")
    credits = page.locator("#portal-credits")
    expect(credits).to_contain_text("API credits")
    expect(credits.locator(".portal-balance__value")).to_have_text("1,500")
    invoice_row = page.locator("#portal-invoices tbody tr")
    expect(invoice_row).to_have_count(1)
    expect(invoice_row).to_contain_text("INV-0001")
    expect(invoice_row).to_contain_text("$125.00")
    pdf_href = invoice_row.get_by_role("link", name="PDF of INV-0001").get_attribute("href")
    pdf = httpx.get(f"{page.url.split('/portal/')[0]}{pdf_href}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    expect(page.locator("#portal-return")).to_have_attribute("href", "https://app.acme.test/settings")
    expect(page.locator("#portal-card-element")).to_be_visible()  # Stripe.js (localstripe's) loaded

    cards = page.locator("#portal-cards tbody tr")
    expect(cards).to_have_count(2)
    visa_row = page.locator(f'tr[data-payment-method="{visa.display_id}"]')
    debit_row = page.locator(f'tr[data-payment-method="{debit.display_id}"]')
    expect(visa_row).to_contain_text("Default")
    expect(debit_row).not_to_contain_text("Default")
    page.screenshot(path="/tmp/portal-walk.png", full_page=True)

    debit_row.get_by_role("button", name="Make the card ending in 5556 the default").click()
    expect(page.locator(".flash")).to_contain_text("Visa ending in 5556 is now your default payment method.")
    expect(debit_row).to_contain_text("Default")
    expect(visa_row).not_to_contain_text("Default")
    assert PaymentMethod.objects.get(pk=debit.pk).is_default
    stripe_id = stripe_customer_id_find(organization=organization, customer=customer)
    at_stripe = localstripe.client().v1.customers.retrieve(stripe_id)
    assert at_stripe.invoice_settings.default_payment_method == debit.external_payment_method_id

    visa_row.get_by_role("button", name="Remove the card ending in 4242").click()
    expect(page.locator(".flash")).to_contain_text("Visa ending in 4242 was removed.")
    expect(cards).to_have_count(1)
    assert list(PaymentMethod.objects.values_list("pk", flat=True)) == [debit.pk]
