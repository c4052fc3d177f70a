"""`client.contacts` through the real SDK (§2.2): all eight methods and their errors."""

import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError
from paid.types import ContactBillingAddress

from apps.customers.models import Contact


@pytest.fixture
def customer(client: Paid):
    return client.customers.create_customer(name="Acme", external_id="acme")


def test_create_contact_with_every_field(client: Paid, http, customer, organization):
    contact = client.contacts.create_contact(
        customer_id=customer.id,
        email="ap@acme.test",
        first_name="Ada",
        last_name="Lovelace",
        phone="+44 20 0000",
        billing_address=ContactBillingAddress(
            street="1 Analytical Way", city="London", state="LDN", country="GB", zip_code="N1"
        ),
        external_id="contact-1",
        roles=["BILLING", "ACCOUNTS_PAYABLE"],
    )
    assert contact.id.startswith("con_")
    assert contact.customer_id == customer.id
    assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", "ap@acme.test")
    assert contact.phone == "+44 20 0000"
    assert contact.external_id == "contact-1"
    assert contact.roles == ["BILLING", "ACCOUNTS_PAYABLE"]
    assert contact.billing_address.street == "1 Analytical Way"
    assert contact.billing_address.zip_code == "N1"

    raw = http.get(f"contacts/{contact.id}").json()
    assert raw["billingAddress"] == {
        "street": "1 Analytical Way",
        "city": "London",
        "state": "LDN",
        "country": "GB",
        "zipCode": "N1",
    }
    assert Contact.objects.get(display_id=contact.id).organization_id == organization.pk


def test_create_contact_minimal(client: Paid, customer):
    contact = client.contacts.create_contact(customer_id=customer.id, email="min@acme.test")
    assert (contact.first_name, contact.last_name) == ("", "")
    assert contact.roles == []
    assert contact.external_id is None
    assert contact.billing_address is None


def test_list_contacts(client: Paid, customer):
    ids = [
        client.contacts.create_contact(customer_id=customer.id, email=f"c{n}@acme.test").id for n in range(3)
    ]
    page = client.contacts.list_contacts()
    assert [c.id for c in page.data] == list(reversed(ids))
    assert (page.pagination.total, page.pagination.has_more) == (3, False)
    page = client.contacts.list_contacts(limit=1, offset=1)
    assert [c.id for c in page.data] == [ids[1]]
    assert (page.pagination.limit, page.pagination.offset, page.pagination.has_more) == (1, 1, True)


def test_get_update_delete_contact_by_id(client: Paid, customer):
    contact = client.contacts.create_contact(
        customer_id=customer.id, email="a@acme.test", first_name="A", phone="1", roles=["BILLING"]
    )
    assert client.contacts.get_contact_by_id(contact.id).email == "a@acme.test"

    other_customer = client.customers.create_customer(name="Beta")
    updated = client.contacts.update_contact_by_id(
        contact.id,
        customer_id=other_customer.id,
        last_name="Z",
        phone=None,
        roles=["ACCOUNTS_PAYABLE"],
        billing_address=ContactBillingAddress(city="Oslo"),
    )
    assert updated.customer_id == other_customer.id
    assert (updated.first_name, updated.last_name) == ("A", "Z")
    assert updated.phone in (None, "")
    assert updated.roles == ["ACCOUNTS_PAYABLE"]
    assert updated.billing_address.city == "Oslo"
    assert updated.email == "a@acme.test"

    assert client.contacts.delete_contact_by_id(contact.id).dict() == {}
    with pytest.raises(NotFoundError):
        client.contacts.get_contact_by_id(contact.id)
    with pytest.raises(NotFoundError):
        client.contacts.delete_contact_by_id(contact.id)
    assert not Contact.objects.exists()


def test_contact_by_external_id_including_changing_it(client: Paid, customer):
    contact = client.contacts.create_contact(customer_id=customer.id, email="e@acme.test", external_id="old")
    assert client.contacts.get_contact_by_external_id("old").id == contact.id

    updated = client.contacts.update_contact_by_external_id("old", external_id="new", first_name="Eve")
    assert (updated.id, updated.external_id, updated.first_name) == (contact.id, "new", "Eve")
    with pytest.raises(NotFoundError):
        client.contacts.get_contact_by_external_id("old")

    assert client.contacts.delete_contact_by_external_id("new").dict() == {}
    with pytest.raises(NotFoundError):
        client.contacts.get_contact_by_external_id("new")
    with pytest.raises(NotFoundError):
        client.contacts.delete_contact_by_external_id("new")


def test_contacts_of_a_deleted_customer_disappear(client: Paid, customer):
    contact = client.contacts.create_contact(customer_id=customer.id, email="x@acme.test")
    client.customers.delete_customer_by_id(customer.id)
    with pytest.raises(NotFoundError):
        client.contacts.get_contact_by_id(contact.id)
    assert client.contacts.list_contacts().data == []


def test_unknown_contact_is_not_found(client: Paid):
    for call in (
        lambda: client.contacts.get_contact_by_id("con_missing"),
        lambda: client.contacts.update_contact_by_id("con_missing", first_name="x"),
        lambda: client.contacts.delete_contact_by_id("con_missing"),
        lambda: client.contacts.get_contact_by_external_id("missing"),
        lambda: client.contacts.update_contact_by_external_id("missing", first_name="x"),
        lambda: client.contacts.delete_contact_by_external_id("missing"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_contact_for_unknown_customer_is_bad_request(client: Paid, customer):
    """create_contact maps only 400 (§2.2): an unknown `customerId` in the body is a bad request naming it."""
    with pytest.raises(BadRequestError) as exc:
        client.contacts.create_contact(customer_id="cus_missing", email="a@acme.test")
    assert "customerId" in exc.value.body["error"]
    assert not Contact.objects.exists()

    contact = client.contacts.create_contact(customer_id=customer.id, email="a@acme.test")
    with pytest.raises(BadRequestError) as exc:
        client.contacts.update_contact_by_id(contact.id, customer_id="cus_missing", first_name="Changed")
    assert "customerId" in exc.value.body["error"]
    row = Contact.objects.get(display_id=contact.id)
    assert (row.customer.display_id, row.first_name) == (customer.id, "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@acme.test", "roles": ["OWNER"]}, "roles"),
        ({"email": "a@acme.test", "external_id": ""}, "externalId"),
        ({"email": "a@acme.test", "first_name": "x" * 151}, "firstName"),
    ],
)
def test_create_contact_invalid_body_is_bad_request(client: Paid, customer, fields, field):
    with pytest.raises(BadRequestError) as exc:
        client.contacts.create_contact(customer_id=customer.id, **fields)
    assert field in exc.value.body["error"]
    assert not Contact.objects.exists()


def test_duplicate_contact_external_id_is_bad_request(client: Paid, customer):
    client.contacts.create_contact(customer_id=customer.id, email="a@acme.test", external_id="dup")
    other = client.contacts.create_contact(customer_id=customer.id, email="b@acme.test", external_id="other")
    with pytest.raises(BadRequestError) as exc:
        client.contacts.create_contact(customer_id=customer.id, email="c@acme.test", external_id="dup")
    assert "externalId" in exc.value.body["error"]
    with pytest.raises(BadRequestError):
        client.contacts.update_contact_by_id(other.id, external_id="dup", first_name="Changed")
    assert Contact.objects.count() == 2
    assert Contact.objects.get(display_id=other.id).first_name == ""


def test_contact_errors_are_typed(client: Paid):
    with pytest.raises(ApiError) as exc:
        client.contacts.get_contact_by_external_id("missing")
    assert type(exc.value) is NotFoundError
