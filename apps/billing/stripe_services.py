"""Payments through Stripe (docs/billing-stripe.md): Stripe customers, saved payment methods (§3.15), charging
posted invoices off-session, and the webhook inbox.

The organization's Stripe keys are billing settings. No transaction is held open across a call to Stripe
(`gateway`): a write claims what it is about to do in one short transaction, calls Stripe, and records the answer
in another. Charging is built so that an invoice is never charged twice:

- each attempt is an `InvoiceCharge` row claimed under the invoice's row lock before Stripe is called, with the
  idempotency key `tally-invoice-<invoice id>` (`…-2`, `…-3` for later attempts); resending an attempt Stripe
  did not answer reuses its key, and Stripe answers the first result instead of charging again;
- a new attempt is made only when the last one failed for good, and only with another payment method (or when
  asked explicitly); a PaymentIntent left waiting for authentication is canceled first;
- the outcome is applied under the charge's row lock, from the PaymentIntent's status as Stripe reports it
  (fetched again for webhooks): a success records one Payment (creditCard, posted; idempotency key
  `stripe:<PaymentIntent id>`) allocated to the invoice's lines; a failure never undoes a success, whatever
  order the events arrive in.

Without Stripe keys nothing here runs: invoices are still posted and payments recorded by hand (services)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from apps.billing import gateway
from apps.billing.models import (
    BillingSettings,
    Invoice,
    InvoiceCharge,
    Payment,
    PaymentMethod,
    StripeCustomer,
    StripeEvent,
)
from apps.billing.selectors import billing_settings_get, invoice_get_for_update, invoice_line_list
from apps.billing.services import payment_allocate, payment_create
from apps.common.exceptions import DomainError, NotFound
from apps.common.hooks import Hook
from apps.webhooks.services import webhook_event_publish

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer

logger = logging.getLogger(__name__)

INVOICE_METADATA_KEY = "tally_invoice_id"
CHARGE_METADATA_KEY = "tally_charge_key"
# A charge Stripe has not answered for this long is resent (same key) by the sweep; younger ones may be in flight.
PENDING_RESEND_AFTER = timedelta(minutes=5)
# Inbox events not processed after this long are processed again by the sweep (a worker died, Stripe was down).
EVENT_RETRY_AFTER = timedelta(minutes=2)


class StripeNotConfigured(DomainError):
    """The organization has no Stripe secret key: payment methods need one (invoices and manual payments don't)."""

    def __init__(self) -> None:
        super().__init__(
            "Stripe is not configured for this organization: set the Stripe secret key in the billing settings "
            "to save payment methods and charge invoices (payments can still be recorded by hand)",
            code="STRIPE_NOT_CONFIGURED",
        )


# --- configuration ---------------------------------------------------------------------------------------------


def stripe_secret_key(*, organization: Organization) -> str | None:
    """The organization's Stripe secret key, or None when Stripe is not configured."""
    return billing_settings_get(organization=organization).stripe_secret_key or None


def stripe_configured(*, organization: Organization) -> bool:
    return stripe_secret_key(organization=organization) is not None


def _secret_key(organization: Organization) -> str:
    key = stripe_secret_key(organization=organization)
    if key is None:
        raise StripeNotConfigured()
    return key


def stripe_organization_ids() -> list[int]:
    """Organizations with a Stripe secret key (the sweep's scope)."""
    return sorted(
        BillingSettings.objects.exclude(stripe_secret_key__isnull=True)
        .exclude(stripe_secret_key="")
        .values_list("organization_id", flat=True)
    )


# --- customers -------------------------------------------------------------------------------------------------


def stripe_customer_id_find(*, organization: Organization, customer: Customer) -> str | None:
    return (
        StripeCustomer.objects.filter(organization=organization, customer=customer)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )


def stripe_customer_ensure(*, organization: Organization, customer: Customer) -> str:
    """The Stripe customer id of a Tally customer, creating the Stripe customer on first need (name, email and
    `tally_customer_id` metadata). Concurrent first needs make one Stripe customer: the create call's idempotency
    key is the customer's id, and the mapping row is unique per customer."""
    if found := stripe_customer_id_find(organization=organization, customer=customer):
        return found
    stripe_id = gateway.customer_create(
        secret_key=_secret_key(organization),
        name=customer.name,
        email=customer.email or None,
        metadata={"tally_customer_id": customer.display_id, "tally_organization_id": organization.display_id},
        idempotency_key=f"tally-customer-{customer.display_id}",
    )
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(
                organization=organization, customer=customer, stripe_customer_id=stripe_id
            )
    except IntegrityError:
        if found := stripe_customer_id_find(organization=organization, customer=customer):
            return found
        raise
    return stripe_id


def stripe_customer_sync(*, organization: Organization, customer: Customer) -> None:
    """Copy a customer's name and email to its Stripe customer, when it has one."""
    if stripe_id := stripe_customer_id_find(organization=organization, customer=customer):
        gateway.customer_update(
            secret_key=_secret_key(organization),
            customer_id=stripe_id,
            name=customer.name,
            email=customer.email,
        )


def _stripe_customer_for_update(organization: Organization, customer: Customer) -> StripeCustomer | None:
    """The customer's Stripe row, locked: the per-customer mutex for its payment methods' default flag."""
    return (
        StripeCustomer.objects.select_for_update()
        .filter(organization=organization, customer=customer)
        .first()
    )


# --- payment methods (§3.15) -----------------------------------------------------------------------------------


def payment_method_list(
    *, organization: Organization, customer: Customer | None = None
) -> QuerySet[PaymentMethod]:
    """Saved payment methods, the default first, then newest first."""
    qs = PaymentMethod.objects.filter(organization=organization).select_related("customer")
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs.order_by("-is_default", "-created_at", "-pk")


def payment_method_get(*, organization: Organization, payment_method_id: str) -> PaymentMethod:
    """By display id; another organization's id is NotFound."""
    found = (
        PaymentMethod.objects.filter(organization=organization, display_id=payment_method_id)
        .select_related("customer")
        .first()
    )
    if found is None:
        raise NotFound("Payment method", payment_method_id)
    return found


def payment_method_default(*, organization: Organization, customer: Customer) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(organization=organization, customer=customer, is_default=True).first()


@dataclass(frozen=True)
class PaymentMethodSetup:
    """`create_payment_method`'s answer: the SetupIntent, and the saved method once it succeeded."""

    customer: Customer
    setup: gateway.SetupResult
    payment_method: PaymentMethod | None


def payment_method_create(
    *,
    organization: Organization,
    customer: Customer,
    token: str,
    return_url: str | None = None,
    metadata: dict[str, str] | None = None,
) -> PaymentMethodSetup:
    """Save a card for off-session charges (§3.15): a SetupIntent confirmed with a Stripe ConfirmationToken
    (`ctoken_…`) or PaymentMethod (`pm_…`) id. On success the card is stored (brand, last4, expiry); the
    customer's first becomes its default. A card needing 3-D Secure answers `requires_action` and is stored when
    Stripe reports the SetupIntent succeeded (webhook `setup_intent.succeeded`). A declined card is a 400
    CARD_DECLINED and nothing is stored."""
    secret_key = _secret_key(organization)
    stripe_customer_id = stripe_customer_ensure(organization=organization, customer=customer)
    setup = gateway.payment_method_setup(
        secret_key=secret_key,
        customer_id=stripe_customer_id,
        token=token,
        return_url=return_url,
        metadata={**(metadata or {}), "tally_customer_id": customer.display_id},
    )
    stored = None
    if setup.status == "succeeded" and setup.payment_method is not None:
        stored = _payment_method_store(
            organization=organization, customer=customer, details=setup.payment_method
        )
        if stored.is_default:
            _default_push(organization, stripe_customer_id, stored)
    return PaymentMethodSetup(customer=customer, setup=setup, payment_method=stored)


@transaction.atomic
def _payment_method_store(
    *, organization: Organization, customer: Customer, details: gateway.PaymentMethodDetails
) -> PaymentMethod:
    """Store (or refresh) a payment method Stripe attached to the customer; default when the customer has none.
    Locks the customer's Stripe row, so two first cards cannot both become default."""
    _stripe_customer_for_update(organization, customer)
    fields = {
        "type": details.type,
        "card_brand": details.brand,
        "card_last4": details.last4,
        "card_exp_month": details.exp_month,
        "card_exp_year": details.exp_year,
    }
    existing = PaymentMethod.objects.filter(
        organization=organization, external_payment_method_id=details.id
    ).first()
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save(update_fields=[*fields, "updated_at"])
        return existing
    has_default = PaymentMethod.objects.filter(
        organization=organization, customer=customer, is_default=True
    ).exists()
    return PaymentMethod.objects.create(
        organization=organization,
        customer=customer,
        external_payment_method_id=details.id,
        is_default=not has_default,
        **fields,
    )


def _default_push(organization: Organization, stripe_customer_id: str, payment_method: PaymentMethod) -> None:
    """Mirror the default at Stripe (`invoice_settings.default_payment_method`). Tally charges the method it
    holds as default, so a failure here is logged, not raised."""
    try:
        gateway.customer_default_payment_method_set(
            secret_key=_secret_key(organization),
            customer_id=stripe_customer_id,
            payment_method_id=payment_method.external_payment_method_id,
        )
    except gateway.GatewayError:
        logger.warning("stripe: could not mirror default payment method %s", payment_method.display_id)


def payment_method_set_default(*, organization: Organization, payment_method: PaymentMethod) -> PaymentMethod:
    """Make a payment method its customer's default (at Stripe first, then here; invoices are charged from the
    default). Locks the customer's Stripe row."""
    stripe_customer_id = stripe_customer_ensure(organization=organization, customer=payment_method.customer)
    gateway.customer_default_payment_method_set(
        secret_key=_secret_key(organization),
        customer_id=stripe_customer_id,
        payment_method_id=payment_method.external_payment_method_id,
    )
    with transaction.atomic():
        _stripe_customer_for_update(organization, payment_method.customer)
        PaymentMethod.objects.filter(
            organization=organization, customer_id=payment_method.customer_id, is_default=True
        ).exclude(pk=payment_method.pk).update(is_default=False, updated_at=timezone.now())
        PaymentMethod.objects.filter(pk=payment_method.pk).update(is_default=True, updated_at=timezone.now())
    payment_method.refresh_from_db()
    return payment_method


def payment_method_delete(*, organization: Organization, payment_method: PaymentMethod) -> None:
    """Detach the payment method at Stripe and forget it. Deleting the default leaves the customer without one
    (no other card is promoted: invoices wait until a default is set). Charges made with it keep their record."""
    try:
        gateway.payment_method_detach(
            secret_key=_secret_key(organization), payment_method_id=payment_method.external_payment_method_id
        )
    except gateway.GatewayRejected as error:
        if error.stripe_code not in ("resource_missing", "payment_method_unexpected_state"):
            raise  # anything but "already gone / not attached" keeps the row
    with transaction.atomic():
        _stripe_customer_for_update(organization, payment_method.customer)
        PaymentMethod.objects.filter(organization=organization, pk=payment_method.pk).delete()


# --- charging invoices -----------------------------------------------------------------------------------------


def invoice_charges(*, invoice: Invoice) -> QuerySet[InvoiceCharge]:
    """The invoice's charge attempts, newest first."""
    return InvoiceCharge.objects.filter(organization_id=invoice.organization_id, invoice=invoice).order_by(
        "-attempt"
    )


def _charge_key(invoice: Invoice, attempt: int) -> str:
    return f"tally-invoice-{invoice.display_id}" + ("" if attempt == 1 else f"-{attempt}")


def _collectible(invoice: Invoice) -> bool:
    return (
        invoice.status == Invoice.Status.POSTED
        and invoice.amount_remaining > 0
        and invoice.payment_status != Invoice.PaymentStatus.PAID
    )


@dataclass(frozen=True)
class _Claim:
    charge: InvoiceCharge | None  # the attempt to send to Stripe (new, or pending and resent)
    stale: InvoiceCharge | None = None  # an attempt to cancel at Stripe before a new one may be made
    done: InvoiceCharge | None = None  # nothing to send: the attempt that stands (processing, succeeded …)


@transaction.atomic
def _charge_claim(*, invoice: Invoice, retry: bool) -> _Claim:
    """Decide, under the invoice's row lock, whether to send a charge: resend a pending attempt (same key), make
    a new attempt, or nothing. A new attempt follows a failed one only with another default payment method, or
    when `retry` is asked, and only once the failed one's PaymentIntent is canceled (the customer could still
    complete it on-session, which would charge twice)."""
    invoice = invoice_get_for_update(invoice=invoice)
    last = invoice_charges(invoice=invoice).first()
    if not _collectible(invoice):
        return _Claim(charge=None, done=last)
    if last is not None:
        if last.status == InvoiceCharge.Status.PENDING:
            return _Claim(charge=last)
        if last.status in (InvoiceCharge.Status.PROCESSING, InvoiceCharge.Status.SUCCEEDED):
            return _Claim(charge=None, done=last)
    method = payment_method_default(organization=invoice.organization, customer=invoice.customer)
    if method is None:
        return _Claim(charge=None, done=last)
    if (
        last is not None
        and not retry
        and last.external_payment_method_id == method.external_payment_method_id
    ):
        return _Claim(charge=None, done=last)  # that card already failed for this invoice
    if last is not None and last.status != InvoiceCharge.Status.CANCELED and last.payment_intent_id:
        return _Claim(charge=None, stale=last)
    attempt = (last.attempt + 1) if last is not None else 1
    charge = InvoiceCharge.objects.create(
        organization=invoice.organization,
        invoice=invoice,
        attempt=attempt,
        idempotency_key=_charge_key(invoice, attempt),
        payment_method=method,
        external_payment_method_id=method.external_payment_method_id,
        amount=invoice.amount_remaining,
        currency=invoice.currency,
    )
    if invoice.payment_status == Invoice.PaymentStatus.ERROR:  # collecting again
        invoice.payment_status = (
            Invoice.PaymentStatus.PARTIALLY_PAID if invoice.amount_paid > 0 else Invoice.PaymentStatus.PENDING
        )
        invoice.save(update_fields=["payment_status", "updated_at"])
    return _Claim(charge=charge)


def invoice_charge(*, invoice: Invoice, retry: bool = False) -> InvoiceCharge | None:
    """Charge what a posted invoice still owes from its customer's default payment method, off-session, at most
    once: see the module docstring. Returns the attempt that stands (None when there is nothing to charge: Stripe
    not configured, no default method, nothing owed). Declines and cards needing authentication are recorded on
    the attempt (and the invoice's paymentStatus becomes `error`), not raised; a Stripe outage leaves the attempt
    pending for the sweep to resend."""
    organization = invoice.organization
    secret_key = stripe_secret_key(organization=organization)
    if secret_key is None:
        return None
    claim = _charge_claim(invoice=invoice, retry=retry)
    if claim.stale is not None:
        try:
            _charge_cancel_stale(charge=claim.stale, secret_key=secret_key)
        except gateway.GatewayUnavailable:
            logger.warning("stripe: could not cancel %s; no new attempt yet", claim.stale.idempotency_key)
            return claim.stale
        claim = _charge_claim(invoice=invoice, retry=retry)
        if claim.stale is not None:  # still not canceled (Stripe refused): leave it be
            return claim.stale
    charge = claim.charge
    if charge is None:
        return claim.done
    try:
        stripe_customer_id = stripe_customer_ensure(organization=organization, customer=invoice.customer)
        result = gateway.charge_off_session(
            secret_key=secret_key,
            customer_id=stripe_customer_id,
            payment_method_id=charge.external_payment_method_id,
            amount=charge.amount,
            currency=charge.currency,
            idempotency_key=charge.idempotency_key,
            metadata={INVOICE_METADATA_KEY: invoice.display_id, CHARGE_METADATA_KEY: charge.idempotency_key},
        )
    except gateway.PaymentDeclined as error:
        return _charge_failed(
            charge=charge,
            status=InvoiceCharge.Status.FAILED,
            payment_intent_id=error.payment_intent_id,
            code=error.decline_code or error.stripe_code or "card_declined",
            message=error.message,
        )
    except gateway.PaymentRequiresAction as error:
        return _charge_failed(
            charge=charge,
            status=InvoiceCharge.Status.REQUIRES_ACTION,
            payment_intent_id=error.payment_intent_id,
            code=error.stripe_code or "authentication_required",
            message=error.message,
        )
    except gateway.GatewayUnavailable:
        logger.warning("stripe: charge %s not answered; the sweep resends it", charge.idempotency_key)
        return charge
    except gateway.GatewayError as error:  # refused as made (bad key, unknown card …): this attempt is over
        return _charge_failed(
            charge=charge,
            status=InvoiceCharge.Status.FAILED,
            payment_intent_id=None,
            code=error.stripe_code or error.code or "stripe_error",
            message=error.message,
        )
    return _charge_settle(charge=charge, intent=result)


def _charge_cancel_stale(*, charge: InvoiceCharge, secret_key: str) -> None:
    """Cancel an attempt's PaymentIntent that waits for authentication, so a new attempt cannot double-charge.
    If the customer completed it meanwhile, the success is applied instead."""
    if not charge.payment_intent_id:
        _charge_mark(charge=charge, status=InvoiceCharge.Status.CANCELED)
        return
    try:
        intent = gateway.payment_intent_cancel(
            secret_key=secret_key, payment_intent_id=charge.payment_intent_id
        )
    except gateway.GatewayRejected:  # it can no longer be canceled: see what it became
        intent = gateway.payment_intent_get(secret_key=secret_key, payment_intent_id=charge.payment_intent_id)
    _charge_settle(charge=charge, intent=intent)


@transaction.atomic
def _charge_mark(*, charge: InvoiceCharge, status: str) -> InvoiceCharge:
    charge = InvoiceCharge.objects.select_for_update().get(pk=charge.pk)
    if charge.status != InvoiceCharge.Status.SUCCEEDED:
        charge.status = status
        charge.save(update_fields=["status", "updated_at"])
    return charge


def _charge_settle(*, charge: InvoiceCharge, intent: gateway.PaymentIntentResult) -> InvoiceCharge:
    """Apply a PaymentIntent's status (as Stripe reports it now) to its attempt."""
    if intent.status == "succeeded":
        return _charge_succeeded(charge=charge, intent=intent)
    if intent.status in ("processing", "requires_capture"):
        return _charge_progress(charge=charge, intent=intent)
    if intent.status in ("requires_action", "requires_confirmation"):
        return _charge_failed(
            charge=charge,
            status=InvoiceCharge.Status.REQUIRES_ACTION,
            payment_intent_id=intent.id,
            code=intent.failure_code or "authentication_required",
            message=intent.failure_message or "The card requires authentication by the customer",
        )
    return _charge_failed(
        charge=charge,
        status=InvoiceCharge.Status.CANCELED if intent.status == "canceled" else InvoiceCharge.Status.FAILED,
        payment_intent_id=intent.id,
        code=intent.failure_code or ("canceled" if intent.status == "canceled" else "payment_failed"),
        message=intent.failure_message or f"The payment {intent.status.replace('_', ' ')}",
    )


@transaction.atomic
def _charge_progress(*, charge: InvoiceCharge, intent: gateway.PaymentIntentResult) -> InvoiceCharge:
    charge = InvoiceCharge.objects.select_for_update().get(pk=charge.pk)
    if charge.status in (InvoiceCharge.Status.PENDING, InvoiceCharge.Status.REQUIRES_ACTION):
        charge.status = InvoiceCharge.Status.PROCESSING
        charge.payment_intent_id = charge.payment_intent_id or intent.id
        charge.save(update_fields=["status", "payment_intent_id", "updated_at"])
    return charge


@transaction.atomic
def _charge_succeeded(*, charge: InvoiceCharge, intent: gateway.PaymentIntentResult) -> InvoiceCharge:
    """Record the money: one Payment per PaymentIntent (creditCard, posted), allocated to the invoice's lines up
    to what it still owes (the rest stays on the payment as unallocated balance), and billing-payment-succeeded.
    Idempotent under the charge's row lock; then the payment, then the invoice are locked (billing's order)."""
    charge = (
        InvoiceCharge.objects.select_for_update()
        .select_related("invoice", "invoice__customer")
        .get(pk=charge.pk)
    )
    if charge.payment_id is not None:
        return charge
    invoice = charge.invoice
    organization = invoice.organization
    result = payment_create(
        organization=organization,
        customer=invoice.customer,
        amount=intent.amount,
        currency=intent.currency,
        payment_type=Payment.Type.CREDIT_CARD,
        status=Payment.Status.POSTED,
        metadata={"stripePaymentIntentId": intent.id, "invoiceId": invoice.display_id},
        idempotency_key=f"stripe:{intent.id}",
    )
    payment = result.payment
    # payment_create records manual payments; a collected one also names its invoice and the PaymentIntent.
    Payment.objects.filter(pk=payment.pk).update(invoice=invoice, external_payment_id=intent.id)
    allocations = _allocation_plan(invoice=invoice, amount=intent.amount)
    if allocations:
        payment_allocate(
            organization=organization,
            payment=payment,
            allocations=allocations,
            request_key=f"stripe:{intent.id}",
        )
    charge.status = InvoiceCharge.Status.SUCCEEDED
    charge.payment_intent_id = intent.id
    charge.payment = payment
    charge.failure_code, charge.failure_message = "", ""
    charge.save()
    webhook_event_publish(
        organization=organization,
        name="billing-payment-succeeded",
        data=_payment_event_data(charge=charge, payment_id=payment.display_id),
        idempotency_key=f"billing-payment-succeeded:{intent.id}",
    )
    return charge


def _allocation_plan(*, invoice: Invoice, amount: int) -> list[dict[str, Any]]:
    """`amount` spread over the lines of a posted invoice in order, each up to what it still owes."""
    locked = invoice_get_for_update(invoice=invoice)
    if locked.status != Invoice.Status.POSTED:
        logger.warning(
            "stripe: invoice %s is %s; payment left unallocated", invoice.display_id, locked.status
        )
        return []
    left = min(amount, locked.amount_remaining)
    plan = []
    for line in invoice_line_list(invoice=locked):
        if left <= 0:
            break
        owed = line.total_amount - line.amount_allocated
        if owed > 0:
            take = min(owed, left)
            plan.append({"invoice_line_id": line.display_id, "amount": take, "currency": locked.currency})
            left -= take
    return plan


@transaction.atomic
def _charge_failed(
    *, charge: InvoiceCharge, status: str, payment_intent_id: str | None, code: str, message: str
) -> InvoiceCharge:
    """Record a failed attempt (declined, needs authentication, canceled): never over a success. The invoice's
    paymentStatus becomes `error` while this is its latest attempt and it is not paid; billing-payment-failed
    is sent once per attempt. Locks the charge, then the invoice."""
    charge = InvoiceCharge.objects.select_for_update().select_related("invoice").get(pk=charge.pk)
    if charge.status == InvoiceCharge.Status.SUCCEEDED:
        return charge  # a stale failure: the money came in
    first_failure = charge.status not in (
        InvoiceCharge.Status.FAILED,
        InvoiceCharge.Status.REQUIRES_ACTION,
        InvoiceCharge.Status.CANCELED,
    )
    charge.status = status
    charge.payment_intent_id = charge.payment_intent_id or payment_intent_id
    if first_failure or status != InvoiceCharge.Status.CANCELED:  # a cancel after a decline keeps the reason
        charge.failure_code = (code or "")[:64]
        charge.failure_message = message or ""
    charge.save()
    invoice = invoice_get_for_update(invoice=charge.invoice)
    latest = invoice_charges(invoice=invoice).values_list("pk", flat=True).first()
    if (
        latest == charge.pk
        and invoice.status == Invoice.Status.POSTED
        and invoice.payment_status in (Invoice.PaymentStatus.PENDING, Invoice.PaymentStatus.PARTIALLY_PAID)
    ):
        invoice.payment_status = Invoice.PaymentStatus.ERROR
        invoice.save(update_fields=["payment_status", "updated_at"])
    if first_failure and status != InvoiceCharge.Status.CANCELED:
        webhook_event_publish(
            organization=invoice.organization,
            name="billing-payment-failed",
            data=_payment_event_data(charge=charge, payment_id=None),
            idempotency_key=f"billing-payment-failed:{charge.idempotency_key}",
        )
    return charge


def _payment_event_data(*, charge: InvoiceCharge, payment_id: str | None) -> dict[str, Any]:
    invoice = charge.invoice
    return {
        "invoiceId": invoice.display_id,
        "customerId": invoice.customer.display_id,
        "paymentId": payment_id,
        "amount": charge.amount,
        "currency": charge.currency,
        "status": charge.status,
        "attempt": charge.attempt,
        "paymentIntentId": charge.payment_intent_id,
        "failureCode": charge.failure_code or None,
        "failureMessage": charge.failure_message or None,
    }


def invoice_charge_now(*, invoice: Invoice) -> InvoiceCharge:
    """Charge a posted invoice now, on request (API, dashboard): like the automatic charge, but a new attempt
    may follow a failed one with the same card. Refuses (400) what cannot be charged: Stripe not configured, an
    invoice not posted or owing nothing, a customer without a default payment method."""
    if not stripe_configured(organization=invoice.organization):
        raise StripeNotConfigured()
    if invoice.status != Invoice.Status.POSTED:
        raise DomainError(
            f"invoice {invoice.display_id} is {invoice.status}; only posted invoices are charged",
            code="INVOICE_NOT_POSTED",
        )
    if invoice.amount_remaining <= 0 or invoice.payment_status == Invoice.PaymentStatus.PAID:
        raise DomainError(f"invoice {invoice.display_id} owes nothing", code="NOTHING_TO_CHARGE")
    if payment_method_default(organization=invoice.organization, customer=invoice.customer) is None:
        raise DomainError(
            f"customer {invoice.customer.display_id} has no default payment method",
            code="NO_DEFAULT_PAYMENT_METHOD",
        )
    charge = invoice_charge(invoice=invoice, retry=True)
    if charge is None:  # pragma: no cover - the checks above leave nothing that answers None
        raise DomainError(f"invoice {invoice.display_id} cannot be charged", code="NOTHING_TO_CHARGE")
    return charge


def invoices_to_charge(*, organization: Organization) -> QuerySet[Invoice]:
    """Posted invoices that still owe money and whose customer has a default payment method."""
    with_default = PaymentMethod.objects.filter(organization=organization, is_default=True).values(
        "customer_id"
    )
    return (
        Invoice.objects.filter(
            organization=organization,
            status=Invoice.Status.POSTED,
            payment_status__in=[
                Invoice.PaymentStatus.PENDING,
                Invoice.PaymentStatus.PARTIALLY_PAID,
                Invoice.PaymentStatus.ERROR,
            ],
            customer_id__in=with_default,
        )
        .select_related("customer", "organization")
        .order_by("pk")
    )


# --- the webhook inbox -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventReceipt:
    event: StripeEvent
    created: bool


def stripe_event_receive(
    *, organization: Organization, payload: bytes, signature_header: str | None
) -> EventReceipt:
    """Verify a Stripe webhook with the organization's webhook secret and store it in the inbox once per event
    id (a redelivery is a no-op); processing is enqueued after commit. A bad signature raises
    `gateway.WebhookSignatureInvalid` (400) and stores nothing."""
    secret = billing_settings_get(organization=organization).stripe_webhook_secret or ""
    event = gateway.webhook_event_construct(
        payload=payload, signature_header=signature_header, webhook_secret=secret
    )
    existing = StripeEvent.objects.filter(organization=organization, event_id=event.id).first()
    if existing is not None:
        return EventReceipt(event=existing, created=False)
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                organization=organization,
                event_id=event.id,
                type=event.type,
                payload=event.payload,
                received_at=timezone.now(),
            )
            pk = stored.pk
            transaction.on_commit(
                lambda: async_task("apps.billing.stripe_tasks.process_stripe_event", pk, group="billing")
            )
    except IntegrityError:  # the same event delivered twice at once
        existing = StripeEvent.objects.filter(organization=organization, event_id=event.id).first()
        if existing is None:
            raise
        return EventReceipt(event=existing, created=False)
    return EventReceipt(event=stored, created=True)


def stripe_event_process(*, event_pk: int) -> StripeEvent:
    """Apply one inbox event, once: what it means is read from Stripe's current state (the PaymentIntent
    fetched again), never from the event's snapshot alone, so duplicates and any arrival order converge. A
    failure (Stripe unreachable) is kept on the event, which the sweep processes again."""
    event = StripeEvent.objects.select_related("organization").get(pk=event_pk)
    if event.processed_at is not None:
        return event
    try:
        _event_apply(event)
    except Exception as error:  # kept for the sweep; one event must not stop the worker
        logger.exception("stripe: event %s failed", event.event_id)
        StripeEvent.objects.filter(pk=event.pk).update(error=f"{type(error).__name__}: {error}"[:2000])
        event.refresh_from_db()
        return event
    StripeEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now(), error=""
    )
    event.refresh_from_db()
    return event


def _event_apply(event: StripeEvent) -> None:
    organization = event.organization
    data = (event.payload.get("data") or {}).get("object") or {}
    if event.type.startswith("payment_intent."):
        charge = _charge_for_intent(organization, data)
        if charge is None:
            return  # not a charge Tally made
        secret_key = _secret_key(organization)
        intent = gateway.payment_intent_get(secret_key=secret_key, payment_intent_id=data["id"])
        with transaction.atomic():
            locked = InvoiceCharge.objects.select_for_update().get(pk=charge.pk)
            if not locked.payment_intent_id:
                locked.payment_intent_id = intent.id
                locked.save(update_fields=["payment_intent_id", "updated_at"])
        _charge_settle(charge=charge, intent=intent)
    elif event.type == "setup_intent.succeeded":
        _setup_intent_succeeded(organization, data)
        setup_intent_succeeded.send(
            organization=organization, setup_intent_id=data.get("id"), metadata=data.get("metadata") or {}
        )


def _charge_for_intent(organization: Organization, intent: dict[str, Any]) -> InvoiceCharge | None:
    """The attempt a PaymentIntent belongs to: by its id, else by the charge key in its metadata (a webhook can
    arrive before the charge call has answered)."""
    intent_id = intent.get("id")
    if not intent_id:
        return None
    charges = InvoiceCharge.objects.filter(organization=organization)
    if found := charges.filter(payment_intent_id=intent_id).first():
        return found
    key = (intent.get("metadata") or {}).get(CHARGE_METADATA_KEY)
    return charges.filter(idempotency_key=key).first() if key else None


def _setup_intent_succeeded(organization: Organization, intent: dict[str, Any]) -> None:
    """A SetupIntent that needed 3-D Secure succeeded: store its payment method for the customer it names."""
    stripe_customer_id = intent.get("customer")
    stripe_customer_id = (
        stripe_customer_id.get("id") if isinstance(stripe_customer_id, dict) else stripe_customer_id
    )
    mapping = (
        StripeCustomer.objects.filter(organization=organization, stripe_customer_id=stripe_customer_id)
        .select_related("customer")
        .first()
    )
    if mapping is None or not intent.get("id"):
        return
    setup = gateway.setup_intent_get(secret_key=_secret_key(organization), setup_intent_id=intent["id"])
    if setup.status != "succeeded" or setup.payment_method is None:
        return
    stored = _payment_method_store(
        organization=organization, customer=mapping.customer, details=setup.payment_method
    )
    if stored.is_default:
        _default_push(organization, stripe_customer_id, stored)


def stripe_events_unprocessed(*, organization: Organization, older_than: datetime) -> list[int]:
    return list(
        StripeEvent.objects.filter(
            organization=organization, processed_at__isnull=True, received_at__lt=older_than
        ).values_list("pk", flat=True)
    )


def charges_pending(*, organization: Organization, older_than: datetime) -> list[InvoiceCharge]:
    """Attempts Stripe never answered (or is still processing) for longer than the cut-off."""
    return list(
        InvoiceCharge.objects.filter(
            organization=organization,
            status__in=[InvoiceCharge.Status.PENDING, InvoiceCharge.Status.PROCESSING],
            updated_at__lt=older_than,
        )
        .select_related("invoice", "invoice__customer", "invoice__organization")
        .order_by("pk")
    )


def charge_refresh(*, charge: InvoiceCharge) -> InvoiceCharge:
    """Bring a pending or processing attempt up to date: a processing one from its PaymentIntent, a pending one by
    resending it (same key: Stripe answers the first result, or makes the charge the first call never made)."""
    organization = charge.organization
    if charge.status == InvoiceCharge.Status.PROCESSING and charge.payment_intent_id:
        intent = gateway.payment_intent_get(
            secret_key=_secret_key(organization), payment_intent_id=charge.payment_intent_id
        )
        return _charge_settle(charge=charge, intent=intent)
    if charge.status == InvoiceCharge.Status.PENDING:
        return invoice_charge(invoice=charge.invoice) or charge
    return charge


def stripe_sweep_organization(*, organization: Organization, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work for one organization: process inbox events left behind, settle old pending and
    processing attempts, and charge posted invoices that owe money and have a default payment method."""
    now = now or timezone.now()
    counts = {"events": 0, "refreshed": 0, "charged": 0}
    for pk in stripe_events_unprocessed(organization=organization, older_than=now - EVENT_RETRY_AFTER):
        stripe_event_process(event_pk=pk)
        counts["events"] += 1
    for charge in charges_pending(organization=organization, older_than=now - PENDING_RESEND_AFTER):
        try:
            charge_refresh(charge=charge)
            counts["refreshed"] += 1
        except gateway.GatewayError:
            logger.warning("stripe: could not refresh charge %s", charge.idempotency_key)
    for invoice in invoices_to_charge(organization=organization):
        last = invoice_charges(invoice=invoice).first()
        if last is not None and last.status == InvoiceCharge.Status.PENDING:
            continue  # young pending attempts may still be in flight
        try:
            outcome = invoice_charge(invoice=invoice)
        except gateway.GatewayError:
            logger.warning("stripe: could not charge invoice %s", invoice.display_id)
            continue
        if outcome is not None and (last is None or outcome.pk != last.pk):
            counts["charged"] += 1
    return counts


# --- on-session card setup (hosted checkout) -------------------------------------------------------------------

# Sent by the webhook inbox for every `setup_intent.succeeded` (`organization=`, `setup_intent_id=`, `metadata=`),
# after billing's own handling; the checkout app connects to complete a checkout whose browser never came back.
setup_intent_succeeded = Hook("billing.setup_intent_succeeded")


def stripe_publishable_key(*, organization: Organization) -> str | None:
    """The organization's Stripe publishable key (for Stripe.js in a buyer's browser), or None."""
    return billing_settings_get(organization=organization).stripe_publishable_key or None


def setup_intent_start(
    *, organization: Organization, metadata: dict[str, str], idempotency_key: str
) -> gateway.SetupResult:
    """A SetupIntent for a card a buyer enters on-session (Stripe.js confirms it with its client secret); no
    customer yet. Raises StripeNotConfigured without keys."""
    return gateway.setup_intent_create(
        secret_key=_secret_key(organization), metadata=metadata, idempotency_key=idempotency_key
    )


def setup_intent_status(*, organization: Organization, setup_intent_id: str) -> gateway.SetupResult:
    """A SetupIntent as Stripe sees it now (status, payment method)."""
    return gateway.setup_intent_get(secret_key=_secret_key(organization), setup_intent_id=setup_intent_id)


def payment_method_adopt(
    *, organization: Organization, customer: Customer, payment_method_id: str
) -> PaymentMethod:
    """Make a card a buyer just confirmed on-session (SetupIntent without customer) the customer's saved default:
    attach it to the customer's Stripe customer, store it, and make it the default at Stripe and here (invoices
    are charged from the default). Idempotent: adopting the same card again changes nothing."""
    stripe_customer_id = stripe_customer_ensure(organization=organization, customer=customer)
    details = gateway.payment_method_attach(
        secret_key=_secret_key(organization),
        payment_method_id=payment_method_id,
        customer_id=stripe_customer_id,
    )
    stored = _payment_method_store(organization=organization, customer=customer, details=details)
    if not stored.is_default:
        return payment_method_set_default(organization=organization, payment_method=stored)
    _default_push(organization, stripe_customer_id, stored)
    return stored
