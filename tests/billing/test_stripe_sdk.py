"""Payment methods through the real `paid-python` client on a live server, and Stripe's webhooks posted by
localstripe itself to that server: a charge ends with the invoice paid by the events Stripe sends."""

import json
import time
from datetime import timedelta

import httpx
import pytest
import stripe
from django.utils import timezone
from paid.errors import BadRequestError, NotFoundError

from apps.billing import gateway, services, stripe_services
from apps.billing.models import Invoice, InvoiceCharge, Payment, StripeEvent
from apps.customers.selectors import customer_get
from tests.billing.conftest import STRIPE_TEST_KEY
from tests.billing.fixtures import fee, line, make_order, make_product
from tests.sdk.conftest import base_url, client, http, make_client, other_client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_payment_methods_through_the_sdk(client, other_client, stripe_organization, localstripe):  # noqa: F811
    customer = client.customers.create_customer(name="Acme", external_id="acme")

    setup = client.payment_methods.create_payment_method(
        customer_id=customer.id, confirmation_token="pm_card_visa", metadata={"source": "sdk"}
    )
    assert setup.setup_intent.status == "succeeded" and setup.setup_intent.id.startswith("seti_")
    assert setup.customer_id == customer.id and setup.external_payment_method_id.startswith("pm_")

    token = localstripe.client().v1.test_helpers.confirmation_tokens.create(
        params={
            "payment_method_data": {
                "type": "card",
                "card": {"number": "5555555555554444", "exp_month": 3, "exp_year": 2033, "cvc": "123"},
            }
        }
    )
    second = client.payment_methods.create_payment_method(
        external_customer_id="acme", confirmation_token=token.id, return_url="https://acme.test/back"
    )
    assert second.setup_intent.status == "succeeded"

    listed = client.payment_methods.list_payment_methods(customer_id=customer.id)
    assert [m.external_payment_method_id for m in listed.data] == [
        setup.external_payment_method_id,
        second.external_payment_method_id,
    ]
    first, other = listed.data
    assert first.is_default and not other.is_default and listed.pagination.total == 2
    assert (other.card.brand, other.card.last4, other.card.exp_month, other.card.exp_year) == (
        "visa",
        "4444",
        3,
        2033,
    )
    assert client.payment_methods.get_payment_method(first.id) == first

    updated = client.payment_methods.update_default_payment_method(other.id)
    assert updated.is_default and updated.id == other.id
    assert not client.payment_methods.get_payment_method(first.id).is_default

    assert client.payment_methods.delete_payment_method(first.id) is not None
    with pytest.raises(NotFoundError):
        client.payment_methods.get_payment_method(first.id)
    remaining = client.payment_methods.list_payment_methods(external_customer_id="acme")
    assert [m.id for m in remaining.data] == [other.id]

    with pytest.raises(BadRequestError) as caught:
        client.payment_methods.create_payment_method(
            customer_id=customer.id, confirmation_token="pm_card_visa_chargeDeclined"
        )
    assert caught.value.body["code"] == "CARD_DECLINED"

    with pytest.raises(NotFoundError):
        other_client.payment_methods.get_payment_method(other.id)
    with pytest.raises(NotFoundError):
        other_client.payment_methods.delete_payment_method(other.id)
    with pytest.raises(NotFoundError):
        other_client.payment_methods.update_default_payment_method(other.id)
    with pytest.raises(NotFoundError):
        other_client.payment_methods.list_payment_methods(customer_id=customer.id)
    assert client.payment_methods.get_payment_method(other.id).is_default


def test_without_stripe_the_sdk_gets_a_clear_400(client, organization):  # noqa: F811
    customer = client.customers.create_customer(name="Acme", external_id="acme")
    with pytest.raises(BadRequestError) as caught:
        client.payment_methods.create_payment_method(
            customer_id=customer.id, confirmation_token="pm_card_visa"
        )
    assert caught.value.body["code"] == "STRIPE_NOT_CONFIGURED"


def test_stripe_webhooks_posted_by_localstripe_settle_a_charge(
    client,  # noqa: F811
    live_server,
    stripe_organization,
    stripe_secret,
    localstripe,
):
    """Tally never hears Stripe's answer to the charge (the attempt stays pending); localstripe posts
    `payment_intent.succeeded` to the live server, signed with the organization's secret, and the inbox settles
    the invoice. Then localstripe's delivery is replayed: nothing changes."""
    customer_id = client.customers.create_customer(name="Acme", external_id="acme").id
    localstripe.webhook_register(
        url=f"{live_server.url}/api/v2/stripe/webhooks/{stripe_organization.display_id}",
        secret=stripe_secret,
        events=["payment_intent.succeeded", "payment_intent.payment_failed"],
    )
    customer = customer_get(organization=stripe_organization, customer_id=customer_id)
    order = make_order(
        stripe_organization,
        customer,
        line(make_product(stripe_organization), fee(cents=4_200)),
        start=timezone.now() - timedelta(minutes=1),
        auto_post_invoices=True,
    )
    (invoice,) = services.invoice_generate_for_order(order=order)
    assert invoice.status == "posted"
    # The card arrives after posting, so the charge posting queued found none; this test charges by hand.
    client.payment_methods.create_payment_method(customer_id=customer_id, confirmation_token="pm_card_visa")

    pending = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    intent = gateway.charge_off_session(
        secret_key=STRIPE_TEST_KEY,
        customer_id=stripe_services.stripe_customer_id_find(
            organization=stripe_organization, customer=customer
        ),
        payment_method_id=pending.external_payment_method_id,
        amount=pending.amount,
        currency=pending.currency,
        idempotency_key=pending.idempotency_key,
        metadata={
            stripe_services.INVOICE_METADATA_KEY: invoice.display_id,
            stripe_services.CHARGE_METADATA_KEY: pending.idempotency_key,
        },
    )

    def settled():
        return InvoiceCharge.objects.filter(pk=pending.pk, status="succeeded").exists()

    assert wait_for(settled), "localstripe's payment_intent.succeeded did not settle the charge"
    event = StripeEvent.objects.get(organization=stripe_organization, type="payment_intent.succeeded")
    assert event.processed_at is not None and event.payload["data"]["object"]["id"] == intent.id
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID
    assert Payment.objects.get().external_payment_id == intent.id

    via_api = client.invoices.get_invoice_by_id(invoice.display_id)
    assert (via_api.payment_status, via_api.amount_paid, via_api.amount_remaining) == ("paid", 4_200, 0)

    # Stripe delivers the same event again (a retry after a lost 200).
    payload = json.dumps(event.payload)
    response = httpx.post(
        f"{live_server.url}/api/v2/stripe/webhooks/{stripe_organization.display_id}",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, stripe_secret),
        },
    )
    assert (response.status_code, response.json()) == (200, {"received": True, "duplicate": True})
    assert Payment.objects.count() == 1 and StripeEvent.objects.count() == 1
