"""Paid's quickstart checkout in a real browser: a checkout created through paid-python, opened in chromium, the Pro
plan picked and paid with a localstripe test card through localstripe's stand-in for Stripe.js (the page loads it
from `STRIPE_JS_URL`), the buyer landing on the success URL; then the SDK sees the checkout completed with its order
and the customer's balance holds Pro's 2,000 Chat Credits. A declined card first shows Stripe's message and the
buyer retries."""

import re
import time

import pytest
from paid.types import CheckoutProductInput

from apps.billing.models import InvoiceCharge
from apps.billing.services import billing_settings_update
from apps.orders.models import Order
from tests.billing.conftest import localstripe, localstripe_server, stripe_organization, stripe_secret  # noqa: F401
from tests.checkout.fixtures import make_catalog
from tests.sdk.conftest import base_url, client, make_client  # noqa: F401 (fixtures)

try:
    from playwright.sync_api import expect
except ImportError:  # conftest skips (or fails in CI) before a test body runs
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLISHABLE_KEY = "pk_test_tally_localstripe"


def pay_with(page, number: str) -> None:
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("94107")
    page.get_by_role("button", name="Subscribe").click()


def test_quickstart_checkout_in_a_browser(
    page,
    live_server,
    settings,
    stripe_organization,  # noqa: F811
    localstripe,  # noqa: F811
    client,  # noqa: F811
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    billing_settings_update(organization=stripe_organization, stripe_publishable_key=PUBLISHABLE_KEY)
    catalog = make_catalog(stripe_organization)

    checkout = client.checkouts.create_checkout(
        products=[CheckoutProductInput(id=catalog.product.display_id)],
        external_customer_id="user_42",
        success_url=f"{live_server.url}/welcome/?checkout_id={{CHECKOUT_ID}}",
    )
    page.goto(checkout.url)
    expect(page.get_by_role("heading", name="Choose your plan")).to_be_visible()
    expect(page.locator(".co__seller")).to_have_text("Acme AI")
    pro = page.locator("label.co__plan", has_text="Pro")
    expect(pro).to_contain_text("$79.00")
    expect(pro).to_contain_text("2,000 Chat Credits each month")
    pro.click()
    expect(page.locator(f"#plan-{catalog.plan_id('Pro')}")).to_be_checked()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")

    pay_with(page, "4000000000000002")  # declined when set up
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.get_by_role("button", name="Subscribe")).to_be_enabled()
    assert not Order.objects.exists()

    page.locator("#card-element").evaluate("el => el.querySelectorAll('input').forEach(i => i.value = '')")
    pay_with(page, "4242424242424242")
    page.wait_for_url(re.compile(rf"/welcome/\?checkout_id={checkout.id}$"))

    details = client.checkouts.get_checkout(checkout.id)
    assert details.status == "completed" and details.external_customer_id == "user_42"
    assert details.order_id and details.order_id.startswith("ord_")
    assert details.selected_product.id == catalog.product.display_id
    assert (
        details.selected_product.plan.id == catalog.plan_id("Pro")
        and details.selected_product.plan.name == "Pro"
    )
    customer = client.customers.get_customer_by_external_id("user_42")
    assert customer.name == "Ada Lovelace" and customer.email == "ada@example.com"
    deadline = time.monotonic() + 5
    while True:
        balances = client.customers.get_customer_credit_balances(customer.id).data
        if (balances and balances[0].available == 2000) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(b.available, b.credits_currency_id) for b in balances] == [(2000, catalog.credits.display_id)]
    assert Order.objects.count() == 1 and InvoiceCharge.objects.get().status == "succeeded"
    invoice = client.invoices.list_invoices().data[0]
    assert invoice.order_id == details.order_id
