"""The Stripe gateway against localstripe: the official SDK over HTTP, nothing standing in for it."""

import http.server
import json
import threading
import time

import pytest
import stripe

from apps.billing import gateway
from tests.billing.conftest import STRIPE_TEST_KEY, STRIPE_TEST_WEBHOOK_SECRET

KEY = STRIPE_TEST_KEY


@pytest.fixture
def stripe_customer(localstripe) -> str:
    return gateway.customer_create(secret_key=KEY, name="Acme", email="billing@acme.test")


def saved_card(customer_id: str, token: str = "pm_card_visa") -> str:
    result = gateway.payment_method_setup(secret_key=KEY, customer_id=customer_id, token=token)
    assert result.status == "succeeded"
    return result.payment_method.id


def card(localstripe, number: str) -> str:
    """A PaymentMethod for a test card number (what Stripe.js would create in the browser)."""
    pm = localstripe.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return pm.id


def test_client_goes_to_the_configured_api_base(localstripe, settings):
    customer_id = gateway.customer_create(
        secret_key=KEY, name="Acme", metadata={"tally_customer_id": "cus_1"}
    )
    seen = localstripe.client().v1.customers.retrieve(customer_id)
    assert seen.name == "Acme" and seen.metadata["tally_customer_id"] == "cus_1"

    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(gateway.GatewayUnavailable) as caught:
        gateway.customer_create(secret_key=KEY, name="Acme")
    assert caught.value.code == "STRIPE_UNAVAILABLE" and caught.value.status_code == 502


def test_customer_create_with_idempotency_key_makes_one_customer(localstripe):
    first = gateway.customer_create(secret_key=KEY, name="Acme", idempotency_key="tally-customer-cus_1")
    again = gateway.customer_create(secret_key=KEY, name="Acme", idempotency_key="tally-customer-cus_1")
    other = gateway.customer_create(secret_key=KEY, name="Acme", idempotency_key="tally-customer-cus_2")
    assert first == again != other
    assert len(localstripe.client().v1.customers.list().data) == 2


def test_customer_update_and_default_payment_method(localstripe, stripe_customer):
    gateway.customer_update(
        secret_key=KEY, customer_id=stripe_customer, name="Acme Inc", email="ap@acme.test"
    )
    pm_id = saved_card(stripe_customer)
    gateway.customer_default_payment_method_set(
        secret_key=KEY, customer_id=stripe_customer, payment_method_id=pm_id
    )
    seen = localstripe.client().v1.customers.retrieve(stripe_customer)
    assert (seen.name, seen.email) == ("Acme Inc", "ap@acme.test")
    assert seen.invoice_settings.default_payment_method == pm_id


def test_setup_with_a_payment_method_saves_the_card(localstripe, stripe_customer):
    result = gateway.payment_method_setup(
        secret_key=KEY, customer_id=stripe_customer, token="pm_card_visa", metadata={"source": "test"}
    )
    assert result.setup_intent_id.startswith("seti_") and result.status == "succeeded"
    assert result.client_secret.startswith(result.setup_intent_id + "_secret_")
    pm = result.payment_method
    assert (pm.type, pm.brand, pm.last4, pm.exp_month, pm.exp_year) == ("card", "visa", "4242", 12, 2030)
    assert pm.customer_id == stripe_customer  # attached: it can be charged off-session
    assert gateway.payment_method_get(secret_key=KEY, payment_method_id=pm.id) == pm
    assert (
        gateway.setup_intent_get(secret_key=KEY, setup_intent_id=result.setup_intent_id).status == "succeeded"
    )


def test_setup_with_a_confirmation_token(localstripe, stripe_customer):
    token = localstripe.client().v1.test_helpers.confirmation_tokens.create(
        params={"payment_method": card(localstripe, "5555555555554444")}
    )
    assert token.id.startswith("ctoken_")
    result = gateway.payment_method_setup(
        secret_key=KEY, customer_id=stripe_customer, token=token.id, return_url="https://acme.test/done"
    )
    assert result.status == "succeeded"
    assert result.payment_method.last4 == "4444" and result.payment_method.customer_id == stripe_customer


def test_setup_refuses_other_tokens_without_calling_stripe(localstripe, stripe_customer):
    with pytest.raises(gateway.GatewayRejected) as caught:
        gateway.payment_method_setup(secret_key=KEY, customer_id=stripe_customer, token="tok_visa")
    assert "ctoken_" in caught.value.message and caught.value.status_code == 400
    assert localstripe.client().v1.setup_intents.list().data == []


def test_setup_with_an_unknown_token_is_rejected(localstripe, stripe_customer):
    with pytest.raises(gateway.GatewayRejected) as caught:
        gateway.payment_method_setup(secret_key=KEY, customer_id=stripe_customer, token="ctoken_missing")
    assert caught.value.stripe_code == "resource_missing"


def test_setup_with_a_declined_card(localstripe, stripe_customer):
    with pytest.raises(gateway.PaymentDeclined) as caught:
        gateway.payment_method_setup(
            secret_key=KEY, customer_id=stripe_customer, token="pm_card_visa_chargeDeclined"
        )
    assert caught.value.stripe_code == "card_declined" and caught.value.code == "CARD_DECLINED"
    assert "declined" in caught.value.message


def test_setup_with_a_card_needing_3ds_returns_requires_action(localstripe, stripe_customer):
    result = gateway.payment_method_setup(
        secret_key=KEY, customer_id=stripe_customer, token=card(localstripe, "4000002500003155")
    )
    assert result.status == "requires_action" and result.client_secret


def test_detach(localstripe, stripe_customer):
    pm_id = saved_card(stripe_customer)
    gateway.payment_method_detach(secret_key=KEY, payment_method_id=pm_id)
    assert gateway.payment_method_get(secret_key=KEY, payment_method_id=pm_id).customer_id is None
    with pytest.raises(gateway.GatewayRejected):
        gateway.payment_method_get(secret_key=KEY, payment_method_id="pm_missing")


def test_charge_off_session_succeeds(localstripe, stripe_customer):
    pm_id = saved_card(stripe_customer)
    result = gateway.charge_off_session(
        secret_key=KEY,
        customer_id=stripe_customer,
        payment_method_id=pm_id,
        amount=4_250,
        currency="USD",
        idempotency_key="tally-invoice-inv_1",
        metadata={"tally_invoice_id": "inv_1"},
    )
    assert result.status == "succeeded" and result.id.startswith("pi_") and result.charge_id.startswith("ch_")
    assert (result.amount, result.currency, result.customer_id) == (4_250, "USD", stripe_customer)
    assert result.metadata == {"tally_invoice_id": "inv_1"} and not result.replayed
    assert gateway.payment_intent_get(secret_key=KEY, payment_intent_id=result.id) == result


def test_charge_retried_with_the_same_key_returns_the_same_payment_intent(localstripe, stripe_customer):
    pm_id = saved_card(stripe_customer)
    charge = dict(
        secret_key=KEY,
        customer_id=stripe_customer,
        payment_method_id=pm_id,
        amount=999,
        currency="usd",
        metadata={"tally_invoice_id": "inv_1"},
    )
    first = gateway.charge_off_session(idempotency_key="tally-invoice-inv_1", **charge)
    again = gateway.charge_off_session(idempotency_key="tally-invoice-inv_1", **charge)
    assert again.id == first.id and again.replayed and again.status == "succeeded"
    charges = localstripe.client().v1.charges.list(params={"customer": stripe_customer}).data
    assert [c.id for c in charges] == [first.charge_id]  # one charge, not two

    other = gateway.charge_off_session(idempotency_key="tally-invoice-inv_2", **charge)
    assert other.id != first.id

    with pytest.raises(gateway.GatewayRejected) as caught:  # a key reused for a different request
        gateway.charge_off_session(idempotency_key="tally-invoice-inv_1", **{**charge, "amount": 1000})
    assert caught.value.stripe_code in ("idempotency_key_in_use", "idempotency_error")


def test_charge_declined(localstripe, stripe_customer):
    # Stripe's 4000000000000341: attaching succeeds, charging fails (4000000000000002 fails already at setup).
    pm_id = saved_card(stripe_customer, "pm_card_chargeCustomerFail")
    charge = dict(
        secret_key=KEY,
        customer_id=stripe_customer,
        payment_method_id=pm_id,
        amount=500,
        currency="usd",
        idempotency_key="tally-invoice-inv_9",
    )
    with pytest.raises(gateway.PaymentDeclined) as caught:
        gateway.charge_off_session(**charge)
    assert caught.value.stripe_code == "card_declined" and "declined" in caught.value.message
    with pytest.raises(gateway.PaymentDeclined):  # the replay answers the same decline, and charges nothing
        gateway.charge_off_session(**charge)
    charges = localstripe.client().v1.charges.list(params={"customer": stripe_customer}).data
    assert [c.status for c in charges] == ["failed"]


def test_charge_needing_authentication(localstripe, stripe_customer):
    pm_id = card(localstripe, "4000002500003155")
    localstripe.client().v1.payment_methods.attach(pm_id, params={"customer": stripe_customer})
    with pytest.raises(gateway.PaymentRequiresAction) as caught:
        gateway.charge_off_session(
            secret_key=KEY,
            customer_id=stripe_customer,
            payment_method_id=pm_id,
            amount=500,
            currency="usd",
            idempotency_key="tally-invoice-inv_3ds",
        )
    assert caught.value.payment_intent_id.startswith("pi_") and caught.value.code == "REQUIRES_ACTION"
    cancelled = gateway.payment_intent_cancel(
        secret_key=KEY, payment_intent_id=caught.value.payment_intent_id
    )
    assert cancelled.status == "canceled"


def test_charge_refuses_a_non_positive_amount(localstripe, stripe_customer):
    with pytest.raises(gateway.GatewayRejected):
        gateway.charge_off_session(
            secret_key=KEY,
            customer_id=stripe_customer,
            payment_method_id="pm_card_visa",
            amount=0,
            currency="usd",
            idempotency_key="k",
        )


def test_a_wrong_secret_key(localstripe):
    with pytest.raises(gateway.GatewayAuthenticationFailed) as caught:
        gateway.customer_create(secret_key="not-a-key", name="Acme")
    assert caught.value.status_code == 400
    with pytest.raises(gateway.GatewayAuthenticationFailed):
        gateway.customer_create(secret_key="", name="Acme")


# --- webhook signatures ----------------------------------------------------------------------------------------

EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": 1_700_000_000,
    "data": {"object": {"id": "pi_1", "object": "payment_intent", "metadata": {"tally_invoice_id": "inv_1"}}},
}


def signed(payload: str, secret: str = STRIPE_TEST_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


def test_webhook_signature_accepted():
    payload = json.dumps(EVENT)
    event = gateway.webhook_event_construct(
        payload=payload.encode(), signature_header=signed(payload), webhook_secret=STRIPE_TEST_WEBHOOK_SECRET
    )
    assert (event.id, event.type, event.created) == ("evt_1", "payment_intent.succeeded", 1_700_000_000)
    assert event.object["id"] == "pi_1" and event.payload == EVENT


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        signed(json.dumps(EVENT), secret="whsec_other"),
        signed(json.dumps(EVENT), timestamp=int(time.time()) - 600),  # older than the tolerance: a replay
        signed(json.dumps({**EVENT, "id": "evt_2"})),  # signs another body
    ],
    ids=["missing", "empty", "garbage", "other-secret", "stale", "other-body"],
)
def test_webhook_signature_rejected(header):
    with pytest.raises(gateway.WebhookSignatureInvalid) as caught:
        gateway.webhook_event_construct(
            payload=json.dumps(EVENT).encode(),
            signature_header=header,
            webhook_secret=STRIPE_TEST_WEBHOOK_SECRET,
        )
    assert caught.value.status_code == 400 and caught.value.code == "INVALID_SIGNATURE"


def test_webhook_without_a_configured_secret_is_rejected():
    payload = json.dumps(EVENT)
    with pytest.raises(gateway.WebhookSignatureInvalid):
        gateway.webhook_event_construct(
            payload=payload.encode(), signature_header=signed(payload), webhook_secret=""
        )


@pytest.fixture
def webhook_receiver():
    """A bare HTTP endpoint on loopback that keeps what is posted to it: (body bytes, Stripe-Signature)."""
    received: list[tuple[bytes, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((body, self.headers.get("Stripe-Signature")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_webhook_sent_by_localstripe_verifies(localstripe, webhook_receiver):
    """localstripe signs the events it posts as Stripe does; the gateway accepts them, and only with the secret."""
    url, received = webhook_receiver
    localstripe.webhook_register(url=url, secret=STRIPE_TEST_WEBHOOK_SECRET, events=["customer.created"])
    customer_id = gateway.customer_create(secret_key=KEY, name="Acme")
    deadline = time.monotonic() + 10
    mine = []  # (an event an earlier test caused may arrive too: localstripe posts them a second late)
    while not mine and time.monotonic() < deadline:
        time.sleep(0.05)
        mine = [(body, header) for body, header in received if customer_id.encode() in body]
    assert mine, "localstripe delivered no event"
    body, header = mine[0]
    event = gateway.webhook_event_construct(
        payload=body, signature_header=header, webhook_secret=STRIPE_TEST_WEBHOOK_SECRET
    )
    assert (
        event.type == "customer.created" and event.object["id"] == customer_id and event.id.startswith("evt_")
    )
    with pytest.raises(gateway.WebhookSignatureInvalid):
        gateway.webhook_event_construct(payload=body, signature_header=header, webhook_secret="whsec_other")
