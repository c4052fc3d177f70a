from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.exceptions import Conflict, DomainError, NotFound
from apps.customers.models import Contact, Customer, CustomerAlias
from apps.customers.selectors import customer_get, customer_get_by_external_id, customer_list
from apps.customers.services import (
    contact_create,
    customer_alias_create,
    customer_create,
    customer_delete,
    customer_update,
)

pytestmark = pytest.mark.django_db


def test_external_id_is_unique_per_organization_and_a_duplicate_writes_nothing(
    organization, other_organization
):
    customer_create(organization=organization, name="A", external_id="acme")
    with pytest.raises(DomainError, match="already used") as raised:
        customer_create(organization=organization, name="B", external_id="acme")
    assert raised.value.field == "external_id"
    assert Customer.objects.filter(organization=organization).count() == 1
    # Another organization may use the same external id.
    customer_create(organization=other_organization, name="B", external_id="acme")


def test_update_to_a_taken_external_id_is_refused_and_changes_nothing(organization):
    customer_create(organization=organization, name="A", external_id="a")
    b = customer_create(organization=organization, name="B", external_id="b")
    with pytest.raises(DomainError):
        customer_update(customer=b, external_id="a", name="Renamed")
    b.refresh_from_db()
    assert (b.name, b.external_id) == ("B", "b")


def test_null_clears_text_fields_to_empty_strings(organization):
    customer = customer_create(organization=organization, name="A", email=None, phone="123")
    assert customer.email == ""
    customer_update(customer=customer, phone=None)
    customer.refresh_from_db()
    assert customer.phone == ""


def test_delete_is_soft_and_frees_external_id_and_aliases(organization):
    customer = customer_create(organization=organization, name="A", external_id="acme")
    customer_alias_create(customer=customer, alias="acme-old")
    customer_delete(customer=customer)
    assert Customer.objects.filter(pk=customer.pk, deleted_at__isnull=False).exists()
    assert not customer_list(organization=organization).exists()
    with pytest.raises(NotFound):
        customer_get(organization=organization, customer_id=customer.display_id)
    assert not CustomerAlias.objects.exists()
    customer_create(organization=organization, name="A again", external_id="acme")


def test_alias_resolves_and_cannot_shadow_another_customer(organization):
    a = customer_create(organization=organization, name="A", external_id="a")
    b = customer_create(organization=organization, name="B", external_id="b")
    customer_alias_create(customer=a, alias="a-legacy")
    assert customer_get_by_external_id(organization=organization, external_id="a-legacy") == a
    with pytest.raises(Conflict):
        customer_alias_create(customer=b, alias="a-legacy")
    with pytest.raises(Conflict):
        customer_alias_create(customer=b, alias="a")
    assert CustomerAlias.objects.count() == 1


def test_lookups_never_cross_organizations(organization, other_organization):
    theirs = customer_create(organization=other_organization, name="Theirs", external_id="x")
    with pytest.raises(NotFound):
        customer_get(organization=organization, customer_id=theirs.display_id)
    with pytest.raises(NotFound):
        customer_get_by_external_id(organization=organization, external_id="x")
    with pytest.raises(NotFound):
        contact_create(organization=organization, customer_id=theirs.display_id, email="a@b.co")
    assert not Contact.objects.exists()


def test_customer_list_filters(organization):
    a = customer_create(
        organization=organization, name="Alpha Labs", external_id="alpha", email="ap@alpha.io"
    )
    b = customer_create(organization=organization, name="Beta", creation_state="draft")
    customer_update(customer=b, churn_date=timezone.now() - timedelta(days=1))
    assert list(customer_list(organization=organization, name="alpha")) == [a]
    assert list(customer_list(organization=organization, search="ap@alpha")) == [a]
    assert list(customer_list(organization=organization, status="churned")) == [b]
    assert list(customer_list(organization=organization, status="active")) == [a]
    assert list(customer_list(organization=organization, creation_state="draft")) == [b]
    assert list(customer_list(organization=organization, external_id="alpha")) == [a]
    assert list(customer_list(organization=organization)) == [b, a]  # newest first
