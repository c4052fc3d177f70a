import pytest
from django.test import Client

HTMX = {"HX-Request": "true"}


@pytest.fixture
def dashboard(organization):
    """A browser logged in as the owner of `organization` (created in tests/conftest.py)."""
    client = Client()
    assert client.login(username="owner@acme.test", password="acme-pass-123")
    return client
