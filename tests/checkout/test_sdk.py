"""Checkouts through the real `paid-python` client on a live server (§3.7, seed flow §7 (e)): create, get, list by
status, archive; validation errors and another organization's ids in the error envelope."""

from datetime import UTC, datetime, timedelta

import pytest
from paid.errors import BadRequestError, NotFoundError
from paid.types import CheckoutCustomCardInput, CheckoutPlanInput, CheckoutProductInput

from tests.checkout.fixtures import make_catalog
from tests.sdk.conftest import base_url, client, http, make_client, other_client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_get_list_archive(client, organization, settings):  # noqa: F811
    catalog = make_catalog(organization)
    expires = datetime.now(UTC) + timedelta(days=7)
    created = client.checkouts.create_checkout(
        products=[
            CheckoutProductInput(
                id=catalog.product.display_id,
                plans=[
                    CheckoutPlanInput(id=catalog.plan_id("Starter")),
                    CheckoutPlanInput(
                        id=catalog.plan_id("Pro"), features=["2,000 messages", "Priority support"]
                    ),
                ],
            )
        ],
        external_customer_id="acme",
        success_url="https://app.example.com/ok?c={CHECKOUT_ID}",
        cancel_url="https://app.example.com/pricing",
        expires_at=expires,
        metadata={"campaign": "spring"},
        collect_address=True,
        single_use=True,
        currency="USD",
        custom_cards=[
            CheckoutCustomCardInput(
                label="Enterprise", price_text="Custom", button_url="https://x.test/sales"
            )
        ],
    )
    assert created.id.startswith("chk_") and created.status == "active"
    assert created.url.startswith(f"{settings.PUBLIC_BASE_URL}/c/") and created.id not in created.url
    assert created.external_customer_id == "acme" and created.customer_id is None
    assert created.allowed_currencies == ["USD"] and created.single_use and created.collect_address
    assert not created.collect_phone and created.metadata == {"campaign": "spring"}
    assert created.products[0].plans[1].features == ["2,000 messages", "Priority support"]
    assert created.custom_cards[0].label == "Enterprise" and created.custom_cards[0].button_text is None
    assert abs((created.expires_at - expires).total_seconds()) < 1

    details = client.checkouts.get_checkout(created.id)
    assert details.id == created.id and details.order_id is None and details.selected_product is None

    other = client.checkouts.create_checkout(
        products=[CheckoutProductInput(id=catalog.product.display_id)], success_url="https://x.test/ok"
    )
    assert other.allowed_currencies == ["EUR", "USD"] and not other.single_use
    assert [c.id for c in client.checkouts.list_checkouts().data] == [other.id, created.id]

    assert client.checkouts.archive_checkout(created.id) is not None
    assert client.checkouts.get_checkout(created.id).status == "archived"
    assert [c.id for c in client.checkouts.list_checkouts(status="active").data] == [other.id]
    archived = client.checkouts.list_checkouts(status="archived")
    assert [c.id for c in archived.data] == [created.id] and archived.pagination.total == 1


def test_errors_and_other_organizations(client, other_client, organization, http):  # noqa: F811
    catalog = make_catalog(organization)
    product = CheckoutProductInput(id=catalog.product.display_id)
    with pytest.raises(NotFoundError):
        client.checkouts.create_checkout(
            products=[CheckoutProductInput(id="prod_nope")], success_url="https://x.test"
        )
    with pytest.raises(BadRequestError) as caught:
        client.checkouts.create_checkout(products=[product], success_url="not a url")
    assert "successUrl" in caught.value.body["error"]
    with pytest.raises(BadRequestError) as caught:
        client.checkouts.create_checkout(products=[product], success_url="https://x.test", currency="JPY")
    assert caught.value.body["error"].startswith("currency: no offered plan is priced in JPY")
    with pytest.raises(BadRequestError):
        client.checkouts.create_checkout(products=[], success_url="https://x.test")
    assert client.checkouts.list_checkouts().pagination.total == 0

    mine = client.checkouts.create_checkout(products=[product], success_url="https://x.test")
    with pytest.raises(NotFoundError):
        other_client.checkouts.get_checkout(mine.id)
    with pytest.raises(NotFoundError):
        other_client.checkouts.archive_checkout(mine.id)
    assert other_client.checkouts.list_checkouts().data == []
    with pytest.raises(NotFoundError):
        other_client.checkouts.create_checkout(products=[product], success_url="https://x.test")
    assert http.get("checkouts/?status=bogus").status_code == 400


def test_the_customer_state_lists_its_checkout_links(client, organization):  # noqa: F811
    catalog = make_catalog(organization)
    customer = client.customers.create_customer(name="Acme", external_id="acme")
    product = [CheckoutProductInput(id=catalog.product.display_id)]
    by_external_id = client.checkouts.create_checkout(
        products=product, external_customer_id="acme", success_url="https://x.test/ok", single_use=True
    )
    by_id = client.checkouts.create_checkout(
        products=product, customer_id=customer.id, success_url="https://x.test/ok", currency="USD"
    )
    client.checkouts.create_checkout(products=product, success_url="https://x.test/ok")  # nobody's
    client.checkouts.archive_checkout(by_id.id)

    links = client.customers.get_customer_state_by_external_id("acme").checkout_links
    assert [(link.id, link.status, link.single_use) for link in links] == [
        (by_id.id, "archived", False),
        (by_external_id.id, "active", True),
    ]
    assert links[0].url == by_id.url and links[0].allowed_currencies == ["USD"]
    assert links[1].product_ids == [catalog.product.display_id]
    assert client.customers.get_customer_state_by_id(customer.id).checkout_links == links
