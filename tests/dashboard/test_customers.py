import pytest

from apps.common.exceptions import NotFound
from apps.customers.selectors import contact_list, customer_get, customer_list
from apps.customers.services import (
    contact_create,
    customer_alias_create,
    customer_create,
    customer_user_upsert,
)
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    return [customer.name for customer in response.context["page"].object_list]


# --- list, search, pagination ------------------------------------------------------------------------------


def test_list_is_a_full_page_and_htmx_gets_the_table_partial(dashboard, organization):
    customer_create(organization=organization, name="Northwind", email="billing@northwind.test")

    page = dashboard.get("/customers/")
    assert page.status_code == 200
    assert [t.name for t in page.templates][:1] == ["customers/list.html"]
    assert b"<html" in page.content and b"Northwind" in page.content
    assert b'hx-trigger="input changed delay:300ms' in page.content

    partial = dashboard.get("/customers/", headers=HTMX)
    assert partial.status_code == 200
    assert [t.name for t in partial.templates][:1] == ["customers/_table.html"]
    assert b"<html" not in partial.content and b"Northwind" in partial.content
    assert "HX-Request" in partial["Vary"]


def test_search_matches_name_email_and_external_id(dashboard, organization):
    customer_create(organization=organization, name="Northwind", email="ap@northwind.test")
    customer_create(organization=organization, name="Contoso", external_id="crm-42")
    customer_create(organization=organization, name="Fabrikam", email="finance@fabrikam.test")

    assert _names(dashboard.get("/customers/", {"q": "north"}, headers=HTMX)) == ["Northwind"]
    assert _names(dashboard.get("/customers/", {"q": "crm-4"}, headers=HTMX)) == ["Contoso"]
    assert _names(dashboard.get("/customers/", {"q": "fabrikam.test"})) == ["Fabrikam"]
    empty = dashboard.get("/customers/", {"q": "zzz"}, headers=HTMX)
    assert _names(empty) == [] and b"No customers match" in empty.content


def test_search_box_keeps_its_value_on_a_full_page(dashboard, organization):
    page = dashboard.get("/customers/", {"q": "north"})
    assert b'value="north"' in page.content


def test_pagination_is_25_per_page_and_keeps_the_search(dashboard, organization):
    for index in range(30):
        customer_create(organization=organization, name=f"Customer {index:02d}")
    customer_create(organization=organization, name="Unrelated")

    first = dashboard.get("/customers/", {"q": "Customer"})
    assert len(_names(first)) == 25
    assert first.context["page"].paginator.count == 30
    assert b"?q=Customer&amp;page=2" in first.content

    second = dashboard.get("/customers/", {"q": "Customer", "page": 2}, headers=HTMX)
    assert len(_names(second)) == 5
    assert set(_names(first)).isdisjoint(_names(second))
    assert b"<html" not in second.content

    beyond = dashboard.get("/customers/", {"q": "Customer", "page": 99})
    assert _names(beyond) == _names(second)


def test_list_shows_only_this_organizations_live_customers(dashboard, organization, other_organization):
    customer_create(organization=other_organization, name="Globex customer")
    names = _names(dashboard.get("/customers/"))
    assert "Globex customer" not in names


# --- create, edit, delete ----------------------------------------------------------------------------------


def test_create_with_an_invalid_email_shows_the_error_and_writes_nothing(dashboard, organization):
    response = dashboard.post("/customers/new/", {"name": "Northwind", "email": "not-an-email"}, headers=HTMX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][:1] == ["customers/_form.html"]
    assert "email" in response.context["form"].errors
    assert b"Enter a valid email address." in response.content
    assert b'aria-invalid="true"' in response.content
    assert not customer_list(organization=organization).exists()


def test_create_without_htmx_rerenders_the_whole_page(dashboard, organization):
    response = dashboard.post("/customers/new/", {"name": "", "default_currency": "USD"})
    assert response.status_code == 200
    assert b"<html" in response.content and b"This field is required." in response.content
    assert not customer_list(organization=organization).exists()


def test_create_then_redirect_to_the_customer(dashboard, organization):
    response = dashboard.post(
        "/customers/new/",
        {
            "name": "Northwind",
            "email": "billing@northwind.test",
            "external_id": "crm-1",
            "default_currency": "eur",
            "line1": "1 Main St",
            "city": "Springfield",
            "country": "US",
            "metadata": '{"tier": "gold", "seats": 12}',
        },
        headers=HTMX,
    )
    customer = customer_list(organization=organization).get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/customers/{customer.display_id}/"
    assert customer.name == "Northwind"
    assert customer.email == "billing@northwind.test"
    assert customer.external_id == "crm-1"
    assert customer.default_currency == "EUR"
    assert customer.billing_address == {"line1": "1 Main St", "city": "Springfield", "country": "US"}
    assert customer.metadata == {"tier": "gold", "seats": 12}

    detail = dashboard.get(response["HX-Redirect"])
    assert b"Customer \xe2\x80\x9cNorthwind\xe2\x80\x9d created." in detail.content  # the flash notice
    assert b"&quot;tier&quot;: &quot;gold&quot;" in detail.content  # metadata, pretty-printed


def test_create_without_htmx_redirects(dashboard, organization):
    response = dashboard.post("/customers/new/", {"name": "Northwind", "default_currency": "USD"})
    customer = customer_list(organization=organization).get()
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.display_id}/"
    assert customer.external_id is None and customer.billing_address is None and customer.metadata is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"default_currency": "XYZ"}, "default_currency", "not an ISO 4217 currency code"),
        ({"metadata": "[1, 2]"}, "metadata", "Must be a JSON object"),
        ({"metadata": "{oops"}, "metadata", "Not valid JSON"),
    ],
)
def test_create_validation(dashboard, organization, data, field, message):
    response = dashboard.post("/customers/new/", {"name": "Northwind", "default_currency": "USD", **data})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not customer_list(organization=organization).exists()


def test_duplicate_external_id_is_shown_on_the_field(dashboard, organization):
    customer_create(organization=organization, name="First", external_id="crm-1")
    response = dashboard.post(
        "/customers/new/", {"name": "Second", "external_id": "crm-1", "default_currency": "USD"}, headers=HTMX
    )
    assert response.status_code == 200
    assert response.context["form"].errors["external_id"]
    assert customer_list(organization=organization).count() == 1


def test_edit(dashboard, organization):
    customer = customer_create(
        organization=organization,
        name="Northwind",
        external_id="crm-1",
        billing_address={"line1": "1 Main St", "city": "Springfield"},
        metadata={"tier": "gold"},
    )
    form = dashboard.get(f"/customers/{customer.display_id}/edit/")
    assert form.status_code == 200
    assert b'value="Springfield"' in form.content and b"&quot;tier&quot;" in form.content
    assert "default_currency" not in form.context["form"].fields  # chosen once, at creation

    response = dashboard.post(
        f"/customers/{customer.display_id}/edit/",
        {"name": "Northwind Traders", "email": "ap@northwind.test", "city": "Shelbyville", "metadata": ""},
        headers=HTMX,
    )
    assert response["HX-Redirect"] == f"/customers/{customer.display_id}/"
    customer.refresh_from_db()
    assert customer.name == "Northwind Traders"
    assert customer.email == "ap@northwind.test"
    assert customer.external_id is None
    assert customer.billing_address == {"city": "Shelbyville"}
    assert customer.metadata is None


def test_edit_with_errors_changes_nothing(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    response = dashboard.post(f"/customers/{customer.display_id}/edit/", {"name": "   "}, headers=HTMX)
    assert response.status_code == 200 and response.context["form"].errors["name"]
    customer.refresh_from_db()
    assert customer.name == "Northwind"


def test_delete_asks_first_then_soft_deletes(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind", external_id="crm-1")
    customer_alias_create(customer=customer, alias="old-crm-1")

    confirm = dashboard.get(f"/customers/{customer.display_id}/delete/")
    assert confirm.status_code == 200 and b"Delete Northwind?" in confirm.content
    customer.refresh_from_db()
    assert customer.deleted_at is None

    response = dashboard.post(f"/customers/{customer.display_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/customers/"
    customer.refresh_from_db()
    assert customer.deleted_at is not None  # soft: the row stays for invoices and usage
    assert not customer.aliases.exists()
    with pytest.raises(NotFound):
        customer_get(organization=organization, customer_id=customer.display_id)
    assert dashboard.get(f"/customers/{customer.display_id}/").status_code == 404
    assert "Northwind" not in _names(dashboard.get("/customers/"))


def test_delete_over_htmx_redirects_the_browser(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    response = dashboard.post(f"/customers/{customer.display_id}/delete/", headers=HTMX)
    assert response["HX-Redirect"] == "/customers/"


# --- detail, contacts --------------------------------------------------------------------------------------


def test_detail_shows_fields_aliases_and_contacts(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind", vat_number="DE123456789")
    customer_alias_create(customer=customer, alias="legacy-77")
    contact_create(organization=organization, customer_id=customer.display_id, email="ap@northwind.test")

    page = dashboard.get(f"/customers/{customer.display_id}/")
    assert page.status_code == 200
    for text in [customer.display_id, "DE123456789", "legacy-77", "ap@northwind.test", "Add contact"]:
        assert text.encode() in page.content


def test_detail_lists_the_customers_users(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind", external_id="nw")
    other = customer_create(organization=organization, name="Contoso", external_id="contoso")
    customer_user_upsert(
        organization=organization,
        customer_external_id="nw",
        user_external_id="u-ada",
        name="Ada Lovelace",
        email="ada@northwind.test",
    )
    customer_user_upsert(
        organization=organization, customer_external_id="nw", user_external_id="u-gone", status="deactivated"
    )
    customer_user_upsert(
        organization=organization, customer_external_id="contoso", user_external_id="u-contoso"
    )

    page = dashboard.get(f"/customers/{customer.display_id}/")
    assert page.status_code == 200
    assert [u.external_id for u in page.context["customer_users"]] == ["u-ada", "u-gone"]
    content = page.content.decode()
    assert 'id="users"' in content and "2 users" in content
    for text in ["u-ada", "Ada Lovelace", "mailto:ada@northwind.test", "u-gone", "Deactivated"]:
        assert text in content
    assert "u-contoso" not in content

    single = dashboard.get(f"/customers/{other.display_id}/")
    assert "1 user<" in single.content.decode()
    fresh = customer_create(organization=organization, name="Fresh")
    assert b"No users yet." in dashboard.get(f"/customers/{fresh.display_id}/").content


def test_add_contact_over_htmx_returns_the_contacts_panel(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    response = dashboard.post(
        f"/customers/{customer.display_id}/contacts/",
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@northwind.test", "roles": ["BILLING"]},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert [t.name for t in response.templates][:1] == ["customers/_contacts.html"]
    assert b'id="contacts"' in response.content and b"<html" not in response.content
    assert b"ada@northwind.test" in response.content
    contact = contact_list(organization=organization, customer=customer).get()
    assert (contact.full_name, contact.email, contact.roles) == (
        "Ada Lovelace",
        "ada@northwind.test",
        ["BILLING"],
    )


def test_add_contact_with_an_invalid_email_shows_the_error(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    response = dashboard.post(f"/customers/{customer.display_id}/contacts/", {"email": "nope"}, headers=HTMX)
    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert b'<details class="disclosure" open>' in response.content
    assert not contact_list(organization=organization).exists()


def test_add_contact_without_htmx_redirects_to_the_customer(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    response = dashboard.post(f"/customers/{customer.display_id}/contacts/", {"email": "ap@northwind.test"})
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.display_id}/"
    assert contact_list(organization=organization, customer=customer).count() == 1


def test_delete_contact(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    keep = contact_create(organization=organization, customer_id=customer.display_id, email="keep@nw.test")
    drop = contact_create(organization=organization, customer_id=customer.display_id, email="drop@nw.test")

    response = dashboard.post(
        f"/customers/{customer.display_id}/contacts/{drop.display_id}/delete/", headers=HTMX
    )
    assert response.status_code == 200
    assert b"keep@nw.test" in response.content and b"drop@nw.test" not in response.content
    assert list(contact_list(organization=organization)) == [keep]


def test_contact_delete_is_post_only(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    contact = contact_create(organization=organization, customer_id=customer.display_id, email="ap@nw.test")
    response = dashboard.get(f"/customers/{customer.display_id}/contacts/{contact.display_id}/delete/")
    assert response.status_code == 405
    assert contact_list(organization=organization).count() == 1


def test_contact_of_another_customer_is_404(dashboard, organization):
    customer = customer_create(organization=organization, name="Northwind")
    other = customer_create(organization=organization, name="Contoso")
    contact = contact_create(organization=organization, customer_id=other.display_id, email="ap@contoso.test")
    response = dashboard.post(f"/customers/{customer.display_id}/contacts/{contact.display_id}/delete/")
    assert response.status_code == 404
    assert contact_list(organization=organization).count() == 1


# --- tenancy -----------------------------------------------------------------------------------------------


def test_another_organizations_customer_is_404(dashboard, other_organization):
    theirs = customer_create(organization=other_organization, name="Globex customer")
    contact = contact_create(
        organization=other_organization, customer_id=theirs.display_id, email="x@globex.test"
    )
    base = f"/customers/{theirs.display_id}"
    page = dashboard.get(f"{base}/")
    assert page.status_code == 404
    assert "find that page" in page.content.decode()
    assert b"Globex customer" not in page.content
    assert dashboard.get(f"{base}/edit/").status_code == 404
    assert dashboard.post(f"{base}/edit/", {"name": "Hijacked"}).status_code == 404
    assert dashboard.get(f"{base}/delete/").status_code == 404
    assert dashboard.post(f"{base}/delete/").status_code == 404
    assert dashboard.post(f"{base}/contacts/", {"email": "spy@acme.test"}).status_code == 404
    assert dashboard.post(f"{base}/contacts/{contact.display_id}/delete/").status_code == 404

    theirs.refresh_from_db()
    assert theirs.name == "Globex customer" and theirs.deleted_at is None
    assert [c.email for c in contact_list(organization=other_organization)] == ["x@globex.test"]
