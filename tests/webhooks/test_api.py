"""§3.10 through the REST API: list, PATCH, test, rotate-secret; errors in the envelope, nothing changed on
refusal, tenancy."""

import pytest
from rest_framework.test import APIClient

from apps.webhooks.models import WEBHOOK_NAMES, WebhookEndpoint, WebhookSigningSecret
from tests.webhooks.conftest import NAME

pytestmark = pytest.mark.django_db

BASE = "/api/v2/webhooks"


def _state(organization) -> list[tuple]:
    return sorted(
        WebhookEndpoint.objects.filter(organization=organization).values_list("name", "enabled", "url")
    )


def test_list_returns_all_eleven_in_the_contract_order(api):
    response = api.get(f"{BASE}/")
    assert response.status_code == 200
    body = response.json()
    assert body["signingSecretConfigured"] is False
    assert [webhook["name"] for webhook in body["data"]] == list(WEBHOOK_NAMES)
    first = body["data"][0]
    assert set(first) == {"id", "name", "description", "enabled", "url", "lastSentAt", "lastStatus"}
    assert first["id"].startswith("wh_") and first["description"]
    assert (first["enabled"], first["url"], first["lastSentAt"], first["lastStatus"]) == (
        False,
        None,
        None,
        None,
    )
    # ids are stable, and the path answers without the slash too
    assert api.get(BASE).json()["data"][0]["id"] == first["id"]


def test_the_first_url_mints_the_secret_once(api, receiver):
    response = api.patch(f"{BASE}/{NAME}", {"url": receiver.url, "enabled": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == NAME and body["enabled"] is True and body["url"] == receiver.url
    assert body["signingSecret"].startswith("whsec_")
    again = api.patch(f"{BASE}/billing-invoice-posted", {"url": receiver.url}, format="json").json()
    assert "signingSecret" not in again and again["enabled"] is False
    assert api.get(f"{BASE}/").json()["signingSecretConfigured"] is True
    assert WebhookSigningSecret.objects.get().secret == body["signingSecret"]


def test_enabling_alone_keeps_the_url_and_mints_nothing(api, receiver):
    api.patch(f"{BASE}/{NAME}", {"url": receiver.url}, format="json")
    body = api.patch(f"{BASE}/{NAME}", {"enabled": True}, format="json").json()
    assert (body["enabled"], body["url"]) == (True, receiver.url) and "signingSecret" not in body


def test_null_clears_the_url_only_while_disabled(api, organization, receiver):
    api.patch(f"{BASE}/{NAME}", {"url": receiver.url, "enabled": True}, format="json")
    refused = api.patch(f"{BASE}/{NAME}", {"url": None}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("url:") and "disabled" in refused.json()["error"]
    assert WebhookEndpoint.objects.get(name=NAME).url == receiver.url
    cleared = api.patch(f"{BASE}/{NAME}", {"url": None, "enabled": False}, format="json").json()
    assert (cleared["enabled"], cleared["url"]) == (False, None)


def test_enabling_without_a_url_is_refused(api):
    response = api.patch(f"{BASE}/{NAME}", {"enabled": True}, format="json")
    assert response.status_code == 400 and response.json()["error"].startswith("url:")
    assert not WebhookEndpoint.objects.filter(enabled=True).exists()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.0.0.8/x", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/x", "loopback"),
        ("https://localhost:8443/x", "loopback"),
        ("not a url", "spaces"),
        ("", "blank"),
    ],
)
def test_unsafe_urls_are_refused_with_nothing_changed(api, organization, settings, url, fragment):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    api.get(f"{BASE}/")
    before = _state(organization)
    response = api.patch(f"{BASE}/{NAME}", {"url": url, "enabled": True}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert fragment in body["error"] and body["error"].startswith("url:")
    assert _state(organization) == before
    assert not WebhookSigningSecret.objects.exists()


def test_private_urls_are_accepted_when_the_setting_allows_them(api):
    # tests/webhooks/conftest.py turns WEBHOOKS_ALLOW_PRIVATE_URLS on
    response = api.patch(f"{BASE}/{NAME}", {"url": "http://127.0.0.1:9/x", "enabled": True}, format="json")
    assert response.status_code == 200 and response.json()["url"] == "http://127.0.0.1:9/x"


@pytest.mark.parametrize(
    "body", [{"enabled": "maybe"}, {"enabled": None}, {"url": 42}, [], {"url": "https://" + "a" * 2100}]
)
def test_malformed_bodies_are_400(api, body):
    response = api.patch(f"{BASE}/{NAME}", body, format="json")
    assert response.status_code == 400 and response.json()["error"]


def test_unknown_names_are_404(api):
    for response in (
        api.patch(f"{BASE}/invoice.paid", {"enabled": False}, format="json"),
        api.post(f"{BASE}/invoice.paid/test", {}, format="json"),
    ):
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_test_sends_to_the_url_and_answers_success(api, receiver):
    api.patch(f"{BASE}/{NAME}", {"url": receiver.url}, format="json")
    assert api.post(f"{BASE}/{NAME}/test", {}, format="json").json() == {"success": True}
    receiver.answer(500)
    assert api.post(f"{BASE}/{NAME}/test").json() == {"success": False}
    assert len(receiver.requests) == 2
    listed = {webhook["name"]: webhook for webhook in api.get(f"{BASE}/").json()["data"]}[NAME]
    assert listed["lastStatus"] == "failed" and listed["lastSentAt"]


def test_test_without_a_url_is_400(api):
    response = api.post(f"{BASE}/{NAME}/test", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "WEBHOOK_NO_URL"


def test_rotate_returns_a_new_secret_each_time(api, receiver):
    minted = api.patch(f"{BASE}/{NAME}", {"url": receiver.url}, format="json").json()["signingSecret"]
    first = api.post(f"{BASE}/rotate-secret", {}, format="json")
    assert first.status_code == 200
    second = api.post(f"{BASE}/rotate-secret").json()["signingSecret"]
    assert len({minted, first.json()["signingSecret"], second}) == 3
    assert WebhookSigningSecret.objects.get().secret == second


def test_organizations_are_isolated(api, other_api, organization, other_organization, receiver):
    mine = api.patch(f"{BASE}/{NAME}", {"url": receiver.url, "enabled": True}, format="json").json()
    theirs = other_api.get(f"{BASE}/").json()
    assert theirs["signingSecretConfigured"] is False
    assert all(webhook["url"] is None for webhook in theirs["data"])
    assert mine["id"] not in {webhook["id"] for webhook in theirs["data"]}
    assert other_api.post(f"{BASE}/{NAME}/test").status_code == 400  # their endpoint has no URL
    their_secret = other_api.post(f"{BASE}/rotate-secret").json()["signingSecret"]
    assert WebhookSigningSecret.objects.get(organization=organization).secret == mine["signingSecret"]
    assert WebhookSigningSecret.objects.get(organization=other_organization).secret == their_secret


def test_unauthenticated_is_401():
    assert APIClient().get(f"{BASE}/").status_code == 401
