"""The webhooks dashboard: settings (switch + URL per webhook, test, rotate) and the delivery log."""

import re

import pytest
from django.test import Client

from apps.webhooks.models import WEBHOOK_NAMES, WebhookDelivery, WebhookEndpoint, WebhookSigningSecret
from apps.webhooks.services import webhook_endpoint_update, webhook_event_publish, webhook_test_send
from tests.webhooks.conftest import NAME

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def dashboard(organization):
    browser = Client()
    assert browser.login(username="owner@acme.test", password="acme-pass-123")
    return browser


@pytest.fixture
def other_dashboard(other_organization):
    browser = Client()
    assert browser.login(username="owner@globex.test", password="globex-pass-123")
    return browser


def _form(url: str, enabled: bool, name: str = NAME) -> dict:
    data = {f"{name}-url": url}
    if enabled:
        data[f"{name}-enabled"] = "on"
    return data


def test_settings_lists_the_eleven_webhooks(dashboard):
    response = dashboard.get("/webhooks/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in WEBHOOK_NAMES:
        assert f'id="wh-{name}"' in html
    assert "Not created yet" in html and "0 of 11 on" in html


def test_saving_the_first_url_shows_the_secret_once(dashboard, receiver):
    response = dashboard.post(f"/webhooks/endpoints/{NAME}/", _form(receiver.url, True), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    secret = WebhookSigningSecret.objects.get().secret
    assert secret in html and "be able to see it again" in html
    assert 'id="wh-secret"' in html and 'hx-swap-oob="true"' in html  # the secret card says "Configured"
    endpoint = WebhookEndpoint.objects.get(name=NAME)
    assert (endpoint.enabled, endpoint.url) == (True, receiver.url)
    again = dashboard.post(f"/webhooks/endpoints/{NAME}/", _form(receiver.url, False), headers=HTMX)
    assert secret not in again.content.decode()
    assert secret not in dashboard.get("/webhooks/").content.decode()


def test_a_refused_url_is_shown_on_the_field_and_nothing_changes(dashboard, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = dashboard.post(
        f"/webhooks/endpoints/{NAME}/", _form("https://169.254.169.254/x", True), headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "link-local" in html and "field--error" in html
    assert not WebhookEndpoint.objects.filter(url__isnull=False).exists()
    missing = dashboard.post(f"/webhooks/endpoints/{NAME}/", _form("", True), headers=HTMX)
    assert "Enter the URL" in missing.content.decode()


def test_without_htmx_saving_redirects_with_a_notice(dashboard, receiver):
    response = dashboard.post(f"/webhooks/endpoints/{NAME}/", _form(receiver.url, True), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/webhooks/"
    assert f"Webhook {NAME} saved." in html and WebhookSigningSecret.objects.get().secret in html


def test_the_test_button_shows_the_result_and_updates_the_status(dashboard, organization, receiver):
    webhook_endpoint_update(organization=organization, name=NAME, changes={"url": receiver.url})
    response = dashboard.post(f"/webhooks/endpoints/{NAME}/test/", headers=HTMX)
    html = response.content.decode()
    assert "Delivered" in html and "answered <strong>200</strong>" in html
    assert f'id="wh-status-{NAME}"' in html and "Last: delivered" in html
    receiver.answer(410)
    failed = dashboard.post(f"/webhooks/endpoints/{NAME}/test/", headers=HTMX).content.decode()
    assert "Failed" in failed and "<strong>410</strong>" in failed
    assert len(receiver.requests) == 2


def test_the_test_button_without_a_url_explains(dashboard):
    html = dashboard.post("/webhooks/endpoints/billing-payment-failed/test/", headers=HTMX).content.decode()
    assert "has no URL" in html


def test_rotate_shows_the_new_secret_once(dashboard, organization, receiver):
    webhook_endpoint_update(organization=organization, name=NAME, changes={"url": receiver.url})
    old = WebhookSigningSecret.objects.get().secret
    html = dashboard.post("/webhooks/rotate-secret/", headers=HTMX).content.decode()
    new = WebhookSigningSecret.objects.get().secret
    assert new != old and new in html and old not in html
    assert "keeps signing deliveries" in html
    assert new not in dashboard.get("/webhooks/").content.decode()
    # without htmx: the page itself, with the secret (a redirect would lose it)
    page = dashboard.post("/webhooks/rotate-secret/")
    assert page.status_code == 200 and WebhookSigningSecret.objects.get().secret in page.content.decode()


def test_unknown_names_are_404(dashboard):
    assert dashboard.post("/webhooks/endpoints/nope/", _form("", False)).status_code == 404
    assert dashboard.post("/webhooks/endpoints/nope/test/").status_code == 404


def test_the_delivery_log_filters_and_links_to_attempts(
    dashboard, organization, secret, receiver, django_capture_on_commit_callbacks
):
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_publish(organization=organization, name=NAME, data={"invoiceId": "inv_9"})
    webhook_test_send(organization=organization, name=NAME)
    retrying = WebhookDelivery.objects.get(status="pending")
    html = dashboard.get("/webhooks/deliveries/").content.decode()
    assert retrying.message_id in html and "Retrying" in html and "Delivered" in html
    only_pending = dashboard.get("/webhooks/deliveries/?status=pending", headers=HTMX).content.decode()
    assert retrying.message_id in only_pending and "Delivered" not in only_pending
    assert (
        "No deliveries match"
        in dashboard.get("/webhooks/deliveries/?name=billing-payment-failed").content.decode()
    )

    detail = dashboard.get(f"/webhooks/deliveries/{retrying.message_id}/").content.decode()
    assert "inv_9" in detail and "Next attempt" in detail and re.search(r"badge--danger\">500<", detail)
    assert "1 of 8" in detail


def test_another_organizations_delivery_is_404(other_dashboard, organization, secret, receiver):
    delivery = webhook_test_send(organization=organization, name=NAME)
    assert other_dashboard.get(f"/webhooks/deliveries/{delivery.message_id}/").status_code == 404
    assert delivery.message_id not in other_dashboard.get("/webhooks/deliveries/").content.decode()


def test_pages_need_a_login():
    response = Client().get("/webhooks/")
    assert response.status_code == 302 and "/accounts/login" in response["Location"]
