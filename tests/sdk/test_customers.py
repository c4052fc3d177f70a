"""`client.customers` through the real SDK (§2.1): every method Tally serves, and the errors it maps."""

from datetime import UTC, datetime, timedelta

import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, ConflictError, NotFoundError
from paid.types import CustomerBillingAddressInput

from apps.customers.models import Customer, CustomerAlias
from tests.sdk.conftest import NO_RETRY

METADATA = {
    "plan_tier": "gold",
    "seats": 12,
    "ratio": 0.25,
    "flags": [True, False, None],
    "nested": {"snake_case_key": {"deeperKey": [1, {"x_y": "z"}]}, "emptyObject": {}, "emptyList": []},
}


def _create(client: Paid, name: str = "Acme", **fields):
    return client.customers.create_customer(name=name, **fields)


def test_create_customer_with_every_field_round_trips(client: Paid, http, organization):
    created = client.customers.create_customer(
        name="Acme Corp",
        legal_name="Acme Corporation Ltd",
        email="billing@acme.test",
        phone="+1 555 0100",
        website="https://acme.test",
        external_id="acme-1",
        billing_address=CustomerBillingAddressInput(
            line1="1 Main St", line2="Suite 2", city="Springfield", state="IL", zip_code="62701", country="US"
        ),
        creation_state="draft",
        vat_number="EU123456",
        metadata=METADATA,
        default_currency="EUR",
    )

    assert created.id.startswith("cus_")
    assert (created.name, created.legal_name, created.email) == (
        "Acme Corp",
        "Acme Corporation Ltd",
        "billing@acme.test",
    )
    assert (created.phone, created.website, created.external_id) == (
        "+1 555 0100",
        "https://acme.test",
        "acme-1",
    )
    assert created.creation_state == "draft"
    assert created.status == "active"
    assert created.vat_number == "EU123456"
    assert created.default_currency == "EUR"
    assert created.metadata == METADATA
    assert created.churn_date is None
    assert created.billing_address is not None
    assert created.billing_address.zip_code == "62701"
    assert created.billing_address.line2 == "Suite 2"
    assert created.created_at.tzinfo is not None

    # The wire form: declared keys camelCase, free-form metadata exactly as sent.
    raw = http.get(f"customers/{created.id}").json()
    assert raw["billingAddress"] == {
        "line1": "1 Main St",
        "line2": "Suite 2",
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "US",
    }
    assert raw["metadata"] == METADATA
    assert raw["connections"] == {}
    assert raw["createdAt"].endswith("Z")

    row = Customer.objects.get(display_id=created.id)
    assert row.organization_id == organization.pk
    assert row.metadata == METADATA
    assert row.default_currency == "EUR"


def test_create_customer_with_name_only_fills_required_fields(client: Paid):
    created = _create(client, "Bare")
    assert (created.email, created.phone, created.website) == ("", "", "")
    assert created.default_currency == "USD"
    assert created.creation_state == "active"
    assert created.status == "active"
    assert created.external_id is None
    assert created.billing_address is None
    assert created.metadata is None
    assert created.connections.stripe is None


def test_create_customer_ignores_unknown_body_keys(client: Paid):
    created = client.customers.create_customer(
        name="Extra", request_options={"additional_body_parameters": {"somethingNew": 1, "id": "cus_forged"}}
    )
    assert created.id != "cus_forged"


def test_get_update_delete_customer_by_id(client: Paid):
    created = _create(
        client, "Before", email="a@acme.test", legal_name="Legal", external_id="c-1", metadata={"k": 1}
    )

    fetched = client.customers.get_customer_by_id(created.id)
    assert fetched.id == created.id
    assert fetched.email == "a@acme.test"

    churn = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)
    updated = client.customers.update_customer_by_id(
        created.id,
        name="After",
        legal_name=None,
        churn_date=churn,
        billing_address=CustomerBillingAddressInput(city="Paris", country="FR"),
        metadata={"k": {"nested_value": [1, 2]}},
        creation_state="draft",
    )
    assert updated.name == "After"
    assert updated.legal_name in (None, "")
    assert updated.email == "a@acme.test"  # not sent: unchanged
    assert updated.external_id == "c-1"
    assert updated.churn_date == churn
    assert updated.status == "churned"
    assert updated.creation_state == "draft"
    assert updated.billing_address.city == "Paris"
    assert updated.billing_address.line1 is None
    assert updated.metadata == {"k": {"nested_value": [1, 2]}}
    assert updated.updated_at >= created.updated_at

    cleared = client.customers.update_customer_by_id(
        created.id, metadata=None, billing_address=None, churn_date=None
    )
    assert cleared.metadata is None
    assert cleared.billing_address is None
    assert cleared.status == "active"
    assert cleared.name == "After"

    deleted = client.customers.delete_customer_by_id(created.id)
    assert deleted.dict() == {}
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_id(created.id)
    with pytest.raises(NotFoundError):
        client.customers.delete_customer_by_id(created.id)
    assert client.customers.list_customers().pagination.total == 0


def test_customer_by_external_id_including_changing_it(client: Paid):
    created = _create(client, "Ext", external_id="ext-old", email="e@acme.test")

    assert client.customers.get_customer_by_external_id("ext-old").id == created.id

    updated = client.customers.update_customer_by_external_id("ext-old", external_id="ext-new", phone="123")
    assert updated.id == created.id
    assert updated.external_id == "ext-new"
    assert updated.phone == "123"
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_external_id("ext-old")
    assert client.customers.get_customer_by_external_id("ext-new").phone == "123"

    # The old external id is free again.
    other = _create(client, "Reuse", external_id="ext-old")
    assert client.customers.get_customer_by_external_id("ext-old").id == other.id

    assert client.customers.delete_customer_by_external_id("ext-new").dict() == {}
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_external_id("ext-new")
    assert Customer.objects.get(display_id=created.id).deleted_at is not None
    # A deleted customer's external id can be taken by a new one.
    assert _create(client, "Again", external_id="ext-new").external_id == "ext-new"


def test_external_ids_with_spaces_and_unicode(client: Paid):
    created = _create(client, "Odd", external_id="team a · ünïcode")
    assert client.customers.get_customer_by_external_id("team a · ünïcode").id == created.id


def test_list_customers_envelope_and_pagination(client: Paid):
    ids = [_create(client, f"Customer {n}").id for n in range(5)]

    page = client.customers.list_customers(limit=2, offset=1)
    assert [c.id for c in page.data] == list(reversed(ids))[1:3]  # newest first
    assert (page.pagination.limit, page.pagination.offset, page.pagination.total) == (2, 1, 5)
    assert page.pagination.has_more is True

    last = client.customers.list_customers(limit=2, offset=4)
    assert len(last.data) == 1
    assert last.pagination.has_more is False

    default = client.customers.list_customers()
    assert default.pagination.limit == 50
    assert default.pagination.offset == 0
    assert client.customers.list_customers(limit=1000).pagination.limit == 200


def test_list_customers_filters(client: Paid):
    alpha = _create(client, "Alpha Robotics", external_id="alpha")
    beta = _create(client, "beta robotics", external_id="alpha-2", creation_state="draft")
    gamma = _create(client, "Gamma", external_id="gamma")
    client.customers.update_customer_by_id(gamma.id, churn_date=datetime(2025, 1, 1, tzinfo=UTC))
    future_churn = _create(client, "Delta")
    client.customers.update_customer_by_id(future_churn.id, churn_date=datetime.now(UTC) + timedelta(days=30))
    Customer.objects.filter(display_id=alpha.id).update(created_at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    Customer.objects.filter(display_id=beta.id).update(created_at=datetime(2025, 6, 30, tzinfo=UTC))
    Customer.objects.filter(display_id=gamma.id).update(created_at=datetime(2025, 7, 15, tzinfo=UTC))

    def ids(**filters) -> set[str]:
        return {c.id for c in client.customers.list_customers(**filters).data}

    assert ids(name="ROBOTICS") == {alpha.id, beta.id}
    assert ids(name="alph") == {alpha.id}
    assert ids(status="churned") == {gamma.id}
    assert ids(status="active") == {alpha.id, beta.id, future_churn.id}
    assert ids(creation_state="draft") == {beta.id}
    assert ids(creation_state="active") == {alpha.id, gamma.id, future_churn.id}
    assert ids(external_id="alpha") == {alpha.id}  # exact, not a prefix
    assert ids(external_id="alph") == set()
    assert ids(created_at_from="2025-06-30") == {beta.id, gamma.id, future_churn.id}
    assert ids(created_at_to="2025-06-30") == {alpha.id, beta.id}  # on or before 2025-06-30T00:00Z
    assert ids(created_at_from="2025-06-01", created_at_to="2025-07-01") == {alpha.id, beta.id}
    # Datetimes with an offset (the '+' must survive the query string): 2025-06-01T14:00+02:00 = 12:00Z.
    assert ids(created_at_from="2025-06-01T14:00:00+02:00", created_at_to="2025-06-01T12:00:00Z") == {
        alpha.id
    }
    assert ids(created_at_to="2025-06-01T11:59:59.999999Z") == set()
    assert ids(name="robotics", creation_state="draft", external_id="alpha-2") == {beta.id}
    assert client.customers.list_customers(name="robotics", limit=1).pagination.total == 2


def test_list_customers_rejects_bad_filters(client: Paid):
    with pytest.raises(BadRequestError) as exc:
        client.customers.list_customers(created_at_from="last tuesday")
    assert "createdAtFrom" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.customers.list_customers(status="gone")
    assert "status" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.customers.list_customers(limit=-1)
    assert "limit" in exc.value.body["error"]


def test_customer_state_by_id_and_external_id(client: Paid):
    created = _create(
        client,
        "Stateful",
        external_id="st-1",
        default_currency="GBP",
        billing_address=CustomerBillingAddressInput(line1="2 High St", zip_code="SW1"),
    )
    before = datetime.now(UTC) - timedelta(seconds=5)

    for state in (
        client.customers.get_customer_state_by_id(created.id),
        client.customers.get_customer_state_by_external_id("st-1"),
    ):
        assert state.customer.id == created.id
        assert state.customer.name == "Stateful"
        assert state.customer.external_id == "st-1"
        assert state.customer.billing_address.zip_code == "SW1"
        assert state.default_currency == "GBP"
        assert state.orders == []
        assert (state.seats.total, state.seats.assigned, state.seats.unassigned) == (0, 0, 0)
        assert state.checkout_links == []
        assert state.credits.balances == []
        assert state.timestamp >= before

    with pytest.raises(NotFoundError):
        client.customers.get_customer_state_by_id("cus_doesnotexist")
    with pytest.raises(NotFoundError):
        client.customers.get_customer_state_by_external_id("nobody")


def test_customer_aliases_by_id_and_external_id(client: Paid, organization):
    created = _create(client, "Aliased", external_id="main-id")
    other = _create(client, "Other", external_id="other-id")

    by_id = client.customers.create_customer_alias(
        created.id, alias="legacy-42", name="Legacy CRM", description="Id in the old CRM"
    )
    assert by_id.alias == "legacy-42"
    assert by_id.customer_id == created.id
    assert (by_id.name, by_id.description) == ("Legacy CRM", "Id in the old CRM")
    by_eid = client.customers.create_customer_alias_by_external_id("main-id", alias="stripe-cus-9")
    assert by_eid.customer_id == created.id
    assert by_eid.name in (None, "")

    for page in (
        client.customers.list_customer_aliases(created.id),
        client.customers.list_customer_aliases_by_external_id("main-id"),
    ):
        assert [a.alias for a in page.data] == ["legacy-42", "stripe-cus-9"]
        assert page.pagination.total == 2
    assert (
        client.customers.list_customer_aliases(created.id, limit=1, offset=1).data[0].alias == "stripe-cus-9"
    )
    assert client.customers.list_customer_aliases(other.id).data == []

    # An alias resolves wherever an external id addresses the customer.
    assert client.customers.get_customer_by_external_id("legacy-42").id == created.id
    assert client.customers.get_customer_state_by_external_id("stripe-cus-9").customer.id == created.id
    # …but the list filter `externalId` is the customer's own external id, exactly.
    assert client.customers.list_customers(external_id="legacy-42").data == []

    assert client.customers.delete_customer_alias(created.id, "legacy-42").dict() == {}
    assert client.customers.delete_customer_alias_by_external_id("main-id", "stripe-cus-9").dict() == {}
    assert not CustomerAlias.objects.filter(organization=organization).exists()
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_external_id("legacy-42")
    with pytest.raises(NotFoundError):
        client.customers.delete_customer_alias(created.id, "legacy-42")
    with pytest.raises(NotFoundError):
        client.customers.delete_customer_alias_by_external_id("main-id", "stripe-cus-9")


def test_alias_conflicts(client: Paid):
    first = _create(client, "First", external_id="first")
    second = _create(client, "Second", external_id="second")
    client.customers.create_customer_alias(first.id, alias="shared")

    for alias in ("shared", "second", "first"):
        with pytest.raises(ConflictError) as exc:
            client.customers.create_customer_alias(second.id, alias=alias, request_options=NO_RETRY)
        assert "alias" in exc.value.body["error"]
    with pytest.raises(ConflictError):
        client.customers.create_customer_alias_by_external_id(
            "second", alias="shared", request_options=NO_RETRY
        )
    assert [a.alias for a in client.customers.list_customer_aliases(second.id).data] == []

    # An external id may not take a value that already resolves (as an alias) to another customer.
    with pytest.raises(BadRequestError) as exc:
        _create(client, "Third", external_id="shared")
    assert "externalId" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.customers.update_customer_by_id(second.id, external_id="shared")
    assert "externalId" in exc.value.body["error"]
    assert client.customers.get_customer_by_id(second.id).external_id == "second"
    assert client.customers.get_customer_by_external_id("shared").id == first.id


def test_aliases_of_unknown_customer_are_not_found(client: Paid):
    with pytest.raises(NotFoundError):
        client.customers.list_customer_aliases("cus_missing")
    with pytest.raises(NotFoundError):
        client.customers.create_customer_alias("cus_missing", alias="x")
    with pytest.raises(NotFoundError):
        client.customers.create_customer_alias_by_external_id("missing", alias="x")
    with pytest.raises(NotFoundError):
        client.customers.list_customer_aliases_by_external_id("missing")
    with pytest.raises(NotFoundError):
        client.customers.delete_customer_alias("cus_missing", "x")
    assert not CustomerAlias.objects.exists()


def test_deleting_a_customer_frees_its_aliases(client: Paid):
    created = _create(client, "Gone", external_id="gone")
    client.customers.create_customer_alias(created.id, alias="gone-alias")
    client.customers.delete_customer_by_id(created.id)
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_external_id("gone-alias")
    fresh = _create(client, "Fresh", external_id="fresh")
    assert client.customers.create_customer_alias(fresh.id, alias="gone-alias").customer_id == fresh.id


def test_unknown_customer_is_not_found(client: Paid):
    for call in (
        lambda: client.customers.get_customer_by_id("cus_doesnotexist"),
        lambda: client.customers.update_customer_by_id("cus_doesnotexist", name="x"),
        lambda: client.customers.delete_customer_by_id("cus_doesnotexist"),
        lambda: client.customers.get_customer_by_external_id("nobody"),
        lambda: client.customers.update_customer_by_external_id("nobody", name="x"),
        lambda: client.customers.delete_customer_by_external_id("nobody"),
    ):
        with pytest.raises(NotFoundError) as exc:
            call()
        assert exc.value.status_code == 404
        assert isinstance(exc.value.body["error"], str)
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "ok", "email": "not-an-email"}, "email"),
        ({"name": "ok", "creation_state": "archived"}, "creationState"),
        ({"name": "ok", "default_currency": "XXQ"}, "defaultCurrency"),
        ({"name": "ok", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"name": "ok", "external_id": ""}, "externalId"),
    ],
)
def test_create_customer_invalid_body_is_bad_request(client: Paid, fields, field):
    with pytest.raises(BadRequestError) as exc:
        client.customers.create_customer(**fields)
    assert field in exc.value.body["error"]
    assert not Customer.objects.exists()


def test_update_customer_invalid_body_changes_nothing(client: Paid):
    created = _create(client, "Keep", email="keep@acme.test", external_id="keep")
    _create(client, "Taken", external_id="taken")

    with pytest.raises(BadRequestError) as exc:
        client.customers.update_customer_by_id(created.id, name="Changed", email="nope")
    assert "email" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.customers.update_customer_by_external_id("keep", name="Changed", external_id="taken")
    assert "externalId" in exc.value.body["error"]
    with pytest.raises(BadRequestError) as exc:
        client.customers.update_customer_by_id(created.id, name=None)
    assert "name" in exc.value.body["error"]

    row = Customer.objects.get(display_id=created.id)
    assert (row.name, row.email, row.external_id) == ("Keep", "keep@acme.test", "keep")


def test_duplicate_external_id_on_create_is_bad_request(client: Paid):
    _create(client, "One", external_id="dup")
    with pytest.raises(BadRequestError) as exc:
        _create(client, "Two", external_id="dup")
    assert "externalId" in exc.value.body["error"]
    assert Customer.objects.count() == 1


def test_errors_are_not_mistyped(client: Paid):
    """404 and 400 map to their typed exceptions (both subclasses of ApiError), never a bare ApiError."""
    with pytest.raises(ApiError) as exc:
        client.customers.get_customer_by_id("cus_nope")
    assert type(exc.value) is NotFoundError
