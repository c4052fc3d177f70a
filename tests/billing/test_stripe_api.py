"""The Stripe routes of /api/v2 (payment methods §3.15, the webhook inbox, invoice charges) with DRF's test client;
Stripe is localstripe."""

import json
from datetime import timedelta

import pytest
import stripe
from django.utils import timezone

from apps.billing import stripe_services
from apps.billing.models import Invoice, InvoiceCharge, PaymentMethod, StripeEvent
from tests.billing.fixtures import fee, line, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(organization):
    return make_customer(organization)


def create(api, **body):
    return api.post("/api/v2/payment-methods/", body, format="json")


def test_payment_methods_need_stripe_configured(api, customer):
    response = create(api, customerId=customer.display_id, confirmationToken="pm_card_visa")
    assert response.status_code == 400
    assert (
        response.json()["code"] == "STRIPE_NOT_CONFIGURED" and "billing settings" in response.json()["error"]
    )
    assert not PaymentMethod.objects.exists()


def test_create_list_get_set_default_delete(api, stripe_organization, customer, localstripe):
    response = create(
        api, externalCustomerId="acme", confirmationToken="pm_card_visa", metadata={"source": "t"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["setupIntent"]["status"] == "succeeded" and body["setupIntent"]["id"].startswith("seti_")
    assert body["setupIntent"]["clientSecret"] and body["customerId"] == customer.display_id
    first_id = body["paymentMethodId"]
    assert (
        body["externalPaymentMethodId"]
        == PaymentMethod.objects.get(display_id=first_id).external_payment_method_id
    )

    token = localstripe.client().v1.test_helpers.confirmation_tokens.create(
        params={"payment_method": "pm_card_visa"}
    )
    second_id = create(api, customerId=customer.display_id, confirmationToken=token.id).json()[
        "paymentMethodId"
    ]

    listed = api.get("/api/v2/payment-methods/", {"customerId": customer.display_id}).json()
    assert [m["id"] for m in listed["data"]] == [first_id, second_id] and listed["pagination"]["total"] == 2
    got = api.get(f"/api/v2/payment-methods/{first_id}").json()
    assert got["isDefault"] and got["type"] == "card" and got["customerId"] == customer.display_id
    assert got["card"] == {"brand": "visa", "last4": "4242", "expMonth": 12, "expYear": 2030}
    assert got["createdAt"].endswith("Z")

    response = api.post(f"/api/v2/payment-methods/{second_id}/set-default", {}, format="json")
    assert response.status_code == 200 and response.json()["isDefault"]
    assert not api.get(f"/api/v2/payment-methods/{first_id}").json()["isDefault"]

    response = api.delete(f"/api/v2/payment-methods/{second_id}")
    assert (response.status_code, response.json()) == (200, {})
    assert api.get(f"/api/v2/payment-methods/{second_id}").status_code == 404
    assert [m["id"] for m in api.get("/api/v2/payment-methods/").json()["data"]] == [first_id]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"confirmationToken": "pm_card_visa"}, 400, "VALIDATION_ERROR"),
        ({"customerId": "cus_nobody", "confirmationToken": "pm_card_visa"}, 404, "NOT_FOUND"),
        ({"externalCustomerId": "acme"}, 400, "VALIDATION_ERROR"),
        ({"externalCustomerId": "acme", "confirmationToken": "tok_visa"}, 400, "STRIPE_REQUEST_REJECTED"),
        (
            {"externalCustomerId": "acme", "confirmationToken": "ctoken_unknown"},
            400,
            "STRIPE_REQUEST_REJECTED",
        ),
        (
            {"externalCustomerId": "acme", "confirmationToken": "pm_card_visa_chargeDeclined"},
            400,
            "CARD_DECLINED",
        ),
        ({"externalCustomerId": "acme", "confirmationToken": "pm_card_visa", "returnUrl": "nope"}, 400, None),
    ],
    ids=["no-customer", "unknown-customer", "no-token", "bad-token", "unknown-ctoken", "declined", "bad-url"],
)
def test_create_refusals(api, stripe_organization, customer, body, status, code):
    response = create(api, **body)
    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code
    assert response.json()["error"]
    assert not PaymentMethod.objects.exists()


def test_another_organizations_payment_methods_are_404(api, other_api, stripe_organization, customer):
    pm_id = create(api, customerId=customer.display_id, confirmationToken="pm_card_visa").json()[
        "paymentMethodId"
    ]
    assert other_api.get(f"/api/v2/payment-methods/{pm_id}").status_code == 404
    assert other_api.delete(f"/api/v2/payment-methods/{pm_id}").status_code == 404
    assert (
        other_api.post(f"/api/v2/payment-methods/{pm_id}/set-default", {}, format="json").status_code == 404
    )
    assert other_api.get("/api/v2/payment-methods/", {"customerId": customer.display_id}).status_code == 404
    assert other_api.get("/api/v2/payment-methods/").json()["data"] == []
    response = other_api.post(
        "/api/v2/payment-methods/",
        {"customerId": customer.display_id, "confirmationToken": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 404
    assert PaymentMethod.objects.count() == 1 and PaymentMethod.objects.get().is_default


def test_webhook_endpoint(
    client, stripe_organization, other_organization, stripe_secret, django_capture_on_commit_callbacks
):
    """No API key: the organization's webhook secret is the authentication."""
    url = f"/api/v2/stripe/webhooks/{stripe_organization.display_id}"
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "customer.created",
        "created": 1,
        "data": {"object": {"id": "cus_1"}},
    }
    payload = json.dumps(event)

    def post(path, header):
        headers = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
        return client.post(path, payload, content_type="application/json", **headers)

    good = stripe.WebhookSignature.generate_signature_header(payload, stripe_secret)
    assert post(url, None).status_code == 400
    response = post(url, stripe.WebhookSignature.generate_signature_header(payload, "whsec_other"))
    assert response.status_code == 400 and response.json()["code"] == "INVALID_SIGNATURE"
    assert not StripeEvent.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = post(url, good)
    assert (response.status_code, response.json()) == (200, {"received": True, "duplicate": False})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(url, good)
    assert (response.status_code, response.json()) == (200, {"received": True, "duplicate": True})
    assert callbacks == []  # a duplicate enqueues nothing
    stored = StripeEvent.objects.get()
    assert (stored.organization, stored.event_id, stored.type) == (
        stripe_organization,
        "evt_1",
        "customer.created",
    )
    assert stored.processed_at is not None

    # Another organization (no secret configured), an unknown one, a pk instead of a display id.
    assert post(f"/api/v2/stripe/webhooks/{other_organization.display_id}", good).status_code == 400
    assert post("/api/v2/stripe/webhooks/org_nobody", good).status_code == 404
    assert post(f"/api/v2/stripe/webhooks/{stripe_organization.pk}", good).status_code == 404
    assert StripeEvent.objects.count() == 1


def test_invoice_charges(api, other_api, stripe_organization, customer, django_capture_on_commit_callbacks):
    product = make_product(stripe_organization)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(
            stripe_organization,
            customer,
            line(product, fee(cents=900)),
            start=timezone.now() - timedelta(minutes=1),
            auto_post_invoices=True,
        )
    invoice = Invoice.objects.get(order=order)
    url = f"/api/v2/invoices/{invoice.display_id}"

    response = api.post(f"{url}/charge", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "NO_DEFAULT_PAYMENT_METHOD"
    create(api, customerId=customer.display_id, confirmationToken="pm_card_chargeCustomerFail")

    response = api.post(f"{url}/charge", {}, format="json")
    assert response.status_code == 200
    failed = response.json()
    assert (failed["status"], failed["attempt"], failed["amount"], failed["currency"]) == (
        "failed",
        1,
        900,
        "USD",
    )
    assert failed["failureCode"] == "card_declined" and failed["paymentId"] is None
    assert api.get(url).json()["paymentStatus"] == "error"

    pm_id = create(api, customerId=customer.display_id, confirmationToken="pm_card_visa").json()[
        "paymentMethodId"
    ]
    api.post(f"/api/v2/payment-methods/{pm_id}/set-default", {}, format="json")
    paid = api.post(f"{url}/charge", {}, format="json").json()
    assert (paid["status"], paid["attempt"], paid["paymentMethodId"]) == ("succeeded", 2, pm_id)
    assert paid["paymentId"].startswith("pay_") and paid["paymentIntentId"].startswith("pi_")
    invoice_body = api.get(url).json()
    assert (invoice_body["paymentStatus"], invoice_body["amountPaid"], invoice_body["amountRemaining"]) == (
        "paid",
        900,
        0,
    )

    charges = api.get(f"{url}/charges").json()
    assert [(c["attempt"], c["status"]) for c in charges["data"]] == [(2, "succeeded"), (1, "failed")]
    response = api.post(f"{url}/charge", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "NOTHING_TO_CHARGE"
    assert InvoiceCharge.objects.count() == 2

    assert other_api.get(f"{url}/charges").status_code == 404
    assert other_api.post(f"{url}/charge", {}, format="json").status_code == 404


def test_charging_without_stripe_is_refused(api, organization, customer, django_capture_on_commit_callbacks):
    product = make_product(organization)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(
            organization,
            customer,
            line(product, fee()),
            start=timezone.now() - timedelta(minutes=1),
            auto_post_invoices=True,
        )
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == "posted"
    response = api.post(f"/api/v2/invoices/{invoice.display_id}/charge", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "STRIPE_NOT_CONFIGURED"
    assert stripe_services.invoice_charge(invoice=invoice) is None
