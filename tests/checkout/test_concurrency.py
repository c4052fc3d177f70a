"""The browser's return, its double submit, a reload and Stripe's webhook racing to complete one paid attempt, on
PostgreSQL (SQLite serializes writers, so it proves nothing there): one customer, one order, one charge, one
grant."""

import pytest

from apps.billing.models import Invoice, InvoiceCharge, Payment
from apps.billing.services import billing_settings_update
from apps.checkout.models import CheckoutAttempt
from apps.checkout.services import (
    checkout_attempt_complete,
    checkout_attempt_start,
    checkout_on_setup_intent_succeeded,
)
from apps.credits.models import CreditGrant
from apps.customers.models import Customer
from apps.orders.models import Order
from apps.webhooks.models import WebhookEvent
from tests.billing.conftest import localstripe, localstripe_server, stripe_organization, stripe_secret  # noqa: F401
from tests.checkout.fixtures import available_credits, buyer, make_catalog, make_checkout
from tests.checkout.test_stripe import PUBLISHABLE_KEY, confirm_card
from tests.concurrency import RACE_TEST, run_together

pytestmark = RACE_TEST

THREADS = 6


@pytest.mark.parametrize("single_use", [False, True])
def test_browser_double_submit_and_webhook_race_make_one_of_everything(
    stripe_organization,  # noqa: F811
    localstripe,  # noqa: F811
    single_use,
):
    shop = stripe_organization
    billing_settings_update(organization=shop, stripe_publishable_key=PUBLISHABLE_KEY)
    catalog = make_catalog(shop)
    checkout = make_checkout(shop, catalog, "Pro", external_customer_id="acme", single_use=single_use)

    # Double submit of the form: the same client key from several requests at once makes one attempt.
    starts = []
    run_together(
        [
            lambda: starts.append(
                checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
            )
        ]
        * THREADS
    )
    assert len({attempt.pk for attempt in starts}) == 1
    assert len({attempt.setup_intent_id for attempt in starts}) == 1 and starts[0].setup_intent_id
    attempt = starts[0]
    confirm_card(localstripe, attempt)

    def browser():
        checkout_attempt_complete(attempt=CheckoutAttempt.objects.get(pk=attempt.pk))

    def webhook():
        checkout_on_setup_intent_succeeded(organization=shop, setup_intent_id=attempt.setup_intent_id)

    run_together([browser, webhook] * (THREADS // 2))

    attempt.refresh_from_db()
    assert attempt.status == "completed"
    assert Customer.objects.filter(organization=shop).count() == 1
    assert Order.objects.filter(organization=shop).count() == 1
    assert InvoiceCharge.objects.filter(organization=shop).count() == 1
    assert Payment.objects.filter(organization=shop).count() == 1
    (invoice,) = Invoice.objects.filter(organization=shop)
    assert invoice.payment_status == "paid" and invoice.amount_paid == 7900
    assert CreditGrant.objects.filter(organization=shop).count() == 1
    assert available_credits(attempt.customer) == 2000
    assert WebhookEvent.objects.filter(organization=shop, name="billing-checkout-completed").count() == 1
    intents = localstripe.client().v1.payment_intents.list().data
    assert len(intents) == 1 and intents[0].status == "succeeded"
