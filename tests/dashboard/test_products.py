import pytest

from apps.catalog.selectors import product_list
from apps.catalog.services import product_archive, product_create
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    return [product.name for product in response.context["page"].object_list]


def test_list_shows_live_products_and_filters_archived(dashboard, organization, other_organization):
    product_create(organization=organization, name="Support agent")
    product_archive(product=product_create(organization=organization, name="Legacy bot"))
    product_create(organization=other_organization, name="Globex agent")

    assert _names(dashboard.get("/products/")) == ["Support agent"]
    assert _names(dashboard.get("/products/", {"status": "archived"})) == ["Legacy bot"]
    assert _names(dashboard.get("/products/", {"status": "all"})) == ["Legacy bot", "Support agent"]


def test_list_search_over_htmx_returns_the_table_partial(dashboard, organization):
    product_create(organization=organization, name="Support agent")
    product_create(organization=organization, name="Sales agent")
    response = dashboard.get("/products/", {"q": "support"}, headers=HTMX)
    assert [t.name for t in response.templates][:1] == ["catalog/_table.html"]
    assert b"<html" not in response.content
    assert _names(response) == ["Support agent"]


def test_create(dashboard, organization):
    response = dashboard.post(
        "/products/new/",
        {
            "name": "Support agent",
            "description": "Answers tickets",
            "product_code": "SUP-1",
            "external_id": "",
            "active": "on",
            "metadata": '{"team": "cx"}',
        },
        headers=HTMX,
    )
    product = product_list(organization=organization).get()
    assert response["HX-Redirect"] == f"/products/{product.display_id}/"
    assert (product.name, product.description, product.product_code) == (
        "Support agent",
        "Answers tickets",
        "SUP-1",
    )
    assert product.external_id is None and product.active is True and product.metadata == {"team": "cx"}


def test_create_with_errors_writes_nothing(dashboard, organization):
    response = dashboard.post("/products/new/", {"name": "", "metadata": "nope"}, headers=HTMX)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "metadata"}
    assert [t.name for t in response.templates][:1] == ["catalog/_form.html"]
    assert not product_list(organization=organization).exists()


def test_edit(dashboard, organization):
    product = product_create(organization=organization, name="Support agent", product_code="SUP-1")
    form = dashboard.get(f"/products/{product.display_id}/edit/")
    assert b'value="SUP-1"' in form.content

    response = dashboard.post(f"/products/{product.display_id}/edit/", {"name": "Support agent v2"})
    assert response.status_code == 302 and response["Location"] == f"/products/{product.display_id}/"
    product.refresh_from_db()
    assert product.name == "Support agent v2"
    assert product.product_code is None
    assert product.active is False  # an unticked checkbox


def test_duplicate_external_id_is_shown_on_the_field(dashboard, organization):
    product_create(organization=organization, name="One", external_id="sku-1")
    product = product_create(organization=organization, name="Two")
    response = dashboard.post(
        f"/products/{product.display_id}/edit/", {"name": "Two", "external_id": "sku-1"}, headers=HTMX
    )
    assert response.status_code == 200 and response.context["form"].errors["external_id"]
    product.refresh_from_db()
    assert product.external_id is None


def test_archive_and_unarchive(dashboard, organization):
    product = product_create(organization=organization, name="Support agent")
    detail = dashboard.get(f"/products/{product.display_id}/")
    assert f'action="/products/{product.display_id}/archive/"'.encode() in detail.content

    response = dashboard.post(f"/products/{product.display_id}/archive/")
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.archived_at is not None and product.active is False
    detail = dashboard.get(f"/products/{product.display_id}/")
    assert b"Archived" in detail.content and b"Unarchive" in detail.content

    dashboard.post(f"/products/{product.display_id}/unarchive/")
    product.refresh_from_db()
    assert product.archived_at is None


def test_archive_is_post_only(dashboard, organization):
    product = product_create(organization=organization, name="Support agent")
    assert dashboard.get(f"/products/{product.display_id}/archive/").status_code == 405
    product.refresh_from_db()
    assert product.archived_at is None


def test_another_organizations_product_is_404(dashboard, other_organization):
    theirs = product_create(organization=other_organization, name="Globex agent")
    base = f"/products/{theirs.display_id}"
    assert dashboard.get(f"{base}/").status_code == 404
    assert dashboard.get(f"{base}/edit/").status_code == 404
    assert dashboard.post(f"{base}/edit/", {"name": "Hijacked"}).status_code == 404
    assert dashboard.post(f"{base}/archive/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Globex agent" and theirs.archived_at is None
