# ruff: noqa: F811 (the SDK fixtures are imported from tests/sdk/conftest.py and taken as arguments)
"""`client.customer_portals` of the real `paid-python` SDK against a live server: the link it returns opens the
portal without a login; another organization's customer is a 404; a bad expiry is a 400."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from paid.errors import BadRequestError, NotFoundError

from apps.checkout.models import CustomerPortal
from tests.billing.fixtures import make_customer
from tests.sdk.conftest import NO_RETRY, base_url, client, make_client, other_client  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_a_portal_and_open_its_link(client, organization):
    customer = make_customer(organization, name="Acme Robotics")
    portal = client.customer_portals.create_customer_portal(
        customer_id=customer.display_id, return_url="https://app.acme.test/billing"
    )
    assert portal.id.startswith("cpl_") and portal.customer_id == customer.display_id
    assert portal.status == "active" and portal.return_url == "https://app.acme.test/billing"
    now = datetime.now(UTC)
    assert now + timedelta(minutes=59) < portal.expires_at <= now + timedelta(hours=1)
    assert portal.created_at <= now + timedelta(seconds=5)
    page = httpx.get(portal.url)  # no API key, no session: the link is the key
    assert page.status_code == 200
    assert "Billing for Acme Robotics" in page.text and 'href="https://app.acme.test/billing"' in page.text

    by_external = client.customer_portals.create_customer_portal(
        external_customer_id="acme", expires_at=now + timedelta(hours=24)
    )
    assert by_external.customer_id == customer.display_id and by_external.url != portal.url
    assert by_external.return_url is None
    assert abs(by_external.expires_at - (now + timedelta(hours=24))) < timedelta(seconds=1)


def test_other_organizations_and_bad_expiries_are_refused(client, other_client, organization):
    customer = make_customer(organization)
    with pytest.raises(NotFoundError):
        other_client.customer_portals.create_customer_portal(
            customer_id=customer.display_id, request_options=NO_RETRY
        )
    with pytest.raises(NotFoundError):
        other_client.customer_portals.create_customer_portal(
            external_customer_id="acme", request_options=NO_RETRY
        )
    with pytest.raises(BadRequestError) as error:
        client.customer_portals.create_customer_portal(
            customer_id=customer.display_id, expires_at=datetime.now(UTC) - timedelta(minutes=1)
        )
    assert error.value.body["error"] == "expiresAt: must be in the future"
    with pytest.raises(BadRequestError) as error:
        client.customer_portals.create_customer_portal()
    assert "customerId or externalCustomerId is required" in error.value.body["error"]
    assert not CustomerPortal.objects.exists()
