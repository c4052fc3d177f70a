"""Hosted checkouts (§3.7, docs/checkout.md): create, archive, a buyer's attempt, its completion, the sweep.

Completing an attempt makes (or finds) the customer, saves the card the buyer confirmed with Stripe.js as the
customer's default, creates and activates the order on the chosen plan (credits are granted by the activation),
then builds, posts and charges the first invoice. Both the browser's return and Stripe's `setup_intent.succeeded`
webhook complete the same attempt: each step runs under the checkout's and the attempt's row locks (checkout
first) and re-checks the attempt's state, so however they race there is one customer, one order, one grant, and
billing's own rule (one charge per invoice) does the rest. No transaction is held open across a call to Stripe.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.billing import stripe_services
from apps.billing.services import invoice_generate_for_order
from apps.catalog.selectors import plan_get, product_get
from apps.checkout.models import Checkout, CheckoutAttempt
from apps.checkout.selectors import (
    attempt_find_by_setup_intent,
    attempt_get_for_update,
    attempts_to_finish,
    checkout_get_for_update,
    checkout_offer,
    checkout_status,
    checkout_url,
    checkouts_past_expiry,
    offer_currencies,
)
from apps.common.exceptions import Conflict, DomainError, NotFound
from apps.customers.selectors import customer_find_by_external_id, customer_get
from apps.customers.services import customer_create
from apps.orders.services import order_create
from apps.webhooks.services import webhook_event_publish

if TYPE_CHECKING:
    from apps.accounts.models import Organization

logger = logging.getLogger(__name__)

CHECKOUT_ID_PLACEHOLDER = "{CHECKOUT_ID}"
# Open attempts older than this are left alone by the sweep (the buyer went away before confirming a card).
ABANDONED_AFTER = timedelta(days=1)


class CheckoutClosed(Conflict):
    """The link no longer takes buyers: expired, archived, or a single-use link already used."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message, code="CHECKOUT_CLOSED")
        self.reason = reason


class PaymentNotConfirmed(DomainError):
    def __init__(self, message: str = "the card has not been confirmed with Stripe yet"):
        super().__init__(message, code="PAYMENT_NOT_CONFIRMED")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def checkout_event_data(checkout: Checkout, attempt: CheckoutAttempt | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "checkoutId": checkout.display_id,
        "status": checkout_status(checkout),
        "url": checkout_url(checkout),
        "customerId": checkout.customer.display_id if checkout.customer_id else None,
        "externalCustomerId": checkout.external_customer_id,
        "expiresAt": _iso(checkout.expires_at),
        "metadata": checkout.metadata,
    }
    if attempt is not None:
        data.update(
            {
                "customerId": attempt.customer.display_id if attempt.customer_id else data["customerId"],
                "orderId": attempt.order.display_id if attempt.order_id else None,
                "productId": attempt.plan.product.display_id,
                "planId": attempt.plan.display_id,
                "currency": attempt.currency,
                "email": attempt.email,
            }
        )
    return data


def checkout_success_url(checkout: Checkout) -> str:
    return checkout.success_url.replace(CHECKOUT_ID_PLACEHOLDER, checkout.display_id)


# --- create, archive -----------------------------------------------------------------------------------------


def _clean_products(*, organization: Organization, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not products:
        raise DomainError("at least one product is required", field="products")
    cleaned, seen = [], set()
    for index, item in enumerate(products):
        product = product_get(organization=organization, product_id=item["id"])  # NotFound: 404
        if product.archived_at is not None or not product.active:
            raise DomainError(f"product {product.display_id} is not active", field=f"products[{index}].id")
        if product.pk in seen:
            raise DomainError(f"product {product.display_id} is listed twice", field=f"products[{index}].id")
        seen.add(product.pk)
        entry: dict[str, Any] = {"id": product.display_id}
        if item.get("plans"):
            plans, seen_plans = [], set()
            for position, wanted in enumerate(item["plans"]):
                where = f"products[{index}].plans[{position}].id"
                plan = plan_get(organization=organization, plan_id=wanted["id"])
                if plan.product_id != product.pk:
                    raise DomainError(
                        f"plan {plan.display_id} is not a plan of {product.display_id}", field=where
                    )
                if plan.status != "active":
                    raise DomainError(f"plan {plan.display_id} is archived", field=where)
                if plan.pk in seen_plans:
                    raise DomainError(f"plan {plan.display_id} is listed twice", field=where)
                seen_plans.add(plan.pk)
                plan_entry: dict[str, Any] = {"id": plan.display_id}
                if wanted.get("features") is not None:
                    plan_entry["features"] = list(wanted["features"])
                plans.append(plan_entry)
            entry["plans"] = plans
        cleaned.append(entry)
    return cleaned


@transaction.atomic
def checkout_create(
    *,
    organization: Organization,
    products: list[dict[str, Any]],
    success_url: str,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    currency: str | None = None,
    expires_at: datetime | None = None,
    **fields: Any,
) -> Checkout:
    """Create a checkout link: products (each optionally narrowed to some plans, with feature bullets), who buys
    (`customer_id`, or `external_customer_id` attached or created on completion, or whoever fills in the form),
    an optional currency lock and expiry. Unknown products, plans or customers are NotFound. Publishes
    billing-checkout-created."""
    if customer_id and external_customer_id:
        raise DomainError("give customerId or externalCustomerId, not both", field="customerId")
    customer = customer_get(organization=organization, customer_id=customer_id) if customer_id else None
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("must be in the future", field="expires_at")
    if CHECKOUT_ID_PLACEHOLDER.lower() in success_url.lower() and CHECKOUT_ID_PLACEHOLDER not in success_url:
        raise DomainError(f"write the placeholder as {CHECKOUT_ID_PLACEHOLDER}", field="success_url")
    checkout = Checkout(
        organization=organization,
        products=_clean_products(organization=organization, products=products),
        success_url=success_url,
        customer=customer,
        external_customer_id=external_customer_id or None,
        currency=currency.upper() if currency else None,
        expires_at=expires_at,
        **{key: value for key, value in fields.items() if value is not None},
    )
    offered = checkout_offer(checkout=checkout)
    if not offered:
        raise DomainError("the products have no active plans to offer", field="products")
    allowed = offer_currencies(offered, lock=checkout.currency)
    if checkout.currency and not any(checkout.currency in plan.currencies for plan in offered):
        priced = ", ".join(offer_currencies(offered, lock=None)) or "none"
        raise DomainError(
            f"no offered plan is priced in {checkout.currency} (they are priced in {priced})",
            field="currency",
        )
    checkout.allowed_currencies = allowed
    checkout.save()
    webhook_event_publish(
        organization=organization,
        name="billing-checkout-created",
        data=checkout_event_data(checkout),
        idempotency_key=f"billing-checkout-created:{checkout.display_id}",
    )
    return checkout


@transaction.atomic
def checkout_archive(*, checkout: Checkout) -> Checkout:
    """Archive a checkout: its page shows that it is closed and takes nothing more. Idempotent. Locks it."""
    checkout = checkout_get_for_update(checkout=checkout)
    if checkout.status != Checkout.Status.ARCHIVED:
        checkout.status = Checkout.Status.ARCHIVED
        checkout.archived_at = timezone.now()
        checkout.save(update_fields=["status", "archived_at", "updated_at"])
    return checkout


def _publish_expired(checkout: Checkout) -> None:
    webhook_event_publish(
        organization=checkout.organization,
        name="billing-checkout-expired",
        data=checkout_event_data(checkout),
        idempotency_key=f"billing-checkout-expired:{checkout.display_id}",
    )


def checkouts_expire(*, organization: Organization, now: datetime | None = None) -> int:
    """Mark active checkouts past their expiry as expired, each publishing billing-checkout-expired once."""
    now = now or timezone.now()
    count = 0
    for candidate in checkouts_past_expiry(organization=organization, now=now):
        with transaction.atomic():
            checkout = checkout_get_for_update(checkout=candidate)
            if checkout.status != Checkout.Status.ACTIVE:
                continue
            checkout.status = Checkout.Status.EXPIRED
            checkout.save(update_fields=["status", "updated_at"])
            _publish_expired(checkout)
            count += 1
    return count


# --- a buyer's attempt ---------------------------------------------------------------------------------------


def checkout_closed_reason(checkout: Checkout, *, now: datetime | None = None) -> str | None:
    """Why the link takes no buyers (archived, expired, or a used single-use link: `completed`), else None. A
    reusable link reads `completed` once someone bought through it and still takes new buyers."""
    now = now or timezone.now()
    if checkout.status == Checkout.Status.ARCHIVED:
        return Checkout.Status.ARCHIVED
    if checkout.status == Checkout.Status.EXPIRED or (
        checkout.expires_at is not None and checkout.expires_at <= now
    ):
        return Checkout.Status.EXPIRED
    if checkout.status == Checkout.Status.COMPLETED and checkout.single_use:
        return Checkout.Status.COMPLETED
    return None


def checkout_ensure_open(checkout: Checkout) -> None:
    """Raise CheckoutClosed unless the link takes buyers."""
    reason = checkout_closed_reason(checkout)
    if reason == Checkout.Status.EXPIRED:
        raise CheckoutClosed("this checkout link has expired", reason=reason)
    if reason == Checkout.Status.ARCHIVED:
        raise CheckoutClosed("this checkout link is no longer available", reason=reason)
    if reason == Checkout.Status.COMPLETED:
        raise CheckoutClosed("this checkout link has already been used", reason=reason)


def checkout_attempt_start(
    *,
    checkout: Checkout,
    client_key: str,
    plan_id: str,
    currency: str,
    name: str,
    email: str,
    phone: str = "",
    address: dict[str, Any] | None = None,
) -> CheckoutAttempt:
    """A buyer's go at the checkout: checks the link is open, the plan offered, the currency allowed and the
    details the link asks for. A free plan completes at once. A paid plan gets a Stripe SetupIntent whose client
    secret the page confirms with the card (Stripe.js); `checkout_attempt_complete` then finishes it. The same
    `client_key` (one form, submitted twice) answers the same attempt."""
    organization = checkout.organization
    existing = CheckoutAttempt.objects.filter(
        organization=organization, checkout=checkout, client_key=client_key
    ).first()
    if existing is not None:
        return _with_setup_intent(existing)
    checkout_ensure_open(checkout)
    offered = {plan.id: plan for plan in checkout_offer(checkout=checkout)}
    plan = offered.get(plan_id)
    if plan is None:
        raise DomainError("choose one of the plans offered", field="plan")
    if currency not in checkout.allowed_currencies or currency not in plan.currencies:
        raise DomainError(f"{plan.name} cannot be paid in {currency}", field="currency")
    if not name.strip():
        raise DomainError("is required", field="name")
    if "@" not in email or len(email) > 254:
        raise DomainError("enter a valid email address", field="email")
    if checkout.collect_phone and not phone.strip():
        raise DomainError("is required", field="phone")
    if (checkout.collect_address and not (address or {}).get("line1")) or (
        checkout.collect_address and not (address or {}).get("country")
    ):
        raise DomainError("enter at least the street and the country", field="address")
    free = plan.is_free(currency)
    if not free and not stripe_services.stripe_configured(organization=organization):
        raise DomainError(
            "card payments are not set up for this organization yet; please contact the seller",
            code="STRIPE_NOT_CONFIGURED",
        )
    try:
        with transaction.atomic():
            attempt = CheckoutAttempt.objects.create(
                organization=organization,
                checkout=checkout,
                client_key=client_key,
                plan=plan.plan,
                currency=currency,
                name=name.strip(),
                email=email.strip(),
                phone=phone.strip(),
                address=address if checkout.collect_address else None,
                free=free,
            )
    except IntegrityError:  # the same form, submitted twice at once
        existing = CheckoutAttempt.objects.get(
            organization=organization, checkout=checkout, client_key=client_key
        )
        return _with_setup_intent(existing)
    if free:
        return checkout_attempt_complete(attempt=attempt)
    return _with_setup_intent(attempt)


def _with_setup_intent(attempt: CheckoutAttempt) -> CheckoutAttempt:
    """A paid open attempt with its SetupIntent (made once: concurrent callers send the same idempotency key, so
    Stripe answers them all with one SetupIntent)."""
    if attempt.free or attempt.status != CheckoutAttempt.Status.OPEN or attempt.setup_intent_id:
        return attempt
    setup = stripe_services.setup_intent_start(
        organization=attempt.organization,
        metadata={
            "tally_checkout_id": attempt.checkout.display_id,
            "tally_checkout_attempt_id": attempt.display_id,
        },
        idempotency_key=f"tally-checkout-{attempt.display_id}",
    )
    CheckoutAttempt.objects.filter(pk=attempt.pk, setup_intent_id__isnull=True).update(
        setup_intent_id=setup.setup_intent_id,
        client_secret=setup.client_secret or "",
        updated_at=timezone.now(),
    )
    attempt.refresh_from_db()
    return attempt


def _fail(attempt: CheckoutAttempt, message: str) -> None:
    attempt.status = CheckoutAttempt.Status.FAILED
    attempt.failure_message = message
    attempt.save(update_fields=["status", "failure_message", "updated_at"])


def _refusal(checkout: Checkout, attempt: CheckoutAttempt) -> str | None:
    """Why this attempt may not complete now (checked under the checkout's lock), or None. An attempt begun
    before the link expired may still finish."""
    if checkout.status == Checkout.Status.ARCHIVED:
        return "this checkout link is no longer available"
    if checkout.single_use and (
        checkout.status == Checkout.Status.COMPLETED
        or CheckoutAttempt.objects.filter(checkout=checkout, status=CheckoutAttempt.Status.COMPLETED)
        .exclude(pk=attempt.pk)
        .exists()
    ):
        return "this checkout link has already been used"
    if checkout.expires_at is not None and checkout.expires_at <= attempt.created_at:
        return "this checkout link has expired"
    return None


def _customer_for(checkout: Checkout, attempt: CheckoutAttempt):
    organization = checkout.organization
    details: dict[str, Any] = {"email": attempt.email, "default_currency": attempt.currency}
    if attempt.phone:
        details["phone"] = attempt.phone
    if attempt.address:
        details["billing_address"] = attempt.address
    if checkout.customer_id:
        try:
            return customer_get(organization=organization, customer_id=checkout.customer.display_id)
        except NotFound:
            raise CheckoutClosed("this checkout's customer no longer exists", reason="customer") from None
    if checkout.external_customer_id:
        found = customer_find_by_external_id(
            organization=organization, external_id=checkout.external_customer_id
        )
        if found is not None:
            return found
        return customer_create(
            organization=organization, name=attempt.name, external_id=checkout.external_customer_id, **details
        )
    return customer_create(organization=organization, name=attempt.name, **details)


def checkout_attempt_complete(*, attempt: CheckoutAttempt) -> CheckoutAttempt:
    """Finish an attempt, once, whoever calls (the browser's return, Stripe's webhook, the sweep): see the module
    docstring. A paid attempt needs its SetupIntent succeeded at Stripe (PaymentNotConfirmed otherwise). An
    attempt the link no longer allows is marked failed and raises CheckoutClosed; nothing was charged."""
    organization = attempt.organization
    if attempt.status == CheckoutAttempt.Status.COMPLETED:
        _settle(attempt=attempt)
        return attempt
    payment_method_id = attempt.payment_method_id
    if not attempt.free and not payment_method_id:
        if not attempt.setup_intent_id:
            raise PaymentNotConfirmed()
        setup = stripe_services.setup_intent_status(
            organization=organization, setup_intent_id=attempt.setup_intent_id
        )
        if setup.status != "succeeded" or setup.payment_method is None:
            raise PaymentNotConfirmed(f"the card is not confirmed yet (Stripe says {setup.status})")
        payment_method_id = setup.payment_method.id

    # 1. The customer, made or found once per attempt.
    refusal = None
    with transaction.atomic():
        checkout = checkout_get_for_update(checkout=attempt.checkout)
        attempt = attempt_get_for_update(attempt=attempt)
        if attempt.status == CheckoutAttempt.Status.OPEN:
            refusal = _refusal(checkout, attempt)
            if refusal is not None:
                _fail(attempt, refusal)
            elif attempt.customer_id is None:
                attempt.customer = _customer_for(checkout, attempt)
                attempt.payment_method_id = payment_method_id or ""
                attempt.save(update_fields=["customer", "payment_method_id", "updated_at"])
    if refusal is not None:
        raise CheckoutClosed(refusal, reason="refused")
    if attempt.status == CheckoutAttempt.Status.FAILED:
        raise CheckoutClosed(attempt.failure_message or "this checkout attempt failed", reason="failed")
    if attempt.status == CheckoutAttempt.Status.COMPLETED:
        _settle(attempt=attempt)
        return attempt

    # 2. The card becomes the customer's default before the order exists, so its first invoice is charged to it.
    if not attempt.free:
        stripe_services.payment_method_adopt(
            organization=organization, customer=attempt.customer, payment_method_id=attempt.payment_method_id
        )

    # 3. The order, once: created active (the activation grants the plan's credits).
    with transaction.atomic():
        checkout = checkout_get_for_update(checkout=attempt.checkout)
        attempt = attempt_get_for_update(attempt=attempt)
        if attempt.status == CheckoutAttempt.Status.OPEN:
            refusal = _refusal(checkout, attempt)
            if refusal is not None:
                _fail(attempt, refusal)
            else:
                _complete(checkout, attempt)
    if refusal is not None:
        raise CheckoutClosed(refusal, reason="refused")
    _settle(attempt=attempt)
    return attempt


def _complete(checkout: Checkout, attempt: CheckoutAttempt) -> None:
    now = timezone.now()
    plan = attempt.plan
    product = plan.product
    attempt.order = order_create(
        organization=checkout.organization,
        customer_id=attempt.customer.display_id,
        name=f"{product.name} · {plan.name or plan.display_id}",
        currency=attempt.currency,
        start_date=now,
        auto_post_invoices=True,
        metadata={"checkoutId": checkout.display_id, "checkoutAttemptId": attempt.display_id},
        lines=[{"product_id": product.display_id, "plan_id": plan.display_id}],
        creation_state="active",
    )
    attempt.status = CheckoutAttempt.Status.COMPLETED
    attempt.completed_at = now
    attempt.save(update_fields=["order", "status", "completed_at", "updated_at"])
    # Completed once someone bought (what a seller checks when the buyer returns, as Paid's quickstart does); a
    # reusable link still takes new buyers, a single-use one no longer does.
    checkout.completed_at = now
    fields = ["completed_at", "updated_at"]
    if checkout.status == Checkout.Status.ACTIVE:
        checkout.status = Checkout.Status.COMPLETED
        fields.append("status")
    checkout.save(update_fields=fields)
    webhook_event_publish(
        organization=checkout.organization,
        name="billing-checkout-completed",
        data=checkout_event_data(checkout, attempt),
        idempotency_key=f"billing-checkout-completed:{attempt.display_id}",
    )


def _settle(*, attempt: CheckoutAttempt) -> None:
    """Build, post and charge the first invoice now, so the buyer lands with it paid. Every step is idempotent
    (and billing's own tasks do the same after the activation commits); a failure is left to the sweep."""
    if attempt.settled_at is not None or attempt.order_id is None:
        return
    try:
        for invoice in invoice_generate_for_order(order=attempt.order):
            if invoice.status == "posted" and invoice.amount_remaining > 0:
                stripe_services.invoice_charge(invoice=invoice)
    except DomainError:
        logger.warning("checkout: first invoice of %s not settled yet; the sweep retries", attempt.display_id)
        return
    CheckoutAttempt.objects.filter(pk=attempt.pk, settled_at__isnull=True).update(settled_at=timezone.now())


# --- Stripe's webhook, the sweep -----------------------------------------------------------------------------


def checkout_on_setup_intent_succeeded(*, organization: Organization, setup_intent_id: str, **_: Any) -> None:
    """billing's `setup_intent_succeeded`: a buyer's card was confirmed; complete the attempt if the browser has
    not (yet). Not a checkout's SetupIntent: nothing to do."""
    attempt = attempt_find_by_setup_intent(organization=organization, setup_intent_id=setup_intent_id)
    if attempt is None or attempt.status != CheckoutAttempt.Status.OPEN:
        return
    with contextlib.suppress(CheckoutClosed):  # a refusal is recorded on the attempt
        checkout_attempt_complete(attempt=attempt)


def checkout_sweep_organization(*, organization: Organization, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work: expire checkouts past their expiry, and finish attempts whose card was confirmed but
    whose browser never came back (or whose first invoice was not settled)."""
    now = now or timezone.now()
    counts = {"expired": checkouts_expire(organization=organization, now=now), "finished": 0}
    for attempt in attempts_to_finish(organization=organization, since=now - ABANDONED_AFTER):
        try:
            checkout_attempt_complete(attempt=attempt)
            counts["finished"] += 1
        except (PaymentNotConfirmed, CheckoutClosed):
            continue
        except DomainError:
            logger.warning("checkout: could not finish %s", attempt.display_id)
    return counts
