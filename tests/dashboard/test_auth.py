import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.accounts.services import api_key_create
from apps.catalog.services import product_create
from apps.customers.services import customer_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(organization):
    customer = customer_create(organization=organization, name="Northwind")
    product = product_create(organization=organization, name="Support agent")
    api_key, _ = api_key_create(organization=organization, name="ci")
    return customer, product, api_key


def _dashboard_urls(customer, product, api_key):
    return [
        "/customers/",
        "/customers/new/",
        f"/customers/{customer.display_id}/",
        f"/customers/{customer.display_id}/edit/",
        f"/customers/{customer.display_id}/delete/",
        "/products/",
        "/products/new/",
        f"/products/{product.display_id}/",
        f"/products/{product.display_id}/edit/",
        "/accounts/api-keys/",
        f"/accounts/api-keys/{api_key.pk}/revoke/",
    ]


def test_every_dashboard_page_requires_login(client, objects):
    for url in _dashboard_urls(*objects):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"/accounts/login/?next={url}"), url


def test_writes_require_login_and_change_nothing(client, objects):
    customer, product, api_key = objects
    assert client.post(f"/customers/{customer.display_id}/delete/").status_code == 302
    assert client.post(f"/products/{product.display_id}/archive/").status_code == 302
    assert client.post(f"/accounts/api-keys/{api_key.pk}/revoke/").status_code == 302
    customer.refresh_from_db()
    product.refresh_from_db()
    api_key.refresh_from_db()
    assert customer.deleted_at is None and product.archived_at is None and api_key.revoked_at is None


def test_home_redirects_to_login_then_to_customers(client, organization):
    assert client.get("/")["Location"] == "/customers/"
    assert client.get("/customers/")["Location"] == "/accounts/login/?next=/customers/"
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content

    response = client.post("/accounts/login/", {"username": "owner@acme.test", "password": "acme-pass-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == "/customers/"
    customers = client.get("/customers/")
    assert customers.status_code == 200
    assert b"Acme AI" in customers.content  # the organization's name in the navigation
    assert b"owner@acme.test" in customers.content


def test_login_follows_next(client, organization):
    response = client.post(
        "/accounts/login/?next=/products/",
        {"username": "owner@acme.test", "password": "acme-pass-123", "next": "/products/"},
    )
    assert response["Location"] == "/products/"


def test_login_email_is_case_insensitive(client, organization):
    response = client.post("/accounts/login/", {"username": " Owner@ACME.test", "password": "acme-pass-123"})
    assert response.status_code == 302
    assert client.get("/customers/").status_code == 200


def test_wrong_password_is_refused(client, organization):
    response = client.post("/accounts/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert "That email and password don" in response.content.decode()
    assert client.get("/customers/").status_code == 302


def test_logout_is_a_post_and_ends_the_session(dashboard):
    page = dashboard.get("/customers/")
    assert b'action="/accounts/logout/"' in page.content
    response = dashboard.post("/accounts/logout/")
    assert response.status_code == 302
    assert dashboard.get("/customers/").status_code == 302


def test_login_without_membership_is_forbidden(db):
    get_user_model().objects.create_user(username="loner@example.test", password="loner-pass-123")
    client = Client()
    client.login(username="loner@example.test", password="loner-pass-123")
    response = client.get("/customers/")
    assert response.status_code == 403
    assert "a member of an organization yet" in response.content.decode()


def test_base_layout(dashboard):
    html = dashboard.get("/customers/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/django_htmx/htmx" in html and "unpkg" not in html and "cdn" not in html.lower()
    assert "/static/css/tally.css" in html
    for label, url in [
        ("Customers", "/customers/"),
        ("Products", "/products/"),
        ("API keys", "/accounts/api-keys/"),
    ]:
        assert f'href="{url}"' in html and label in html
