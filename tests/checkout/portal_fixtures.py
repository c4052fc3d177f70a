# ruff: noqa: F811 (billing's localstripe fixtures are re-exported here and taken as arguments)
"""Shared helpers of the customer portal tests (import them explicitly: `from tests.checkout.portal_fixtures import
…`). The localstripe fixtures are billing's (tests/billing/conftest.py), re-exported here so a portal test module
that imports them gets them without a conftest of its own."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.billing import services as billing_services
from apps.billing import stripe_services
from apps.billing.models import Invoice
from apps.catalog.services import credit_currency_create
from apps.checkout.portal import customer_portal_create
from apps.credits.services import credit_grant_manual
from tests.billing.conftest import (  # noqa: F401 (fixtures, re-exported)
    STRIPE_TEST_KEY,
    localstripe,
    localstripe_server,
    stripe_organization,
    stripe_secret,
)
from tests.billing.fixtures import fee, line, make_customer, make_order, make_product

FEE = 12_500  # cents a month


def portal_customer(organization, *, capture):
    """Acme with an active "Pro plan" order (fee $125.00 a month), its first invoice posted, and 1,500 "API
    credits" granted. `capture` is pytest-django's `django_capture_on_commit_callbacks` (the activation task
    builds the first invoice after the commit)."""
    customer = make_customer(organization, email="ap@acme.test")
    with capture(execute=True):
        order = make_order(
            organization,
            customer,
            line(make_product(organization), fee(cents=FEE)),
            start=timezone.now() - timedelta(minutes=1),
            name="Pro plan",
        )
    (invoice,) = Invoice.objects.filter(order=order)
    billing_services.invoice_post(invoice=invoice)
    credit_currency_create(organization=organization, name="API credits", key="api-credits")
    credit_grant_manual(
        organization=organization, customer=customer, credit_currency_key="api-credits", amount=Decimal(1500)
    )
    return customer


def portal_for(organization, customer, **fields):
    return customer_portal_create(organization=organization, customer=customer, **fields)


def save_card(organization, customer, token="pm_card_visa"):
    result = stripe_services.payment_method_create(organization=organization, customer=customer, token=token)
    assert result.setup.status == "succeeded", result
    return result.payment_method


def stripe_card(localstripe, number="4000056655665556"):
    """A PaymentMethod at localstripe (as Stripe.js makes one in the browser); localstripe calls every card a
    Visa, so tests tell cards apart by their last four digits."""
    return localstripe.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}}
    )
