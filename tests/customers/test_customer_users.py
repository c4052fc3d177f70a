import threading

import pytest
from django.db import connection, connections

from apps.common.exceptions import DomainError, NotFound
from apps.customers.models import CustomerUser
from apps.customers.selectors import customer_user_get, customer_user_list
from apps.customers.services import (
    customer_alias_create,
    customer_create,
    customer_delete,
    customer_user_upsert,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme")


def _upsert(organization, user_external_id="u_42", customer_external_id="acme", **fields):
    return customer_user_upsert(
        organization=organization,
        customer_external_id=customer_external_id,
        user_external_id=user_external_id,
        **fields,
    )


def test_first_upsert_inserts_with_defaults(organization, customer):
    user, created = _upsert(organization, name="Bob")
    assert created is True
    assert user.display_id.startswith("cu_")
    assert (user.organization_id, user.customer_id, user.external_id) == (
        organization.pk,
        customer.pk,
        "u_42",
    )
    assert (user.name, user.email, user.metadata, user.status) == ("Bob", None, None, "active")


def test_second_upsert_updates_the_same_row(organization, customer):
    first, _ = _upsert(organization, name="Bob", email="bob@acme.test")
    second, created = _upsert(organization, name="Robert", status="deactivated")
    assert created is False
    assert second.pk == first.pk
    assert CustomerUser.objects.count() == 1
    second.refresh_from_db()
    assert (second.name, second.email, second.status) == ("Robert", "bob@acme.test", "deactivated")
    assert second.updated_at >= first.updated_at


def test_omitted_keys_are_kept_and_null_clears(organization, customer):
    metadata = {"team": {"name": "core", "ids": [1, 2.5, True, None]}}
    _upsert(organization, name="Bob", email="bob@acme.test", metadata=metadata, status="deactivated")

    kept, _ = _upsert(organization)
    assert (kept.name, kept.email, kept.metadata, kept.status) == (
        "Bob",
        "bob@acme.test",
        metadata,
        "deactivated",
    )

    cleared, _ = _upsert(organization, name=None, email=None, metadata=None, status=None)
    cleared.refresh_from_db()
    assert (cleared.name, cleared.email, cleared.metadata) == (None, None, None)
    assert cleared.status == "deactivated"  # a null status keeps it


def test_blank_name_and_email_mean_unset(organization, customer):
    user, _ = _upsert(organization, name="", email="")
    assert (user.name, user.email) == (None, None)


def test_metadata_is_replaced_exactly_even_when_python_calls_it_equal(organization, customer):
    _upsert(organization, metadata={"flag": 1})
    user, _ = _upsert(organization, metadata={"flag": True})
    user.refresh_from_db()
    assert user.metadata == {"flag": True}
    assert user.metadata["flag"] is True


def test_a_no_op_upsert_writes_nothing(organization, customer):
    first, _ = _upsert(organization, name="Bob")
    again, created = _upsert(organization, name="Bob", status=None)
    again.refresh_from_db()
    assert created is False
    assert again.updated_at == first.updated_at


def test_user_external_ids_are_per_customer(organization, customer):
    other = customer_create(organization=organization, name="Globex", external_id="globex")
    mine, _ = _upsert(organization, name="At Acme")
    theirs, created = _upsert(organization, customer_external_id="globex", name="At Globex")
    assert created is True
    assert mine.pk != theirs.pk
    assert theirs.customer_id == other.pk
    assert customer_user_get(customer=customer, user_external_id="u_42").name == "At Acme"


def test_customer_resolves_by_alias(organization, customer):
    customer_alias_create(customer=customer, alias="acme-legacy")
    user, created = _upsert(organization, customer_external_id="acme-legacy")
    assert created is True and user.customer_id == customer.pk
    assert _upsert(organization)[1] is False


def test_unknown_customer_is_not_found(organization, customer):
    with pytest.raises(NotFound):
        _upsert(organization, customer_external_id="nobody", name="Bob")
    assert not CustomerUser.objects.exists()


def test_deleted_customer_is_not_found(organization, customer):
    customer_delete(customer=customer)
    with pytest.raises(NotFound):
        _upsert(organization, name="Bob")
    assert not CustomerUser.objects.exists()


def test_another_organizations_customer_is_not_found(organization, other_organization, customer):
    with pytest.raises(NotFound):
        _upsert(other_organization, name="Spy")
    assert not CustomerUser.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "x" * 256}, "name"),
        ({"name": 42}, "name"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
    ],
)
def test_invalid_fields_are_refused_before_anything_is_written(organization, customer, fields, field):
    _upsert(organization, name="Bob")
    with pytest.raises(DomainError) as raised:
        _upsert(organization, **{"email": "new@acme.test", **fields})
    assert raised.value.field == field
    assert raised.value.status_code == 400
    user = CustomerUser.objects.get()
    assert (user.name, user.email) == ("Bob", None)


def test_invalid_fields_win_over_an_unknown_customer(organization):
    with pytest.raises(DomainError) as raised:
        _upsert(organization, customer_external_id="nobody", status="archived")
    assert raised.value.status_code == 400


def test_overlong_user_external_id_is_refused(organization, customer):
    with pytest.raises(DomainError) as raised:
        _upsert(organization, user_external_id="u" * 256)
    assert raised.value.field == "user_external_id"
    assert not CustomerUser.objects.exists()


def test_unknown_field_is_a_programming_error(organization, customer):
    with pytest.raises(TypeError):
        _upsert(organization, phone="123")


def test_list_and_get(organization, customer):
    _upsert(organization, "u_1")
    _upsert(organization, "u_2")
    assert [u.external_id for u in customer_user_list(customer=customer)] == ["u_1", "u_2"]
    with pytest.raises(NotFound):
        customer_user_get(customer=customer, user_external_id="u_3")


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_user_make_one_row(organization, customer):
    """Several threads upsert the same new user at once: one inserts, the others update; none fails."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts are PostgreSQL's (SQLite serialises every write)")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def upsert(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(_upsert(organization, name=f"writer {index}"))
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upsert, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert CustomerUser.objects.filter(customer=customer).count() == 1
    assert len({user.pk for user, _ in results}) == 1
