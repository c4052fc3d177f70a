import pytest

from apps.catalog.models import Product
from apps.catalog.selectors import product_get, product_get_by_external_id, product_list
from apps.catalog.services import product_archive, product_create, product_unarchive, product_update
from apps.common.exceptions import DomainError, NotFound

pytestmark = pytest.mark.django_db


def test_product_create_update_and_external_id_uniqueness(organization):
    product = product_create(
        organization=organization, name="Agent", external_id="agent", metadata={"a": {"B": 1}}
    )
    assert product.display_id.startswith("prod_") and product.active
    product_update(product=product, description=None, product_code="AG-1")
    product.refresh_from_db()
    assert (product.description, product.product_code, product.metadata) == ("", "AG-1", {"a": {"B": 1}})
    with pytest.raises(DomainError, match="already used"):
        product_create(organization=organization, name="Other", external_id="agent")
    assert Product.objects.count() == 1


def test_archive_and_filters(organization):
    live = product_create(organization=organization, name="Live agent")
    old = product_create(organization=organization, name="Old agent")
    product_archive(product=old)
    assert list(product_list(organization=organization, archived=True)) == [old]
    assert list(product_list(organization=organization, archived=False)) == [live]
    assert list(product_list(organization=organization, active=False)) == [old]
    assert list(product_list(organization=organization, name="LIVE")) == [live]
    product_unarchive(product=old)
    assert product_list(organization=organization, archived=False).count() == 2


def test_products_are_scoped_to_their_organization(organization, other_organization):
    theirs = product_create(organization=other_organization, name="Theirs", external_id="t")
    with pytest.raises(NotFound):
        product_get(organization=organization, product_id=theirs.display_id)
    with pytest.raises(NotFound):
        product_get_by_external_id(organization=organization, external_id="t")
