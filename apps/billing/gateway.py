"""Stripe, through the official `stripe` SDK: thin functions that know Stripe and nothing of Tally's models.

Every function takes the organization's secret key; `settings.STRIPE_API_BASE` (unset = Stripe itself) says where
the calls go, so development and tests run against localstripe. Stripe's errors come back as a few Tally
exceptions (`PaymentDeclined`, `PaymentRequiresAction`, `GatewayUnavailable`, `GatewayRejected`,
`GatewayAuthenticationFailed`), each a `DomainError`, so an API view that lets one through answers in the error
envelope. No function here touches the database: callers hold no transaction open across these HTTP calls.

Amounts are integer minor units and currencies ISO-4217 codes, as Stripe takes them (lower-cased on the way out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from apps.common.exceptions import DomainError

# Retries of network failures and 5xx answers: the SDK sends an Idempotency-Key with each POST it retries.
MAX_NETWORK_RETRIES = 2
WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's own default: a signature older than this is refused (replays)


# --- errors ----------------------------------------------------------------------------------------------------


class GatewayError(DomainError):
    """Stripe could not do what was asked; `stripe_code` is Stripe's error code when it gave one."""

    status_code = 502

    def __init__(self, message: str, *, code: str, stripe_code: str | None = None):
        super().__init__(message, code=code)
        self.stripe_code = stripe_code


class PaymentDeclined(GatewayError):
    """The card was declined (`decline_code` e.g. insufficient_funds); `payment_intent_id` when Stripe made one."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        stripe_code: str | None = None,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
    ):
        super().__init__(message, code="CARD_DECLINED", stripe_code=stripe_code)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class PaymentRequiresAction(GatewayError):
    """The customer must authenticate (3-D Secure) before the payment can go through: off-session, it cannot."""

    status_code = 400

    def __init__(self, message: str, *, payment_intent_id: str | None = None, stripe_code: str | None = None):
        super().__init__(message, code="REQUIRES_ACTION", stripe_code=stripe_code)
        self.payment_intent_id = payment_intent_id


class GatewayUnavailable(GatewayError):
    """Stripe could not be reached, timed out, rate-limited us or failed on its side: try again later."""

    def __init__(self, message: str, *, stripe_code: str | None = None):
        super().__init__(message, code="STRIPE_UNAVAILABLE", stripe_code=stripe_code)


class GatewayRejected(GatewayError):
    """Stripe refused the request as made (an unknown payment method, a bad parameter, an idempotency clash)."""

    status_code = 400

    def __init__(self, message: str, *, stripe_code: str | None = None):
        super().__init__(message, code="STRIPE_REQUEST_REJECTED", stripe_code=stripe_code)


class GatewayAuthenticationFailed(GatewayError):
    """Stripe refused the organization's secret key (wrong, revoked, or lacking a permission)."""

    status_code = 400

    def __init__(self, message: str, *, stripe_code: str | None = None):
        super().__init__(message, code="STRIPE_AUTHENTICATION_FAILED", stripe_code=stripe_code)


class WebhookSignatureInvalid(DomainError):
    """A webhook whose `Stripe-Signature` does not match the secret (or is stale, or missing)."""

    def __init__(self, message: str):
        super().__init__(message, code="INVALID_SIGNATURE")


def _translate(error: stripe.StripeError) -> GatewayError:
    message = error.user_message or str(error) or "Stripe refused the request"
    body = (error.json_body or {}).get("error") or {}
    code = (
        getattr(error, "code", None) or body.get("code") or body.get("type")
    )  # idempotency_error has no code
    if isinstance(error, stripe.CardError):
        payment_intent = body.get("payment_intent") or {}
        payment_intent_id = payment_intent.get("id") if isinstance(payment_intent, dict) else None
        if code == "authentication_required":
            return PaymentRequiresAction(message, payment_intent_id=payment_intent_id, stripe_code=code)
        decline_code = body.get("decline_code")
        return PaymentDeclined(
            message, stripe_code=code, decline_code=decline_code, payment_intent_id=payment_intent_id
        )
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayAuthenticationFailed(f"Stripe refused the secret key: {message}", stripe_code=code)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or error.http_status == 409:
        # 409: a concurrent request with the same idempotency key is still running at Stripe: ask again later.
        return GatewayUnavailable(f"Stripe is unavailable: {message}", stripe_code=code)
    if isinstance(error, stripe.InvalidRequestError | stripe.IdempotencyError):
        if (error.http_status or 0) >= 500:
            return GatewayUnavailable(f"Stripe failed: {message}", stripe_code=code)
        return GatewayRejected(f"Stripe refused the request: {message}", stripe_code=code)
    return GatewayUnavailable(f"Stripe failed: {message}", stripe_code=code)  # APIError: 5xx on Stripe's side


# --- results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentMethodDetails:
    id: str
    type: str
    customer_id: str | None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class SetupResult:
    """A SetupIntent after confirmation: `status` succeeded, requires_action (send `client_secret` to the
    customer's browser) or processing; `payment_method` is known once Stripe has one."""

    setup_intent_id: str
    status: str
    client_secret: str | None
    payment_method: PaymentMethodDetails | None


@dataclass(frozen=True)
class PaymentIntentResult:
    """A PaymentIntent as Stripe sees it now. `status`: succeeded, processing, requires_action,
    requires_payment_method (failed, may be retried), requires_confirmation, requires_capture, canceled."""

    id: str
    status: str
    amount: int
    currency: str
    customer_id: str | None
    payment_method_id: str | None
    charge_id: str | None
    failure_code: str | None
    failure_message: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    replayed: bool = False  # answered from Stripe's idempotency cache (a retry of a request already made)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event: its id, type, creation time (unix seconds), the object it carries, and the
    parsed payload as sent (stored as is in the inbox)."""

    id: str
    type: str
    created: int
    object: dict[str, Any]
    payload: dict[str, Any]


# --- the client ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    base_addresses = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        secret_key, base_addresses=base_addresses, max_network_retries=MAX_NETWORK_RETRIES
    )


def client(secret_key: str) -> stripe.StripeClient:
    """The SDK client for one organization's key, aimed at `settings.STRIPE_API_BASE` when set."""
    if not secret_key:
        raise GatewayAuthenticationFailed("No Stripe secret key is configured")
    return _client(secret_key, getattr(settings, "STRIPE_API_BASE", None) or None)


def _options(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def _id(value: Any) -> str | None:
    """An expandable Stripe field: its id whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id") if isinstance(value, dict) else getattr(value, "id", None)


def _payment_method_details(pm: Any) -> PaymentMethodDetails:
    card = pm.get("card") if pm.get("type") == "card" else None
    return PaymentMethodDetails(
        id=pm["id"],
        type=pm.get("type") or "card",
        customer_id=_id(pm.get("customer")),
        brand=card.get("brand") if card else None,
        last4=card.get("last4") if card else None,
        exp_month=int(card["exp_month"]) if card and card.get("exp_month") is not None else None,
        exp_year=int(card["exp_year"]) if card and card.get("exp_year") is not None else None,
    )


def _payment_intent_result(pi: Any, *, replayed: bool = False) -> PaymentIntentResult:
    error = pi.get("last_payment_error") or {}
    return PaymentIntentResult(
        id=pi["id"],
        status=pi["status"],
        amount=int(pi["amount"]),
        currency=str(pi["currency"]).upper(),
        customer_id=_id(pi.get("customer")),
        payment_method_id=_id(pi.get("payment_method")),
        charge_id=_id(pi.get("latest_charge")),
        failure_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
        metadata=dict(pi.get("metadata") or {}),
        replayed=replayed,
    )


def _replayed(obj: Any) -> bool:
    response = getattr(obj, "last_response", None)
    return bool(response and response.headers.get("Idempotent-Replayed") == "true")


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain dicts and lists (StripeObject is not a Mapping in the SDK's current major)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


# --- customers -------------------------------------------------------------------------------------------------


def customer_create(
    *,
    secret_key: str,
    name: str,
    email: str | None = None,
    metadata: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Create a Stripe customer; its id (`cus_…`). With an idempotency key a retry returns the same customer."""
    params: dict[str, Any] = {"name": name, "metadata": metadata or {}}
    if email:
        params["email"] = email
    try:
        customer = client(secret_key).v1.customers.create(params=params, options=_options(idempotency_key))
    except stripe.StripeError as error:
        raise _translate(error) from error
    return customer.id


def customer_update(
    *, secret_key: str, customer_id: str, name: str | None = None, email: str | None = None
) -> None:
    """Copy a customer's name and email to Stripe."""
    params: dict[str, Any] = {}
    if name is not None:
        params["name"] = name
    if email is not None:
        params["email"] = email
    if not params:
        return
    try:
        client(secret_key).v1.customers.update(customer_id, params=params)
    except stripe.StripeError as error:
        raise _translate(error) from error


def customer_default_payment_method_set(*, secret_key: str, customer_id: str, payment_method_id: str) -> None:
    """Make a payment method the Stripe customer's default for invoices (`invoice_settings`)."""
    try:
        client(secret_key).v1.customers.update(
            customer_id, params={"invoice_settings": {"default_payment_method": payment_method_id}}
        )
    except stripe.StripeError as error:
        raise _translate(error) from error


# --- payment methods -------------------------------------------------------------------------------------------


def payment_method_setup(
    *,
    secret_key: str,
    customer_id: str,
    token: str,
    return_url: str | None = None,
    metadata: dict[str, str] | None = None,
) -> SetupResult:
    """Save a payment method for off-session charges: a SetupIntent (usage off_session, cards) created for the
    customer and confirmed with `token`, a ConfirmationToken (`ctoken_…`, from Stripe.js) or a PaymentMethod
    (`pm_…`). Once it succeeded the payment method is attached to the customer. A declined card raises
    `PaymentDeclined`; a card needing 3-D Secure comes back `requires_action` with the client secret."""
    if token.startswith("ctoken_"):
        confirm: dict[str, Any] = {"confirmation_token": token}
    elif token.startswith("pm_"):
        confirm = {"payment_method": token}
    else:
        raise GatewayRejected(
            "Expected a Stripe ConfirmationToken id (ctoken_…) or PaymentMethod id (pm_…)",
            stripe_code="invalid_token",
        )
    if return_url:
        confirm["return_url"] = return_url
    stripe_client = client(secret_key)
    try:
        intent = stripe_client.v1.setup_intents.create(
            params={
                "customer": customer_id,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": metadata or {},
            }
        )
        intent = _plain(stripe_client.v1.setup_intents.confirm(intent.id, params=confirm))
        details = None
        if pm_id := _id(intent.get("payment_method")):
            pm = _plain(stripe_client.v1.payment_methods.retrieve(pm_id))
            if intent["status"] == "succeeded" and _id(pm.get("customer")) != customer_id:
                # Stripe attaches on success; localstripe does not: attaching again is harmless.
                pm = _plain(stripe_client.v1.payment_methods.attach(pm_id, params={"customer": customer_id}))
            details = _payment_method_details(pm)
    except stripe.StripeError as error:
        raise _translate(error) from error
    return SetupResult(
        setup_intent_id=intent["id"],
        status=intent["status"],
        client_secret=intent.get("client_secret"),
        payment_method=details,
    )


def setup_intent_get(*, secret_key: str, setup_intent_id: str) -> SetupResult:
    """A SetupIntent's current state (after the customer finished 3-D Secure in the browser)."""
    stripe_client = client(secret_key)
    try:
        intent = _plain(stripe_client.v1.setup_intents.retrieve(setup_intent_id))
        details = None
        if pm_id := _id(intent.get("payment_method")):
            details = _payment_method_details(_plain(stripe_client.v1.payment_methods.retrieve(pm_id)))
    except stripe.StripeError as error:
        raise _translate(error) from error
    return SetupResult(
        setup_intent_id=intent["id"],
        status=intent["status"],
        client_secret=intent.get("client_secret"),
        payment_method=details,
    )


def payment_method_get(*, secret_key: str, payment_method_id: str) -> PaymentMethodDetails:
    """A payment method's type, card details and the customer it is attached to."""
    try:
        pm = _plain(client(secret_key).v1.payment_methods.retrieve(payment_method_id))
    except stripe.StripeError as error:
        raise _translate(error) from error
    return _payment_method_details(pm)


def payment_method_detach(*, secret_key: str, payment_method_id: str) -> None:
    """Detach a payment method from its customer: it can no longer be charged."""
    try:
        client(secret_key).v1.payment_methods.detach(payment_method_id)
    except stripe.StripeError as error:
        raise _translate(error) from error


# --- payments --------------------------------------------------------------------------------------------------


def charge_off_session(
    *,
    secret_key: str,
    customer_id: str,
    payment_method_id: str,
    amount: int,
    currency: str,
    idempotency_key: str,
    metadata: dict[str, str] | None = None,
) -> PaymentIntentResult:
    """Charge a saved card without the customer present: a PaymentIntent created and confirmed at once
    (`off_session`). The idempotency key makes a retry answer the first attempt's result instead of charging
    again (Stripe remembers keys for at least 24 hours). Returns the PaymentIntent (succeeded, or processing);
    raises `PaymentDeclined`, `PaymentRequiresAction` (authentication needed), or `GatewayUnavailable`."""
    if amount <= 0:
        raise GatewayRejected("A charge needs a positive amount", stripe_code="amount_too_small")
    try:
        pi = client(secret_key).v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency.lower(),
                "customer": customer_id,
                "payment_method": payment_method_id,
                "payment_method_types": ["card"],
                "off_session": True,
                "confirm": True,
                "metadata": metadata or {},
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        raise _translate(error) from error
    result = _payment_intent_result(_plain(pi), replayed=_replayed(pi))
    if result.status == "requires_action":
        raise PaymentRequiresAction(
            "The card requires authentication by the customer", payment_intent_id=result.id
        )
    if result.status == "requires_payment_method":
        raise PaymentDeclined(
            result.failure_message or "The payment failed",
            stripe_code=result.failure_code,
            payment_intent_id=result.id,
        )
    return result


def payment_intent_get(*, secret_key: str, payment_intent_id: str) -> PaymentIntentResult:
    """A PaymentIntent as Stripe sees it now (the truth a webhook's snapshot may lag behind)."""
    try:
        pi = client(secret_key).v1.payment_intents.retrieve(payment_intent_id)
    except stripe.StripeError as error:
        raise _translate(error) from error
    return _payment_intent_result(_plain(pi))


def payment_intent_cancel(*, secret_key: str, payment_intent_id: str) -> PaymentIntentResult:
    """Cancel a PaymentIntent that has not succeeded (so a later attempt with another card cannot double-charge)."""
    try:
        pi = client(secret_key).v1.payment_intents.cancel(payment_intent_id)
    except stripe.StripeError as error:
        raise _translate(error) from error
    return _payment_intent_result(_plain(pi))


# --- webhooks --------------------------------------------------------------------------------------------------


def webhook_event_construct(
    *, payload: bytes, signature_header: str | None, webhook_secret: str
) -> WebhookEvent:
    """Verify a webhook's `Stripe-Signature` against the endpoint secret (HMAC-SHA256 over `timestamp.body`, at
    most 5 minutes old) and parse it; raises `WebhookSignatureInvalid`."""
    if not webhook_secret:
        raise WebhookSignatureInvalid("No Stripe webhook secret is configured")
    if not signature_header:
        raise WebhookSignatureInvalid("Missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureInvalid(f"Invalid Stripe signature: {error.user_message or error}") from error
    except (ValueError, IndexError) as error:  # a header or body that does not parse
        raise WebhookSignatureInvalid(f"Malformed webhook: {error}") from error
    body = json.loads(payload)
    if not isinstance(body, dict) or not body.get("id") or not body.get("type"):
        raise WebhookSignatureInvalid("A Stripe event needs an id and a type")
    data_object = (body.get("data") or {}).get("object") or {}
    return WebhookEvent(
        id=event.id,
        type=event.type,
        created=int(body.get("created") or 0),
        object=data_object if isinstance(data_object, dict) else {},
        payload=body,
    )


# --- on-session card setup (hosted checkout) -------------------------------------------------------------------


def setup_intent_create(
    *, secret_key: str, metadata: dict[str, str] | None = None, idempotency_key: str | None = None
) -> SetupResult:
    """An unconfirmed SetupIntent for cards, off-session usage, without a customer yet: its `client_secret` goes
    to the buyer's browser, which confirms it with Stripe.js (`confirmCardSetup`). The payment method is attached
    to a customer afterwards (`payment_method_attach`)."""
    try:
        intent = client(secret_key).v1.setup_intents.create(
            params={"usage": "off_session", "payment_method_types": ["card"], "metadata": metadata or {}},
            options=_options(idempotency_key),
        )
    except stripe.StripeError as error:
        raise _translate(error) from error
    intent = _plain(intent)
    return SetupResult(
        setup_intent_id=intent["id"],
        status=intent["status"],
        client_secret=intent.get("client_secret"),
        payment_method=None,
    )


def payment_method_attach(
    *, secret_key: str, payment_method_id: str, customer_id: str
) -> PaymentMethodDetails:
    """Attach a payment method to a Stripe customer (a no-op when it is attached to that customer already)."""
    stripe_client = client(secret_key)
    try:
        pm = _plain(stripe_client.v1.payment_methods.retrieve(payment_method_id))
        if _id(pm.get("customer")) != customer_id:
            pm = _plain(
                stripe_client.v1.payment_methods.attach(payment_method_id, params={"customer": customer_id})
            )
    except stripe.StripeError as error:
        raise _translate(error) from error
    return _payment_method_details(pm)
