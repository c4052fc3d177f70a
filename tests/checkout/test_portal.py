# ruff: noqa: F811 (the localstripe fixtures are imported from tests/checkout/portal_fixtures.py and taken as arguments)
"""The customer portal (§3.13): links made through the API, and the page a link opens (plan, credits, invoices
with PDF links, saved cards: add, make default, remove), without a dashboard login. Cards go to localstripe."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from apps.billing import stripe_services
from apps.billing.models import Invoice, PaymentMethod
from apps.checkout.models import CustomerPortal
from apps.checkout.portal import customer_portal_create, customer_portal_status
from apps.common.exceptions import DomainError
from tests.billing.fixtures import make_customer
from tests.checkout.portal_fixtures import (  # noqa: F401 (fixtures)
    localstripe,
    localstripe_server,
    portal_customer,
    portal_for,
    save_card,
    stripe_card,
    stripe_organization,
    stripe_secret,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(organization, django_capture_on_commit_callbacks):
    return portal_customer(organization, capture=django_capture_on_commit_callbacks)


def portal_path(portal) -> str:
    return f"/portal/{portal.token}/"


# --- services ------------------------------------------------------------------------------------------------


def test_expiry_defaults_to_an_hour_and_must_be_in_the_next_24_hours(organization, customer):
    now = timezone.now()
    portal = customer_portal_create(organization=organization, customer=customer, now=now)
    assert portal.expires_at == now + timedelta(hours=1)
    for bad in (now, now - timedelta(seconds=1), now + timedelta(hours=24, seconds=1)):
        with pytest.raises(DomainError):
            customer_portal_create(organization=organization, customer=customer, expires_at=bad, now=now)
    assert CustomerPortal.objects.count() == 1
    edge = customer_portal_create(
        organization=organization, customer=customer, expires_at=now + timedelta(hours=24), now=now
    )
    assert edge.expires_at == now + timedelta(hours=24) and edge.token != portal.token


# --- API -----------------------------------------------------------------------------------------------------


def test_create_by_customer_id_answers_the_contract_shape(api, organization, customer):
    response = api.post(
        "/api/v2/customer-portals/",
        {"customerId": customer.display_id, "returnUrl": "https://app.acme.test/settings"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    portal = CustomerPortal.objects.get()
    assert set(body) == {"id", "customerId", "url", "status", "returnUrl", "expiresAt", "createdAt"}
    assert body["id"] == portal.display_id and body["id"].startswith("cpl_")
    assert body["customerId"] == customer.display_id
    assert body["url"] == f"http://testserver/portal/{portal.token}/"
    assert body["status"] == "active" and body["returnUrl"] == "https://app.acme.test/settings"
    assert portal.organization == organization


def test_create_by_external_id_with_an_expiry(api, customer):
    expires = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    response = api.post(
        "/api/v2/customer-portals",
        {"externalCustomerId": "acme", "expiresAt": expires.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert CustomerPortal.objects.get().expires_at == expires
    assert response.json()["returnUrl"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "customerId or externalCustomerId is required"),
        ({"customerId": "CUSTOMER", "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt: must be in the future"),
        ({"customerId": "CUSTOMER", "expiresAt": "2999-01-01T00:00:00Z"}, "at most 24 hours"),
        ({"customerId": "CUSTOMER", "returnUrl": "javascript:alert(1)"}, "returnUrl"),
        ({"customerId": "CUSTOMER", "expiresAt": "tomorrow"}, "expiresAt"),
    ],
)
def test_bad_input_is_a_400_and_nothing_is_made(api, customer, body, message):
    body = {key: customer.display_id if value == "CUSTOMER" else value for key, value in body.items()}
    response = api.post("/api/v2/customer-portals/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    assert not CustomerPortal.objects.exists()


def test_another_organizations_customer_is_a_404(other_api, customer):
    for body in ({"customerId": customer.display_id}, {"externalCustomerId": "acme"}):
        response = other_api.post("/api/v2/customer-portals/", body, format="json")
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert not CustomerPortal.objects.exists()


def test_status_turns_expired_at_expires_at(organization, customer):
    portal = portal_for(organization, customer)
    assert customer_portal_status(portal, now=portal.expires_at - timedelta(microseconds=1)) == "active"
    assert customer_portal_status(portal, now=portal.expires_at) == "expired"


# --- the page ------------------------------------------------------------------------------------------------


def test_the_page_shows_plan_credits_invoices_and_the_return_link(organization, customer):
    portal = portal_for(organization, customer, return_url="https://app.acme.test/settings")
    response = Client().get(portal_path(portal))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "same-origin"
    page = response.content.decode()
    assert "Acme AI" in page and "Billing for Acme" in page
    assert "Pro plan" in page and "$125.00" in page  # the plan and its fee
    assert "API credits" in page and "1,500" in page  # the balance
    invoice = Invoice.objects.get()
    assert "INV-0001" in page
    assert f'href="/invoices/{organization.display_id}/{invoice.public_url_token}.pdf"' in page
    assert 'href="https://app.acme.test/settings"' in page
    assert "Card payments are not set up." in page and 'id="portal-card-form"' not in page
    pdf = Client().get(f"/invoices/{organization.display_id}/{invoice.public_url_token}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_drafts_stay_hidden_and_another_customers_things_never_show(organization, customer):
    other = portal_for(organization, make_customer(organization, external_id="globex", name="Globex Corp"))
    Invoice.objects.update(status=Invoice.Status.DRAFT)
    page = Client().get(portal_path(other)).content.decode()
    assert "Billing for Globex Corp" in page
    assert "Pro plan" not in page and "API credits" not in page and "INV-0001" not in page
    assert "You have no active plan." in page and "No invoices yet." in page
    page = Client().get(portal_path(portal_for(organization, customer))).content.decode()
    assert "INV-0001" not in page and "No invoices yet." in page


def test_an_expired_link_shows_a_clear_page_and_an_unknown_one_is_a_404(organization, customer):
    portal = portal_for(organization, customer, return_url="https://app.acme.test/settings")
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = Client().get(portal_path(portal))
    assert response.status_code == 410
    page = response.content.decode()
    assert "This link has expired" in page and 'href="https://app.acme.test/settings"' in page
    assert "Pro plan" not in page and "INV-0001" not in page
    assert Client().get("/portal/not-a-token/").status_code == 404


def test_a_deleted_customers_link_is_a_404(organization, customer):
    portal = portal_for(organization, customer)
    type(customer).objects.filter(pk=customer.pk).update(deleted_at=timezone.now())
    assert Client().get(portal_path(portal)).status_code == 404


# --- cards ---------------------------------------------------------------------------------------------------


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def post_with_csrf(client: Client, portal, path: str, data=None):
    client.get(portal_path(portal))
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_cards_listed_made_default_and_removed(stripe_organization, customer, localstripe, settings):
    settings.STRIPE_JS_URL = "https://js.example.test/v3/"
    organization = stripe_organization
    first = save_card(organization, customer, "pm_card_visa")
    second = save_card(organization, customer, stripe_card(localstripe).id)
    portal = portal_for(organization, customer)
    client = csrf_client()
    page = client.get(portal_path(portal)).content.decode()
    assert "Visa ending in 4242" in page and "Visa ending in 5556" in page
    assert "Card payments are not set up." not in page
    assert "To add a card, contact Acme AI." in page  # no publishable key yet

    # Without the CSRF token the form is refused and nothing changes.
    url = f"{portal_path(portal)}payment-methods/{second.display_id}/default/"
    assert client.post(url).status_code == 403
    response = post_with_csrf(client, portal, url)
    assert response.status_code == 302 and response["Location"] == portal_path(portal)
    assert PaymentMethod.objects.get(pk=second.pk).is_default
    assert not PaymentMethod.objects.get(pk=first.pk).is_default
    stripe_id = stripe_services.stripe_customer_id_find(organization=organization, customer=customer)
    at_stripe = localstripe.client().v1.customers.retrieve(stripe_id)
    assert at_stripe.invoice_settings.default_payment_method == second.external_payment_method_id
    page = client.get(portal_path(portal)).content.decode()
    assert "Visa ending in 5556 is now your default payment method." in page

    response = post_with_csrf(
        client, portal, f"{portal_path(portal)}payment-methods/{first.display_id}/remove/"
    )
    assert response.status_code == 302
    assert list(PaymentMethod.objects.values_list("pk", flat=True)) == [second.pk]
    assert "Visa ending in 4242 was removed." in client.get(portal_path(portal)).content.decode()


def test_add_a_card_with_the_payment_method_stripe_js_made(
    stripe_organization, customer, localstripe, settings
):
    from apps.billing.services import billing_settings_update

    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    billing_settings_update(organization=stripe_organization, stripe_publishable_key="pk_test_tally")
    portal = portal_for(stripe_organization, customer)
    client = csrf_client()
    page = client.get(portal_path(portal)).content.decode()
    assert 'id="portal-card-form"' in page and 'data-stripe-key="pk_test_tally"' in page
    assert f'src="{localstripe.url}/js.stripe.com/v3/"' in page and "No saved cards." in page

    pm = stripe_card(localstripe, "4242424242424242")
    add = f"{portal_path(portal)}payment-methods/"
    assert post_with_csrf(client, portal, add, {"payment_method": pm.id}).status_code == 302
    (saved,) = PaymentMethod.objects.all()
    assert saved.customer == customer and saved.is_default and saved.card_last4 == "4242"
    assert "Visa ending in 4242 was saved." in client.get(portal_path(portal)).content.decode()

    # Garbage and declined cards: a clear message, nothing saved.
    post_with_csrf(client, portal, add, {"payment_method": "tok_nope"})
    assert "could not be read" in client.get(portal_path(portal)).content.decode()
    post_with_csrf(client, portal, add, {"payment_method": "pm_card_visa_chargeDeclined"})
    assert "The card was not saved" in client.get(portal_path(portal)).content.decode()
    assert PaymentMethod.objects.count() == 1


def test_another_customers_card_and_expired_links_change_nothing(stripe_organization, customer, localstripe):
    organization = stripe_organization
    mine = save_card(organization, customer, "pm_card_visa")
    theirs_customer = make_customer(organization, external_id="globex", name="Globex Corp")
    theirs = save_card(organization, theirs_customer, stripe_card(localstripe).id)
    portal = portal_for(organization, customer)
    client = csrf_client()
    for action in ("default", "remove"):
        response = post_with_csrf(
            client, portal, f"{portal_path(portal)}payment-methods/{theirs.display_id}/{action}/"
        )
        assert response.status_code == 404
    assert PaymentMethod.objects.filter(pk=theirs.pk, is_default=True).exists()

    client.get(portal_path(portal))
    token = client.cookies["csrftoken"].value
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.post(
            f"{portal_path(portal)}payment-methods/{mine.display_id}/remove/", {"csrfmiddlewaretoken": token}
        )
    assert response.status_code == 410 and "This link has expired" in response.content.decode()
    assert PaymentMethod.objects.filter(pk=mine.pk).exists()
    assert Client().get(f"{portal_path(portal)}payment-methods/{mine.display_id}/remove/").status_code == 405
