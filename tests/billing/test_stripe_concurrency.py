"""One charge per invoice under concurrency, on PostgreSQL (SQLite serializes writers, so it proves nothing there):
the automatic charge, the sweep, an explicit charge and Stripe's webhook racing for one invoice end with one
PaymentIntent, one Payment and the invoice paid once."""

import json
from datetime import timedelta

import stripe
from django.utils import timezone

from apps.billing import services, stripe_services
from apps.billing.models import Invoice, InvoiceCharge, Payment, PaymentAllocation, StripeEvent
from apps.common.exceptions import DomainError
from tests.billing.fixtures import fee, line, make_customer, make_order, make_product
from tests.concurrency import RACE_TEST, run_together

pytestmark = RACE_TEST

THREADS = 6


def test_racing_charges_and_webhooks_charge_once(stripe_organization, localstripe, stripe_secret):
    customer = make_customer(stripe_organization)
    stripe_services.payment_method_create(
        organization=stripe_organization, customer=customer, token="pm_card_visa"
    )
    order = make_order(
        stripe_organization,
        customer,
        line(make_product(stripe_organization), fee(cents=3_300)),
        start=timezone.now() - timedelta(minutes=1),
        auto_post_invoices=True,
    )
    (invoice,) = services.invoice_generate_for_order(order=order)
    invoice_pk = invoice.pk

    def charge():
        stripe_services.invoice_charge(invoice=Invoice.objects.get(pk=invoice_pk))

    def charge_now():
        try:
            stripe_services.invoice_charge_now(invoice=Invoice.objects.get(pk=invoice_pk))
        except DomainError as error:  # already paid by a faster thread
            if error.code != "NOTHING_TO_CHARGE":
                raise

    run_together([charge, charge, charge, charge_now, charge_now, charge][:THREADS])

    assert len(localstripe.client().v1.payment_intents.list().data) == 1
    assert InvoiceCharge.objects.count() == 1 and InvoiceCharge.objects.get().status == "succeeded"
    assert Payment.objects.count() == 1 and PaymentAllocation.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.payment_status, invoice.amount_paid) == ("paid", 3_300)

    # Stripe's success event, delivered by several deliveries at once (and processed by each): still one.
    (event,) = [
        e.to_dict()
        for e in localstripe.client().v1.events.list(params={"type": "payment_intent.succeeded"}).data
    ]
    payload = json.dumps(event)

    def deliver():
        receipt = stripe_services.stripe_event_receive(
            organization=stripe_organization,
            payload=payload.encode(),
            signature_header=stripe.WebhookSignature.generate_signature_header(payload, stripe_secret),
        )
        stripe_services.stripe_event_process(event_pk=receipt.event.pk)

    run_together([deliver] * THREADS)
    assert StripeEvent.objects.count() == 1 and StripeEvent.objects.get().processed_at is not None
    assert Payment.objects.count() == 1 and PaymentAllocation.objects.count() == 1
