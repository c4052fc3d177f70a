import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create, organization_create


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Tests run with DEBUG off and without `collectstatic`: resolve {% static %} without a manifest.
    A fast hasher keeps logins and organization creation cheap (PBKDF2 costs ~0.3 s each)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def organization(db):
    org, _ = organization_create(
        name="Acme AI", admin_email="owner@acme.test", admin_password="acme-pass-123"
    )
    return org


@pytest.fixture
def other_organization(db):
    org, _ = organization_create(
        name="Globex", admin_email="owner@globex.test", admin_password="globex-pass-123"
    )
    return org


@pytest.fixture
def api_key(organization):
    _, raw_key = api_key_create(organization=organization, name="tests")
    return raw_key


@pytest.fixture
def api(api_key):
    """A DRF test client authenticated as `organization`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_api(other_organization):
    _, raw_key = api_key_create(organization=other_organization, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client
