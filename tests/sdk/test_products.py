"""`client.products` through the real SDK (§3.1): list filters, create, get/update by id and external id."""

import pytest
from paid import Paid
from paid.errors import BadRequestError, NotFoundError

from apps.catalog import services as catalog_services
from apps.catalog.models import Product

METADATA = {
    "family": "agents",
    "limits": {"max_calls": 1000, "burst_rate": 1.5},
    "tags": ["a", {"b_c": None}],
}


def test_create_product_with_every_field(client: Paid, http, organization):
    product = client.products.create_product(
        name="Support Agent",
        description="Answers tickets",
        active=False,
        product_code="SUP-1",
        external_id="support-agent",
        metadata=METADATA,
    )
    assert product.id.startswith("prod_")
    assert (product.name, product.description, product.active) == ("Support Agent", "Answers tickets", False)
    assert (product.product_code, product.external_id) == ("SUP-1", "support-agent")
    assert product.metadata == METADATA
    assert product.archived_at is None

    raw = http.get(f"products/{product.id}").json()
    assert raw["metadata"] == METADATA
    assert raw["productAttributes"] == []
    assert raw["productCode"] == "SUP-1"
    assert Product.objects.get(display_id=product.id).organization_id == organization.pk


def test_create_product_minimal(client: Paid):
    product = client.products.create_product(name="Bare")
    assert product.active is True
    assert product.description in (None, "")
    assert product.external_id is None
    assert product.metadata is None


def test_get_and_update_product_by_id(client: Paid):
    product = client.products.create_product(name="P", description="d", metadata={"a": 1}, product_code="C")

    detail = client.products.get_product_by_id(product.id)
    assert detail.id == product.id
    assert detail.product_attributes == []

    updated = client.products.update_product_by_id(
        product.id, name="P2", active=False, metadata={"a": {"b_c": [1]}}, product_code=None
    )
    assert (updated.name, updated.active, updated.description) == ("P2", False, "d")
    assert updated.metadata == {"a": {"b_c": [1]}}
    assert updated.product_code is None
    assert updated.product_attributes == []

    assert client.products.update_product_by_id(product.id, description=None).description in (None, "")
    assert client.products.update_product_by_id(product.id, metadata=None).metadata is None


def test_product_by_external_id_including_changing_it(client: Paid):
    product = client.products.create_product(name="Ext", external_id="old-ext")
    assert client.products.get_product_by_external_id("old-ext").id == product.id

    updated = client.products.update_product_by_external_id("old-ext", external_id="new-ext", name="Renamed")
    assert (updated.id, updated.external_id, updated.name) == (product.id, "new-ext", "Renamed")
    with pytest.raises(NotFoundError):
        client.products.get_product_by_external_id("old-ext")
    assert client.products.get_product_by_external_id("new-ext").name == "Renamed"


def test_list_products_filters_and_pagination(client: Paid, organization):
    live = client.products.create_product(name="Chat Agent")
    inactive = client.products.create_product(name="chat bot", active=False)
    archived = client.products.create_product(name="Voice Agent")
    catalog_services.product_archive(product=Product.objects.get(display_id=archived.id))

    def ids(**filters) -> set[str]:
        return {p.id for p in client.products.list_products(**filters).data}

    assert ids() == {live.id, inactive.id, archived.id}
    assert ids(name="CHAT") == {live.id, inactive.id}
    assert ids(active=True) == {live.id}
    assert ids(active=False) == {inactive.id, archived.id}
    assert ids(archived=True) == {archived.id}
    assert ids(archived=False) == {live.id, inactive.id}
    assert ids(name="agent", archived=False) == {live.id}
    assert ids(name="agent", active=False) == {archived.id}

    page = client.products.list_products(limit=2)
    assert [p.id for p in page.data] == [archived.id, inactive.id]  # newest first
    assert (page.pagination.limit, page.pagination.total, page.pagination.has_more) == (2, 3, True)
    assert client.products.list_products(limit=2, offset=2).pagination.has_more is False

    listed = {p.id: p for p in client.products.list_products().data}
    assert listed[archived.id].archived_at is not None


def test_unknown_product_is_not_found(client: Paid):
    for call in (
        lambda: client.products.get_product_by_id("prod_missing"),
        lambda: client.products.update_product_by_id("prod_missing", name="x"),
        lambda: client.products.get_product_by_external_id("missing"),
        lambda: client.products.update_product_by_external_id("missing", name="x"),
    ):
        with pytest.raises(NotFoundError):
            call()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "ok", "external_id": ""}, "externalId"),
        ({"name": "ok", "metadata": "not an object"}, "metadata"),
    ],
)
def test_create_product_invalid_body_is_bad_request(client: Paid, fields, field):
    with pytest.raises(BadRequestError) as exc:
        client.products.create_product(**fields)
    assert field in exc.value.body["error"]
    assert not Product.objects.exists()


def test_update_product_with_pricing_is_refused_and_changes_nothing(client: Paid):
    product = client.products.create_product(name="Keep", external_id="keep")
    attribute = {"name": "Calls", "pricing": {"pricingType": "usage", "eventName": "call"}}
    with pytest.raises(BadRequestError) as exc:
        client.products.update_product_by_id(
            product.id,
            name="Changed",
            product_attributes=[attribute],  # type: ignore[list-item]
        )
    assert "productAttributes" in exc.value.body["error"]
    with pytest.raises(BadRequestError):
        client.products.update_product_by_external_id(
            "keep",
            name="Changed",
            product_attributes=[attribute],  # type: ignore[list-item]
        )
    assert Product.objects.get(display_id=product.id).name == "Keep"


def test_duplicate_product_external_id_is_bad_request(client: Paid):
    client.products.create_product(name="One", external_id="dup")
    two = client.products.create_product(name="Two", external_id="two")
    with pytest.raises(BadRequestError) as exc:
        client.products.create_product(name="Three", external_id="dup")
    assert "externalId" in exc.value.body["error"]
    with pytest.raises(BadRequestError):
        client.products.update_product_by_id(two.id, name="Changed", external_id="dup")
    assert Product.objects.count() == 2
    assert Product.objects.get(display_id=two.id).name == "Two"
