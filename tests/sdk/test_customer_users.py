"""`client.customers.upsert_customer_user_by_external_id` through the real SDK (§2.1): PUT
`customers/{customerExternalId}/users/{userExternalId}`, with no `external/` segment."""

from datetime import UTC, datetime, timedelta

import pytest
from paid import Paid
from paid.errors import BadRequestError, NotFoundError

from apps.customers.models import CustomerUser

METADATA = {
    "role": "analyst",
    "seats": 3,
    "ratio": 0.5,
    "flags": [True, False, None],
    "nested": {"snake_case_key": {"deeperKey": [1, {"x_y": "z"}]}, "emptyObject": {}, "emptyList": []},
}


@pytest.fixture
def acme(client: Paid):
    return client.customers.create_customer(name="Acme", external_id="acme")


def test_upsert_inserts_then_updates(client: Paid, acme, organization):
    before = datetime.now(UTC) - timedelta(seconds=5)
    inserted = client.customers.upsert_customer_user_by_external_id(
        "acme", "u_42", name="Bob", email="bob@acme.test", metadata=METADATA
    )
    assert inserted.created is True
    assert inserted.id.startswith("cu_")
    assert (inserted.external_id, inserted.customer_external_id) == ("u_42", "acme")
    assert (inserted.name, inserted.email, inserted.status) == ("Bob", "bob@acme.test", "active")
    assert inserted.metadata == METADATA
    assert inserted.created_at >= before
    assert inserted.created_at.tzinfo is not None

    updated = client.customers.upsert_customer_user_by_external_id("acme", "u_42", status="deactivated")
    assert updated.created is False
    assert updated.id == inserted.id
    assert updated.status == "deactivated"
    # Omitted keys are kept.
    assert (updated.name, updated.email, updated.metadata) == ("Bob", "bob@acme.test", METADATA)
    assert updated.created_at == inserted.created_at
    assert updated.updated_at >= inserted.updated_at

    row = CustomerUser.objects.get()
    assert (row.organization_id, row.customer.display_id) == (organization.pk, acme.id)
    assert row.metadata == METADATA


def test_null_clears_and_status_null_keeps(client: Paid, acme):
    client.customers.upsert_customer_user_by_external_id(
        "acme", "u_1", name="Ann", email="ann@acme.test", metadata={"k": 1}, status="deactivated"
    )
    cleared = client.customers.upsert_customer_user_by_external_id(
        "acme", "u_1", name=None, email=None, metadata=None, status=None
    )
    assert (cleared.name, cleared.email, cleared.metadata) == (None, None, None)
    assert cleared.status == "deactivated"
    assert cleared.created is False


def test_empty_body_inserts_an_active_user(client: Paid, acme, http):
    bare = client.customers.upsert_customer_user_by_external_id("acme", "u_bare")
    assert bare.created is True
    assert (bare.name, bare.email, bare.metadata, bare.status) == (None, None, None, "active")

    # The wire form: camelCase keys, 200 on insert and on update alike, UTC timestamps.
    for expected_created in (True, False):
        response = http.put("customers/acme/users/u_wire", json={"name": "Wire"})
        assert response.status_code == 200
        body = response.json()
        assert body["created"] is expected_created
        assert set(body) == {
            "id",
            "externalId",
            "customerExternalId",
            "name",
            "email",
            "metadata",
            "status",
            "created",
            "createdAt",
            "updatedAt",
        }
        assert body["createdAt"].endswith("Z")


def test_users_are_per_customer(client: Paid, acme):
    client.customers.create_customer(name="Globex", external_id="globex")
    at_acme = client.customers.upsert_customer_user_by_external_id("acme", "u_1", name="At Acme")
    at_globex = client.customers.upsert_customer_user_by_external_id("globex", "u_1", name="At Globex")
    assert at_globex.created is True
    assert at_globex.id != at_acme.id
    assert at_globex.customer_external_id == "globex"
    assert client.customers.upsert_customer_user_by_external_id("acme", "u_1").name == "At Acme"


def test_customer_addressed_by_alias(client: Paid, acme):
    client.customers.create_customer_alias(acme.id, alias="acme-legacy")
    user = client.customers.upsert_customer_user_by_external_id("acme-legacy", "u_1")
    assert user.created is True
    assert user.customer_external_id == "acme"  # the customer's own external id
    assert client.customers.upsert_customer_user_by_external_id("acme", "u_1").created is False

    # A customer without an external id, addressed by an alias: the id the caller used.
    bare = client.customers.create_customer(name="No external id")
    client.customers.create_customer_alias(bare.id, alias="only-alias")
    assert (
        client.customers.upsert_customer_user_by_external_id("only-alias", "u_1").customer_external_id
        == "only-alias"
    )


def test_ids_with_spaces_and_unicode(client: Paid):
    client.customers.create_customer(name="Odd", external_id="team a · ünïcode")
    user = client.customers.upsert_customer_user_by_external_id("team a · ünïcode", "jöhn doe@x")
    assert (user.customer_external_id, user.external_id) == ("team a · ünïcode", "jöhn doe@x")


def test_unknown_customer_is_not_found(client: Paid, acme):
    with pytest.raises(NotFoundError) as exc:
        client.customers.upsert_customer_user_by_external_id("nobody", "u_1", name="Bob")
    assert exc.value.status_code == 404
    assert "nobody" in exc.value.body["error"]
    # A display id is not an external id on this route.
    with pytest.raises(NotFoundError):
        client.customers.upsert_customer_user_by_external_id(acme.id, "u_1")
    assert not CustomerUser.objects.exists()


def test_deleted_customer_is_not_found(client: Paid, acme):
    client.customers.delete_customer_by_external_id("acme")
    with pytest.raises(NotFoundError):
        client.customers.upsert_customer_user_by_external_id("acme", "u_1")
    assert not CustomerUser.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "x" * 256}, "name"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
    ],
)
def test_invalid_body_is_bad_request_naming_the_field(client: Paid, acme, fields, field):
    client.customers.upsert_customer_user_by_external_id("acme", "u_1", name="Keep")
    with pytest.raises(BadRequestError) as exc:
        client.customers.upsert_customer_user_by_external_id("acme", "u_1", **{"name": "Changed", **fields})
    assert field in exc.value.body["error"]
    with pytest.raises(BadRequestError):
        client.customers.upsert_customer_user_by_external_id("acme", "u_new", **fields)
    assert [(u.external_id, u.name) for u in CustomerUser.objects.all()] == [("u_1", "Keep")]


def test_unknown_body_keys_are_ignored(client: Paid, acme):
    user = client.customers.upsert_customer_user_by_external_id(
        "acme", "u_1", name="Bob", request_options={"additional_body_parameters": {"id": "cu_forged", "x": 1}}
    )
    assert user.id != "cu_forged"
    assert user.name == "Bob"


def test_neighbouring_customer_routes_still_resolve(client: Paid, http):
    """`customers/{eid}/users/{uid}` has three segments after `customers/`, like `customers/external/{eid}/state`
    and `customers/{id}/aliases/{alias}`: the literal routes keep winning."""
    users = client.customers.create_customer(name="Named users", external_id="users")
    client.customers.create_customer_alias(users.id, alias="users-alias")

    # Customer "users": its state and aliases, by external id and by display id.
    assert client.customers.get_customer_state_by_external_id("users").customer.id == users.id
    assert [a.alias for a in client.customers.list_customer_aliases_by_external_id("users").data] == [
        "users-alias"
    ]
    assert client.customers.get_customer_by_external_id("users").id == users.id
    assert client.customers.get_customer_state_by_id(users.id).customer.id == users.id
    assert http.get(f"customers/{users.id}/aliases").json()["pagination"]["total"] == 1
    assert client.customers.delete_customer_alias(users.id, "users-alias").dict() == {}

    # A customer whose external id is "external" still gets its users (any user id but "state"/"aliases").
    external = client.customers.create_customer(name="Named external", external_id="external")
    user = client.customers.upsert_customer_user_by_external_id("external", "u_1", name="Ext")
    assert (user.customer_external_id, user.created) == ("external", True)
    assert CustomerUser.objects.get().customer.display_id == external.id

    # A user route answers PUT only; a GET is a 405 in the error envelope, not someone else's route.
    response = http.get("customers/acme/users/u_1")
    assert response.status_code == 405
    assert "error" in response.json()
    # Both slash forms, never a redirect.
    response = http.put("customers/external/users/u_2/", json={})
    assert (response.status_code, response.json()["created"]) == (200, True)
    assert not response.history
