"""The hosted page through Django's test client: what it shows (plans side by side, prices, credits, features,
custom cards, the organization's name), the currency lock, clear pages for expired, archived and used links, the
form without JavaScript completing a free plan, and the JSON steps the page's script calls."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.checkout.models import CheckoutAttempt
from apps.checkout.services import checkout_archive
from apps.orders.models import Order
from tests.checkout.fixtures import make_catalog, make_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(organization):
    return make_catalog(organization)


def page_url(checkout, suffix=""):
    return f"/c/{checkout.token}/{suffix}"


def form(catalog, plan="Free", **values):
    data = {
        "client_key": "k1",
        "plan": catalog.plan_id(plan),
        "currency": "USD",
        "name": "Ada",
        "email": "a@x.test",
    }
    data.update(values)
    return data


def test_page_shows_plans_credits_features_and_cards(client, organization, catalog):
    checkout = make_checkout(
        organization,
        catalog,
        "Starter",
        "Pro",
        custom_cards=[
            {"label": "Enterprise", "priceText": "Let's talk", "buttonUrl": "https://x.test/sales"}
        ],
        cancel_url="https://x.test/pricing",
    )
    response = client.get(page_url(checkout))
    assert response.status_code == 200
    html = response.content.decode()
    assert organization.name in html and "<title>Checkout · Acme AI</title>" in html
    assert 'name="plan"' in html and html.index(">Starter<") < html.index(">Pro<")
    assert "$29.00" in html and "$79.00" in html and "per month" in html
    assert "2,000 Chat Credits each month" in html and "500 Chat Credits each month" in html
    assert "Enterprise" in html and "Let&#x27;s talk" in html and 'href="https://x.test/sales"' in html
    assert '<label for="email">Email</label>' in html and 'id="currency"' in html  # USD and EUR offered
    assert 'href="https://x.test/pricing"' in html
    assert 'name="phone"' not in html and 'name="address_line1"' not in html
    assert "Business" not in html and "Free" not in html


def test_currency_lock_hides_other_currencies(client, organization, catalog):
    checkout = make_checkout(organization, catalog, "Starter", "Pro", currency="EUR")
    html = client.get(page_url(checkout)).content.decode()
    assert 'id="currency"' not in html and 'name="currency" value="EUR"' in html
    assert "€70.00" in html and "$" not in html and ">Starter<" not in html  # Starter has no EUR price
    unlocked = make_checkout(organization, catalog, "Starter", "Pro")
    html = client.get(page_url(unlocked) + "?currency=EUR").content.decode()
    assert "€70.00" in html and ">Starter<" not in html


def test_expired_archived_and_used_links_show_a_clear_page_and_accept_nothing(client, organization, catalog):
    expiring = make_checkout(organization, catalog, "Free", expires_at=timezone.now() + timedelta(hours=1))
    archived = make_checkout(organization, catalog, "Free")
    checkout_archive(checkout=archived)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.get(page_url(expiring))
        assert response.status_code == 410 and "This checkout link has expired" in response.content.decode()
        assert client.post(page_url(expiring), form(catalog)).status_code == 410
        answer = client.post(page_url(expiring, "start/"), form(catalog))
        assert answer.status_code == 409 and answer.json()["code"] == "CHECKOUT_CLOSED"
    response = client.get(page_url(archived))
    assert response.status_code == 410 and "no longer available" in response.content.decode()
    assert client.post(page_url(archived, "start/"), form(catalog)).status_code == 409
    assert not CheckoutAttempt.objects.exists() and not Order.objects.exists()
    assert client.get("/c/not-a-token/").status_code == 404


def test_free_plan_without_javascript_redirects_to_success_once(client, organization, catalog):
    checkout = make_checkout(organization, catalog, "Free", "Pro", single_use=True)
    response = client.post(page_url(checkout), form(catalog))
    assert response.status_code == 302
    assert response["Location"] == f"https://app.example.com/ok?checkout={checkout.display_id}"
    again = client.post(page_url(checkout), form(catalog))  # double submit: same form key, same attempt
    assert again.status_code == 302 and Order.objects.count() == 1
    reload = client.get(page_url(checkout))  # the buyer's reload lands on the success URL again
    assert reload.status_code == 302 and Order.objects.count() == 1
    stranger = client_class_get(page_url(checkout))
    assert stranger.status_code == 410 and "already been used" in stranger.content.decode()


def client_class_get(url):
    from django.test import Client

    return Client().get(url)


def test_form_errors_are_shown_on_the_field(client, organization, catalog):
    checkout = make_checkout(organization, catalog, "Free", collect_phone=True)
    response = client.post(page_url(checkout), form(catalog, email="nope", phone="1"))
    assert response.status_code == 400 and "enter a valid email address" in response.content.decode()
    answer = client.post(page_url(checkout, "start/"), form(catalog, email="a@x.test", phone=""))
    assert answer.status_code == 400 and answer.json()["field"] == "phone"
    assert not CheckoutAttempt.objects.exists()


def test_start_json_completes_free_and_complete_answers_unknown_attempts(client, organization, catalog):
    checkout = make_checkout(organization, catalog, "Free")
    answer = client.post(page_url(checkout, "start/"), form(catalog)).json()
    assert answer["status"] == "completed" and answer["redirectUrl"].endswith(checkout.display_id)
    assert client.post(page_url(checkout, "complete/"), {"attempt": answer["attemptId"]}).json()[
        "status"
    ] == ("completed")
    assert client.post(page_url(checkout, "complete/"), {"attempt": "chka_nope"}).status_code == 404
    assert Order.objects.count() == 1
