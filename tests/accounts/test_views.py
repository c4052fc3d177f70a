"""The organization settings page: the `auto_create_customers` toggle."""

import pytest
from django.test import Client

from apps.accounts.models import Organization
from apps.customers.models import Customer
from apps.signals.services import signal_ingest
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard(organization):
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client


def _setting(organization) -> bool:
    return Organization.objects.get(pk=organization.pk).auto_create_customers


def test_the_page_shows_the_setting_off_by_default(dashboard, organization):
    page = dashboard.get("/accounts/settings/")
    assert page.status_code == 200
    assert b"Create customers from signals" in page.content
    assert b'name="auto_create_customers"' in page.content
    assert b"checked" not in page.content
    assert b'href="/accounts/settings/" aria-current="page"' in page.content  # the nav link


def test_turning_it_on_and_off(dashboard, organization):
    response = dashboard.post("/accounts/settings/", {"auto_create_customers": "on"})
    assert response.status_code == 302 and response["Location"] == "/accounts/settings/"
    assert _setting(organization) is True
    page = dashboard.get("/accounts/settings/")
    assert b"Settings saved." in page.content and b"checked" in page.content

    # Ingest now creates the unknown customer.
    signal_ingest(
        organization=Organization.objects.get(pk=organization.pk),
        signals=[{"eventName": "chat", "customer": {"externalCustomerId": "brand-new"}}],
    )
    assert Customer.objects.filter(organization=organization, external_id="brand-new").exists()

    dashboard.post("/accounts/settings/", {})  # an unchecked box is not sent
    assert _setting(organization) is False


def test_over_htmx_a_save_redirects_the_page(dashboard, organization):
    response = dashboard.post("/accounts/settings/", {"auto_create_customers": "on"}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == "/accounts/settings/"
    assert _setting(organization) is True


def test_it_changes_only_the_members_organization(dashboard, organization, other_organization):
    dashboard.post("/accounts/settings/", {"auto_create_customers": "on"})
    assert _setting(organization) is True
    assert _setting(other_organization) is False


def test_it_needs_a_login(organization):
    response = Client().post("/accounts/settings/", {"auto_create_customers": "on"})
    assert response.status_code == 302 and "/login" in response["Location"]
    assert _setting(organization) is False
