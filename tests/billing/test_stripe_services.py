"""Collecting invoices through Stripe, against localstripe: customers, saved cards, off-session charges, the
webhook inbox. Nothing stands in for the Stripe client: every call goes over HTTP to localstripe."""

import contextlib
import json
from datetime import timedelta

import pytest
import stripe
import time_machine
from django.utils import timezone

from apps.billing import gateway, services, stripe_services, stripe_tasks
from apps.billing.models import Invoice, InvoiceCharge, Payment, PaymentAllocation, PaymentMethod, StripeEvent
from apps.common.exceptions import DomainError
from apps.webhooks.models import WebhookEvent
from tests.billing.conftest import STRIPE_TEST_KEY
from tests.billing.fixtures import fee, line, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db

FEE = 12_500  # cents a month


@pytest.fixture
def customer(organization):
    return make_customer(organization, email="ap@acme.test")


@pytest.fixture
def product(organization):
    return make_product(organization)


def save_card(organization, customer, token="pm_card_visa") -> PaymentMethod:
    result = stripe_services.payment_method_create(organization=organization, customer=customer, token=token)
    assert result.setup.status == "succeeded", result
    return result.payment_method


def posted_invoice(organization, customer, product, django_capture_on_commit_callbacks) -> Invoice:
    """An order that starts now, activated: its first invoice (the fee, in advance) is built by the activation's
    task, then posted. Posting queues the charge after the commit, which a test's transaction never reaches:
    the tests charge by hand (test_posting_charges_the_invoice runs the queued charge)."""
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(
            organization,
            customer,
            line(product, fee(cents=FEE)),
            start=timezone.now() - timedelta(minutes=1),
        )
    (invoice,) = Invoice.objects.filter(order=order)
    invoice = services.invoice_post(invoice=invoice)
    assert invoice.status == Invoice.Status.POSTED and invoice.total_amount == FEE
    return invoice


def stripe_charges(localstripe, organization, customer) -> list:
    stripe_id = stripe_services.stripe_customer_id_find(organization=organization, customer=customer)
    return localstripe.client().v1.charges.list(params={"customer": stripe_id}).data


def events_named(organization, name) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(organization=organization, name=name))


# --- customers and payment methods -------------------------------------------------------------------------------


def test_the_stripe_customer_is_created_once(stripe_organization, customer, localstripe):
    first = stripe_services.stripe_customer_ensure(organization=stripe_organization, customer=customer)
    again = stripe_services.stripe_customer_ensure(organization=stripe_organization, customer=customer)
    assert first == again and first.startswith("cus_")
    seen = localstripe.client().v1.customers.retrieve(first)
    assert (seen.name, seen.email, seen.metadata["tally_customer_id"]) == (
        "Acme",
        "ap@acme.test",
        customer.display_id,
    )
    assert len(localstripe.client().v1.customers.list().data) == 1

    customer.name = "Acme Inc"
    customer.save()
    stripe_services.stripe_customer_sync(organization=stripe_organization, customer=customer)
    assert localstripe.client().v1.customers.retrieve(first).name == "Acme Inc"


def test_cards_are_saved_and_the_first_is_the_default(stripe_organization, customer, localstripe):
    visa = save_card(stripe_organization, customer)
    assert (visa.type, visa.card_brand, visa.card_last4, visa.card_exp_month, visa.card_exp_year) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    assert visa.is_default and visa.external_payment_method_id.startswith("pm_")
    token = localstripe.client().v1.test_helpers.confirmation_tokens.create(
        params={
            "payment_method_data": {
                "type": "card",
                "card": {"number": "5555555555554444", "exp_month": 8, "exp_year": 2031, "cvc": "123"},
            }
        }
    )
    second = save_card(stripe_organization, customer, token=token.id)
    assert second.card_last4 == "4444" and not second.is_default
    stripe_customer = localstripe.client().v1.customers.retrieve(
        stripe_services.stripe_customer_id_find(organization=stripe_organization, customer=customer)
    )
    assert stripe_customer.invoice_settings.default_payment_method == visa.external_payment_method_id

    stripe_services.payment_method_set_default(organization=stripe_organization, payment_method=second)
    visa.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default and not visa.is_default
    stripe_customer = localstripe.client().v1.customers.retrieve(stripe_customer.id)
    assert stripe_customer.invoice_settings.default_payment_method == second.external_payment_method_id

    stripe_services.payment_method_delete(organization=stripe_organization, payment_method=second)
    assert list(PaymentMethod.objects.all()) == [visa] and not PaymentMethod.objects.get().is_default
    detached = localstripe.client().v1.payment_methods.retrieve(second.external_payment_method_id)
    assert detached.customer is None


def test_a_card_declined_at_setup_is_not_saved(stripe_organization, customer):
    with pytest.raises(gateway.PaymentDeclined) as caught:
        stripe_services.payment_method_create(
            organization=stripe_organization, customer=customer, token="pm_card_visa_chargeDeclined"
        )
    assert caught.value.code == "CARD_DECLINED" and caught.value.status_code == 400
    assert not PaymentMethod.objects.exists()


def test_a_card_needing_3ds_is_saved_when_stripe_reports_the_setup_succeeded(
    stripe_organization, customer, localstripe, stripe_secret, django_capture_on_commit_callbacks
):
    client = localstripe.client()
    pm = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 1, "exp_year": 2032, "cvc": "123"},
        }
    )
    result = stripe_services.payment_method_create(
        organization=stripe_organization, customer=customer, token=pm.id
    )
    assert (
        result.setup.status == "requires_action"
        and result.setup.client_secret
        and result.payment_method is None
    )
    assert not PaymentMethod.objects.exists()

    # The customer completes 3-D Secure in the browser (Stripe.js confirms the SetupIntent again) ...
    client.v1.setup_intents.confirm(result.setup.setup_intent_id)
    # ... and Stripe reports it.
    intent = client.v1.setup_intents.retrieve(result.setup.setup_intent_id).to_dict()
    event = {
        "id": "evt_setup_1",
        "object": "event",
        "type": "setup_intent.succeeded",
        "created": 1,
        "data": {"object": intent},
    }
    deliver(stripe_organization, event, stripe_secret, django_capture_on_commit_callbacks)
    saved = PaymentMethod.objects.get()
    assert saved.external_payment_method_id == pm.id and saved.is_default and saved.card_last4 == "3155"


def test_without_stripe_payment_methods_are_refused_and_invoices_still_post(
    organization, customer, product, django_capture_on_commit_callbacks
):
    with pytest.raises(stripe_services.StripeNotConfigured) as caught:
        stripe_services.payment_method_create(
            organization=organization, customer=customer, token="pm_card_visa"
        )
    assert caught.value.status_code == 400 and caught.value.code == "STRIPE_NOT_CONFIGURED"

    invoice = posted_invoice(organization, customer, product, django_capture_on_commit_callbacks)
    assert stripe_services.invoice_charge(invoice=invoice) is None
    assert stripe_tasks.stripe_sweep() == {"events": 0, "refreshed": 0, "charged": 0}
    with pytest.raises(stripe_services.StripeNotConfigured):
        stripe_services.invoice_charge_now(invoice=invoice)
    # Paid by hand (§3.14, §6).
    payment = services.payment_create(
        organization=organization, customer=customer, amount=FEE, currency="USD", payment_type="bankTransfer"
    ).payment
    services.payment_allocate(
        organization=organization,
        payment=payment,
        allocations=[{"invoice_line_id": invoice.lines.get().display_id, "amount": FEE}],
    )
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and not InvoiceCharge.objects.exists()


# --- charging ----------------------------------------------------------------------------------------------------


def test_activated_order_to_paid_invoice(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    card = save_card(stripe_organization, customer)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)

    assert stripe_tasks.stripe_sweep() == {"events": 0, "refreshed": 0, "charged": 1}

    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (FEE, 0) and invoice.paid_at is not None
    charge = InvoiceCharge.objects.get()
    assert (charge.status, charge.attempt, charge.amount, charge.currency) == ("succeeded", 1, FEE, "USD")
    assert charge.idempotency_key == f"tally-invoice-{invoice.display_id}" and charge.payment_method == card
    payment = Payment.objects.get()
    assert charge.payment == payment
    assert (payment.amount, payment.allocated_amount, payment.payment_type, payment.status) == (
        FEE,
        FEE,
        "creditCard",
        "posted",
    )
    assert payment.invoice == invoice and payment.external_payment_id == charge.payment_intent_id
    assert [a.amount for a in PaymentAllocation.objects.all()] == [FEE]

    intent = localstripe.client().v1.payment_intents.retrieve(charge.payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", FEE, "usd")
    assert intent.metadata["tally_invoice_id"] == invoice.display_id
    assert intent.payment_method == card.external_payment_method_id
    assert len(stripe_charges(localstripe, stripe_organization, customer)) == 1

    (succeeded,) = events_named(stripe_organization, "billing-payment-succeeded")
    assert (
        succeeded.data["invoiceId"] == invoice.display_id
        and succeeded.data["paymentId"] == payment.display_id
    )
    assert events_named(stripe_organization, "billing-invoice-paid")

    # Nothing more to do, however often the sweep runs or the invoice is charged again.
    assert stripe_tasks.stripe_sweep()["charged"] == 0
    assert stripe_services.invoice_charge(invoice=invoice) == charge
    with pytest.raises(DomainError) as refused:
        stripe_services.invoice_charge_now(invoice=invoice)
    assert refused.value.code == "NOTHING_TO_CHARGE"
    assert (
        Payment.objects.count() == 1 and len(stripe_charges(localstripe, stripe_organization, customer)) == 1
    )


def test_posting_charges_the_invoice(
    stripe_organization, customer, product, django_capture_on_commit_callbacks
):
    save_card(stripe_organization, customer)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(
            stripe_organization,
            customer,
            line(product, fee(cents=FEE)),
            start=timezone.now() - timedelta(minutes=1),
            auto_post_invoices=True,
        )
    (invoice,) = Invoice.objects.filter(order=order)
    assert invoice.payment_status == Invoice.PaymentStatus.PAID
    assert Payment.objects.get(invoice=invoice).amount == FEE


def test_a_declined_charge_leaves_the_invoice_unpaid_with_the_failure_visible(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    # Stripe's 4000000000000341 saves fine and declines when charged (4000000000000002 is refused at setup).
    save_card(stripe_organization, customer, token="pm_card_chargeCustomerFail")
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)

    charge = stripe_services.invoice_charge(invoice=invoice)

    assert charge.status == InvoiceCharge.Status.FAILED
    assert charge.failure_code == "card_declined" and "declined" in charge.failure_message
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.ERROR and invoice.amount_paid == 0
    assert not Payment.objects.exists() and not PaymentAllocation.objects.exists()
    (failed,) = events_named(stripe_organization, "billing-payment-failed")
    assert failed.data["failureCode"] == "card_declined" and failed.data["invoiceId"] == invoice.display_id
    assert [c.status for c in stripe_charges(localstripe, stripe_organization, customer)] == ["failed"]

    # The same card is not tried again by the sweep ...
    assert stripe_tasks.stripe_sweep()["charged"] == 0
    assert stripe_services.invoice_charge(invoice=invoice) == charge
    assert len(stripe_charges(localstripe, stripe_organization, customer)) == 1
    # ... a new default card is.
    good = save_card(stripe_organization, customer)
    stripe_services.payment_method_set_default(organization=stripe_organization, payment_method=good)
    assert stripe_tasks.stripe_sweep()["charged"] == 1
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID
    assert [(c.attempt, c.status) for c in InvoiceCharge.objects.order_by("attempt")] == [
        (1, "failed"),
        (2, "succeeded"),
    ]
    assert InvoiceCharge.objects.get(attempt=2).idempotency_key == f"tally-invoice-{invoice.display_id}-2"
    assert (
        Payment.objects.count() == 1 and len(events_named(stripe_organization, "billing-payment-failed")) == 1
    )


def test_an_explicit_retry_charges_the_same_card_again(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    save_card(stripe_organization, customer, token="pm_card_chargeCustomerFail")
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    first = stripe_services.invoice_charge(invoice=invoice)
    again = stripe_services.invoice_charge_now(invoice=invoice)
    assert (first.attempt, again.attempt, again.status) == (1, 2, "failed")
    assert len(stripe_charges(localstripe, stripe_organization, customer)) == 2


def test_a_card_needing_authentication_is_canceled_before_another_card_is_tried(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    client = localstripe.client()
    stripe_id = stripe_services.stripe_customer_ensure(organization=stripe_organization, customer=customer)
    pm = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002760003184", "exp_month": 1, "exp_year": 2032, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(pm.id, params={"customer": stripe_id})
    PaymentMethod.objects.create(
        organization=stripe_organization, customer=customer, external_payment_method_id=pm.id, is_default=True
    )  # (saving it went through 3-D Secure)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)

    first = stripe_services.invoice_charge(invoice=invoice)
    assert first.status == InvoiceCharge.Status.REQUIRES_ACTION and first.payment_intent_id
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.ERROR

    good = save_card(stripe_organization, customer)
    stripe_services.payment_method_set_default(organization=stripe_organization, payment_method=good)
    second = stripe_services.invoice_charge(invoice=invoice)

    assert second.attempt == 2 and second.status == InvoiceCharge.Status.SUCCEEDED
    first.refresh_from_db()
    assert first.status == InvoiceCharge.Status.CANCELED
    assert client.v1.payment_intents.retrieve(first.payment_intent_id).status == "canceled"
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and Payment.objects.count() == 1


def test_a_retried_charge_reuses_its_key_and_stripe_answers_the_same_payment_intent(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    """The worst case: Stripe charged, but Tally never heard back (a crash, a timeout). The attempt stays pending;
    resending it under the same idempotency key gets Stripe's first answer, not a second charge."""
    card = save_card(stripe_organization, customer)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    claim = stripe_services._charge_claim(invoice=invoice, retry=False)
    pending = claim.charge
    assert pending.status == InvoiceCharge.Status.PENDING
    lost = gateway.charge_off_session(  # the call whose answer was lost
        secret_key=STRIPE_TEST_KEY,
        customer_id=stripe_services.stripe_customer_id_find(
            organization=stripe_organization, customer=customer
        ),
        payment_method_id=card.external_payment_method_id,
        amount=pending.amount,
        currency=pending.currency,
        idempotency_key=pending.idempotency_key,
        metadata={
            stripe_services.INVOICE_METADATA_KEY: invoice.display_id,
            stripe_services.CHARGE_METADATA_KEY: pending.idempotency_key,
        },
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=True):
        assert stripe_tasks.stripe_sweep()["refreshed"] == 1

    pending.refresh_from_db()
    assert pending.status == InvoiceCharge.Status.SUCCEEDED and pending.payment_intent_id == lost.id
    assert len(stripe_charges(localstripe, stripe_organization, customer)) == 1
    assert len(localstripe.client().v1.payment_intents.list().data) == 1
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID


def test_stripe_unreachable_leaves_the_attempt_pending_and_the_sweep_resends_it(
    stripe_organization, customer, product, localstripe, settings, django_capture_on_commit_callbacks
):
    save_card(stripe_organization, customer)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    charge = stripe_services.invoice_charge(invoice=invoice)
    assert charge.status == InvoiceCharge.Status.PENDING
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PENDING

    settings.STRIPE_API_BASE = localstripe.url
    assert stripe_tasks.stripe_sweep()["refreshed"] == 0  # too young: it may still be in flight
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=True):
        assert stripe_tasks.stripe_sweep()["refreshed"] == 1
    charge.refresh_from_db()
    assert charge.status == InvoiceCharge.Status.SUCCEEDED and charge.attempt == 1
    assert (
        Payment.objects.count() == 1 and len(stripe_charges(localstripe, stripe_organization, customer)) == 1
    )


def test_an_invoice_paid_by_hand_meanwhile_keeps_the_card_payment_unallocated_beyond_what_is_owed(
    stripe_organization, customer, product, localstripe, django_capture_on_commit_callbacks
):
    card = save_card(stripe_organization, customer)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    pending = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    manual = services.payment_create(
        organization=stripe_organization, customer=customer, amount=2_500, currency="USD", payment_type="ach"
    ).payment
    services.payment_allocate(
        organization=stripe_organization,
        payment=manual,
        allocations=[{"invoice_line_id": invoice.lines.get().display_id, "amount": 2_500}],
    )
    assert card and pending.amount == FEE

    charge = stripe_services.invoice_charge(invoice=invoice)  # resends the pending attempt for the full fee

    assert charge.status == InvoiceCharge.Status.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and invoice.amount_paid == FEE
    card_payment = charge.payment
    card_payment.refresh_from_db()
    assert (card_payment.amount, card_payment.allocated_amount, card_payment.balance) == (FEE, 10_000, 2_500)


# --- the webhook inbox -------------------------------------------------------------------------------------------


def deliver(organization, event: dict, secret: str, django_capture_on_commit_callbacks) -> bool:
    """Post `event` to the inbox as Stripe would (signed now with `secret`); processing runs on commit."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    with django_capture_on_commit_callbacks(execute=True):
        receipt = stripe_services.stripe_event_receive(
            organization=organization, payload=payload.encode(), signature_header=header
        )
    return receipt.created


def localstripe_events(localstripe, type_: str) -> list[dict]:
    return [e.to_dict() for e in localstripe.client().v1.events.list(params={"type": type_}).data]


def test_events_delivered_twice_and_out_of_order_converge_on_paid(
    stripe_organization, customer, product, localstripe, stripe_secret, django_capture_on_commit_callbacks
):
    """Attempt 1 declines, attempt 2 succeeds, and Tally hears neither answer (both attempts stay pending): only
    Stripe's events tell. The success arrives twice, then the failure of attempt 1, then a failure event for
    attempt 2's own PaymentIntent (stale): the invoice ends paid, with one Payment."""
    save_card(stripe_organization, customer, token="pm_card_chargeCustomerFail")
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    stripe_customer = stripe_services.stripe_customer_id_find(
        organization=stripe_organization, customer=customer
    )

    def charge_unheard(charge: InvoiceCharge):
        with contextlib.suppress(gateway.PaymentDeclined):
            gateway.charge_off_session(
                secret_key=STRIPE_TEST_KEY,
                customer_id=stripe_customer,
                payment_method_id=charge.external_payment_method_id,
                amount=charge.amount,
                currency=charge.currency,
                idempotency_key=charge.idempotency_key,
                metadata={
                    stripe_services.INVOICE_METADATA_KEY: invoice.display_id,
                    stripe_services.CHARGE_METADATA_KEY: charge.idempotency_key,
                },
            )

    first = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    charge_unheard(first)
    InvoiceCharge.objects.filter(pk=first.pk).update(
        status=InvoiceCharge.Status.FAILED
    )  # (as the sweep would)
    good = save_card(stripe_organization, customer)
    stripe_services.payment_method_set_default(organization=stripe_organization, payment_method=good)
    second = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    assert second.attempt == 2
    charge_unheard(second)

    (failed,) = localstripe_events(localstripe, "payment_intent.payment_failed")
    (succeeded,) = localstripe_events(localstripe, "payment_intent.succeeded")
    assert failed["data"]["object"]["metadata"]["tally_charge_key"] == first.idempotency_key

    assert deliver(stripe_organization, succeeded, stripe_secret, django_capture_on_commit_callbacks)
    assert not deliver(stripe_organization, succeeded, stripe_secret, django_capture_on_commit_callbacks)
    assert deliver(stripe_organization, failed, stripe_secret, django_capture_on_commit_callbacks)
    stale = {
        **failed,
        "id": "evt_stale_failure",
        "data": {"object": {**failed["data"]["object"], "id": succeeded["data"]["object"]["id"]}},
    }
    assert deliver(stripe_organization, stale, stripe_secret, django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and invoice.amount_paid == FEE
    assert Payment.objects.count() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.failure_code) == ("failed", "card_declined")
    assert second.status == "succeeded" and second.payment == Payment.objects.get()
    assert (
        StripeEvent.objects.count() == 3
        and not StripeEvent.objects.filter(processed_at__isnull=True).exists()
    )
    assert len(events_named(stripe_organization, "billing-payment-succeeded")) == 1


def test_a_failure_event_arriving_before_the_success_event(
    stripe_organization, customer, product, localstripe, stripe_secret, django_capture_on_commit_callbacks
):
    """The failure is processed first (invoice → error), then the success: paid, one Payment."""
    save_card(stripe_organization, customer, token="pm_card_chargeCustomerFail")
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    stripe_services.invoice_charge(invoice=invoice)  # attempt 1: declined (heard)
    good = save_card(stripe_organization, customer)
    stripe_services.payment_method_set_default(organization=stripe_organization, payment_method=good)
    second = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    gateway.charge_off_session(
        secret_key=STRIPE_TEST_KEY,
        customer_id=stripe_services.stripe_customer_id_find(
            organization=stripe_organization, customer=customer
        ),
        payment_method_id=second.external_payment_method_id,
        amount=second.amount,
        currency=second.currency,
        idempotency_key=second.idempotency_key,
        metadata={stripe_services.CHARGE_METADATA_KEY: second.idempotency_key},
    )
    (failed,) = localstripe_events(localstripe, "payment_intent.payment_failed")
    (succeeded,) = localstripe_events(localstripe, "payment_intent.succeeded")

    deliver(stripe_organization, failed, stripe_secret, django_capture_on_commit_callbacks)
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PENDING  # attempt 2 is the latest: no error shown
    deliver(stripe_organization, succeeded, stripe_secret, django_capture_on_commit_callbacks)
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and Payment.objects.count() == 1


def test_inbox_refuses_bad_signatures_and_ignores_foreign_events(
    stripe_organization, stripe_secret, django_capture_on_commit_callbacks
):
    event = {
        "id": "evt_x",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_unknown"}},
    }
    payload = json.dumps(event)
    with pytest.raises(gateway.WebhookSignatureInvalid):
        stripe_services.stripe_event_receive(
            organization=stripe_organization,
            payload=payload.encode(),
            signature_header=stripe.WebhookSignature.generate_signature_header(payload, "whsec_wrong"),
        )
    assert not StripeEvent.objects.exists()
    # A PaymentIntent Tally did not make (another integration on the same Stripe account): stored, processed,
    # nothing changes.
    assert deliver(stripe_organization, event, stripe_secret, django_capture_on_commit_callbacks)
    stored = StripeEvent.objects.get()
    assert stored.processed_at is not None and stored.error == "" and stored.payload == event


def test_an_event_that_fails_to_process_is_kept_and_retried_by_the_sweep(
    stripe_organization,
    customer,
    product,
    localstripe,
    stripe_secret,
    settings,
    django_capture_on_commit_callbacks,
):
    save_card(stripe_organization, customer)
    invoice = posted_invoice(stripe_organization, customer, product, django_capture_on_commit_callbacks)
    pending = stripe_services._charge_claim(invoice=invoice, retry=False).charge
    gateway.charge_off_session(
        secret_key=STRIPE_TEST_KEY,
        customer_id=stripe_services.stripe_customer_id_find(
            organization=stripe_organization, customer=customer
        ),
        payment_method_id=pending.external_payment_method_id,
        amount=pending.amount,
        currency=pending.currency,
        idempotency_key=pending.idempotency_key,
        metadata={stripe_services.CHARGE_METADATA_KEY: pending.idempotency_key},
    )
    (succeeded,) = localstripe_events(localstripe, "payment_intent.succeeded")
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # Stripe unreachable while the event is processed
    deliver(stripe_organization, succeeded, stripe_secret, django_capture_on_commit_callbacks)
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None and "Unavailable" in stored.error

    settings.STRIPE_API_BASE = localstripe.url
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=True):
        assert stripe_tasks.stripe_sweep()["events"] == 1
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == ""
    invoice.refresh_from_db()
    assert invoice.payment_status == Invoice.PaymentStatus.PAID and Payment.objects.count() == 1
