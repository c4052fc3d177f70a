import re

import pytest
from django.test import Client

from apps.accounts.selectors import api_key_list
from apps.accounts.services import api_key_create
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


def _api_status(raw_key: str) -> int:
    return Client().get("/api/v2/customers", headers={"Authorization": f"Bearer {raw_key}"}).status_code


def _plaintext_in(response) -> str:
    match = re.search(rb'id="new-api-key"[^>]*>(tly_[A-Za-z0-9]+)<', response.content)
    assert match, "the new key is shown"
    return match.group(1).decode()


def test_list_shows_prefix_never_the_secret(dashboard, organization, other_organization):
    api_key, raw_key = api_key_create(organization=organization, name="Production backend")
    api_key_create(organization=other_organization, name="Globex key")

    page = dashboard.get("/accounts/api-keys/")
    assert page.status_code == 200
    assert b"Production backend" in page.content
    assert f"{api_key.prefix}…".encode() in page.content
    assert raw_key.encode() not in page.content
    assert b"Globex key" not in page.content


def test_create_shows_the_key_exactly_once(dashboard, organization):
    response = dashboard.post("/accounts/api-keys/", {"name": "Production backend"})
    assert response.status_code == 200
    raw_key = _plaintext_in(response)
    assert "be able to see it again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    api_key = api_key_list(organization=organization).get(name="Production backend")
    assert raw_key.startswith(api_key.prefix)
    assert api_key.created_by.username == "owner@acme.test"
    assert _api_status(raw_key) == 200

    later = dashboard.get("/accounts/api-keys/")
    assert raw_key.encode() not in later.content
    assert b'id="new-api-key"' not in later.content


def test_create_over_htmx_returns_the_panel(dashboard, organization):
    response = dashboard.post("/accounts/api-keys/", {"name": "CI"}, headers=HTMX)
    assert [t.name for t in response.templates][:1] == ["accounts/_api_keys_panel.html"]
    assert b"<html" not in response.content
    assert _api_status(_plaintext_in(response)) == 200


def test_create_needs_a_name(dashboard, organization):
    response = dashboard.post("/accounts/api-keys/", {"name": ""}, headers=HTMX)
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert b'id="new-api-key"' not in response.content
    assert not api_key_list(organization=organization).exists()


def test_revoke_asks_first_and_then_the_key_stops_authenticating(dashboard, organization):
    api_key, raw_key = api_key_create(organization=organization, name="Old backend")
    assert _api_status(raw_key) == 200

    confirm = dashboard.get(f"/accounts/api-keys/{api_key.pk}/revoke/")
    assert confirm.status_code == 200 and b"Revoke \xe2\x80\x9cOld backend\xe2\x80\x9d?" in confirm.content
    assert _api_status(raw_key) == 200

    response = dashboard.post(f"/accounts/api-keys/{api_key.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/accounts/api-keys/"
    assert _api_status(raw_key) == 401
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    listing = dashboard.get("/accounts/api-keys/")
    assert b"Revoked" in listing.content


def test_another_organizations_key_is_404(dashboard, other_organization):
    theirs, raw_key = api_key_create(organization=other_organization, name="Globex key")
    assert dashboard.get(f"/accounts/api-keys/{theirs.pk}/revoke/").status_code == 404
    assert dashboard.post(f"/accounts/api-keys/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert _api_status(raw_key) == 200
