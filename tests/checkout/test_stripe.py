"""Paid plans against localstripe: the card confirmed as Stripe.js does (`confirmCardSetup`: the SetupIntent's
confirm call with the client secret and the card), then completion makes one customer, one order, one grant and
one charge of the first invoice however often and by whom it is called; a declined card leaves nothing behind
and the buyer can retry."""

import httpx
import pytest

from apps.billing.models import Invoice, InvoiceCharge, Payment, PaymentMethod
from apps.billing.services import billing_settings_update
from apps.checkout.models import CheckoutAttempt
from apps.checkout.services import (
    CheckoutClosed,
    PaymentNotConfirmed,
    checkout_attempt_complete,
    checkout_attempt_start,
    checkout_on_setup_intent_succeeded,
    checkout_sweep_organization,
)
from apps.credits.models import CreditGrant
from apps.customers.models import Customer
from apps.orders.models import Order
from tests.billing.conftest import localstripe, localstripe_server, stripe_organization, stripe_secret  # noqa: F401
from tests.checkout.fixtures import available_credits, buyer, make_catalog, make_checkout

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISHABLE_KEY = "pk_test_tally_localstripe"
VISA = "4242424242424242"
DECLINED = "4000000000000002"


@pytest.fixture
def shop(stripe_organization):  # noqa: F811
    billing_settings_update(organization=stripe_organization, stripe_publishable_key=PUBLISHABLE_KEY)
    return stripe_organization


@pytest.fixture
def catalog(shop):
    return make_catalog(shop)


def confirm_card(localstripe, attempt, number=VISA):  # noqa: F811
    """What Stripe.js's confirmCardSetup sends from the buyer's browser (publishable key, client secret)."""
    response = httpx.post(
        f"{localstripe.url}/v1/setup_intents/{attempt.setup_intent_id}/confirm",
        json={
            "key": PUBLISHABLE_KEY,
            "use_stripe_sdk": True,
            "client_secret": attempt.client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
                "billing_details": {"name": "Ada Buyer", "email": "ada@example.com"},
            },
        },
        timeout=10,
    )
    return response.json()


def assert_one_of_everything(shop, attempt):
    assert Customer.objects.filter(organization=shop).count() == 1
    assert Order.objects.filter(organization=shop).count() == 1
    (invoice,) = Invoice.objects.filter(organization=shop)
    assert invoice.status == "posted" and invoice.payment_status == "paid" and invoice.amount_paid == 7900
    assert InvoiceCharge.objects.filter(organization=shop).count() == 1
    assert Payment.objects.filter(organization=shop).count() == 1
    assert CreditGrant.objects.filter(organization=shop).count() == 1
    assert available_credits(attempt.customer) == 2000


def test_paid_plan_card_confirmed_then_completed_once(shop, catalog, localstripe):  # noqa: F811
    checkout = make_checkout(shop, catalog, "Starter", "Pro", external_customer_id="acme")
    attempt = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    assert attempt.status == "open" and attempt.setup_intent_id.startswith("seti_")
    assert attempt.client_secret.startswith(attempt.setup_intent_id)
    assert (
        not Customer.objects.exists() and not Order.objects.exists()
    )  # nothing before the card is confirmed
    with pytest.raises(PaymentNotConfirmed):
        checkout_attempt_complete(attempt=attempt)

    assert confirm_card(localstripe, attempt)["status"] == "succeeded"
    done = checkout_attempt_complete(attempt=attempt)
    assert done.status == "completed" and done.customer.external_id == "acme"
    again = checkout_attempt_complete(attempt=CheckoutAttempt.objects.get(pk=attempt.pk))  # browser reload
    assert again.order_id == done.order_id
    checkout_on_setup_intent_succeeded(
        organization=shop, setup_intent_id=attempt.setup_intent_id
    )  # late webhook
    assert checkout_sweep_organization(organization=shop)["finished"] == 0

    assert_one_of_everything(shop, done)
    (card,) = PaymentMethod.objects.filter(organization=shop)
    assert card.customer == done.customer and card.is_default and card.card_last4 == "4242"


def test_webhook_completes_when_the_browser_never_returns(shop, catalog, localstripe):  # noqa: F811
    checkout = make_checkout(shop, catalog, "Pro", single_use=True)
    attempt = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    confirm_card(localstripe, attempt)
    checkout_on_setup_intent_succeeded(organization=shop, setup_intent_id=attempt.setup_intent_id)
    attempt.refresh_from_db()
    assert attempt.status == "completed"
    checkout.refresh_from_db()
    assert checkout.status == "completed"
    assert_one_of_everything(shop, attempt)


def test_sweep_completes_a_confirmed_attempt(shop, catalog, localstripe):  # noqa: F811
    checkout = make_checkout(shop, catalog, "Pro")
    attempt = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    assert checkout_sweep_organization(organization=shop)["finished"] == 0  # not confirmed: left open
    confirm_card(localstripe, attempt)
    assert checkout_sweep_organization(organization=shop)["finished"] == 1
    attempt.refresh_from_db()
    assert_one_of_everything(shop, attempt)


def test_declined_card_leaves_nothing_and_the_buyer_can_retry(shop, catalog, localstripe):  # noqa: F811
    checkout = make_checkout(shop, catalog, "Pro", single_use=True)
    first = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    answer = confirm_card(localstripe, first, number=DECLINED)
    assert answer["error"]["message"] == "Your card was declined."
    with pytest.raises(PaymentNotConfirmed):
        checkout_attempt_complete(attempt=first)
    assert not Customer.objects.exists() and not Order.objects.exists() and not InvoiceCharge.objects.exists()

    retry = checkout_attempt_start(
        checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer(client_key="form-2")
    )
    assert retry.pk != first.pk
    confirm_card(localstripe, retry)
    done = checkout_attempt_complete(attempt=retry)
    assert_one_of_everything(shop, done)


def test_single_use_link_second_confirmed_buyer_is_refused_without_charge(shop, catalog, localstripe):  # noqa: F811
    checkout = make_checkout(shop, catalog, "Pro", single_use=True)
    a = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    b = checkout_attempt_start(
        checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer(client_key="form-2")
    )
    confirm_card(localstripe, a)
    confirm_card(localstripe, b)
    checkout_attempt_complete(attempt=a)
    with pytest.raises(CheckoutClosed):
        checkout_attempt_complete(attempt=b)
    b.refresh_from_db()
    assert b.status == "failed" and "already been used" in b.failure_message
    assert InvoiceCharge.objects.count() == 1 and Order.objects.count() == 1
