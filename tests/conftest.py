import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create, organization_create
from apps.credits.selectors import credit_ledger_drift
from tests.ledger import purge_ledger_for_flush


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After every test that used the database, before its data goes (fixture teardown runs inside this hook):
    the credit ledger must reconcile (each balance = the sum of its entries and of its lots), whatever the test
    did; and, for a transactional test on SQLite, clear the ledger rows whose append-only triggers would refuse
    the flush."""
    database_was_opened = "_django_db_helper" in getattr(item, "funcargs", {})  # not when skipped in setup
    drift = []
    if database_was_opened and not item.get_closest_marker("ledger_drift_expected"):
        drift = credit_ledger_drift()
    marker = item.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
    )
    if transactional and database_was_opened:
        purge_ledger_for_flush()
    yield
    if drift:
        raise AssertionError(f"the credit ledger drifted during this test: {drift}")


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
