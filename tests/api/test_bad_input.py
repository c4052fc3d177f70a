"""Bad input at the HTTP level: every failure is the error envelope with the right status, and writes nothing."""

import json

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.catalog.services import product_create
from apps.customers.models import Customer
from apps.customers.services import contact_create, customer_alias_create, customer_create
from tests.api.conftest import all_rows

pytestmark = pytest.mark.django_db

API = "/api/v2/"


@pytest.fixture
def seeded(organization):
    """One of everything, so item routes have something to address."""
    customer = customer_create(
        organization=organization, name="Acme", external_id="acme", email="a@acme.test"
    )
    customer_alias_create(customer=customer, alias="acme-alias")
    contact = contact_create(
        organization=organization, customer_id=customer.display_id, email="c@acme.test", external_id="con-ext"
    )
    product = product_create(organization=organization, name="Agent", external_id="prod-ext")
    return {"customer": customer.display_id, "contact": contact.display_id, "product": product.display_id}


def assert_envelope(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert isinstance(body, dict)
    assert set(body) <= {"error", "code", "details"}
    assert isinstance(body["error"], str)
    assert body["error"]
    assert all(isinstance(body[key], str) for key in body)
    return body


def send(
    client, method: str, path: str, body=None, *, raw: bytes | None = None, content_type="application/json"
):
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    kwargs = {"content_type": content_type} if data is not None else {}
    return client.generic(method, API + path, data or "", **kwargs)


def _write_routes(seeded) -> list[tuple[str, str]]:
    customer, contact, product = seeded["customer"], seeded["contact"], seeded["product"]
    return [
        ("POST", "customers/"),
        ("PUT", f"customers/{customer}"),
        ("PUT", "customers/external/acme"),
        ("POST", f"customers/{customer}/aliases"),
        ("POST", "customers/external/acme/aliases"),
        ("POST", "contacts/"),
        ("PUT", f"contacts/{contact}"),
        ("PUT", "contacts/external/con-ext"),
        ("POST", "products/"),
        ("PUT", f"products/{product}"),
        ("PUT", "products/external/prod-ext"),
        ("PUT", "customers/acme/users/u1"),
        ("POST", "credits/currencies"),
        ("POST", "plans/"),
        ("POST", "orders/"),
        ("POST", "signals/bulk"),
    ]


# --- malformed bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"name": ', b"{'name': 'single quotes'}", b"\xff\xfe not utf-8", b'{"name": "x"} trailing', b"NaN]"],
)
def test_malformed_json_is_400_on_every_write_route(api, seeded, unchanged, raw):
    with unchanged():
        for method, path in _write_routes(seeded):
            body = assert_envelope(send(api, method, path, raw=raw), 400)
            assert body["code"] == "PARSE_ERROR", (method, path)
            assert "JSON" in body["error"]


@pytest.mark.parametrize("payload", [[], [{"name": "x"}], "a string", 42, 1.5, True, None])
def test_a_body_that_is_not_an_object_is_400_on_every_write_route(api, seeded, unchanged, payload):
    with unchanged():
        for method, path in _write_routes(seeded):
            body = assert_envelope(send(api, method, path, raw=json.dumps(payload).encode()), 400)
            assert "JSON object" in body["error"], (method, path, body)


def test_non_json_content_type_is_415(api, seeded, unchanged):
    with unchanged():
        for content_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ):
            response = send(api, "POST", "customers/", raw=b'{"name": "x"}', content_type=content_type)
            assert assert_envelope(response, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_json_with_charset_is_accepted(api):
    response = send(
        api, "POST", "customers/", {"name": "Charset"}, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201


# --- wrong types ---------------------------------------------------------------------------------------------


def test_a_number_for_a_string_field_is_coerced(api):
    """DRF's CharField takes numbers as their decimal text: harmless, and what a loose client expects."""
    response = send(api, "POST", "customers/", {"name": 123, "externalId": 456})
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["externalId"]) == ("123", "456")


CUSTOMER_WRONG_TYPES = [
    ({"name": {"first": "x"}}, "name"),
    ({"name": ["x"]}, "name"),
    ({"name": True}, "name"),
    ({"name": None}, "name"),
    ({"name": "ok", "metadata": "not an object"}, "metadata"),
    ({"name": "ok", "metadata": [1, 2]}, "metadata"),
    ({"name": "ok", "metadata": 5}, "metadata"),
    ({"name": "ok", "metadata": True}, "metadata"),
    ({"name": "ok", "billingAddress": "1 Main St"}, "billingAddress"),
    ({"name": "ok", "billingAddress": ["1 Main St"]}, "billingAddress"),
    ({"name": "ok", "billingAddress": 7}, "billingAddress"),
    ({"name": "ok", "billingAddress": {"zipCode": {"nested": 1}}}, "billingAddress.zipCode"),
    ({"name": "ok", "billingAddress": {"city": ["x"]}}, "billingAddress.city"),
    ({"name": "ok", "creationState": 1}, "creationState"),
    ({"name": "ok", "creationState": "archived"}, "creationState"),
    ({"name": "ok", "email": {"a": 1}}, "email"),
    ({"name": "ok", "email": "not-an-email"}, "email"),
    ({"name": "ok", "externalId": {"a": 1}}, "externalId"),
    ({"name": "ok", "defaultCurrency": 840}, "defaultCurrency"),
    ({"name": "ok", "defaultCurrency": "dollars"}, "defaultCurrency"),
    ({"name": "ok", "phone": "x" * 65}, "phone"),
]


@pytest.mark.parametrize(("payload", "field"), CUSTOMER_WRONG_TYPES)
def test_customer_create_wrong_types_are_400_naming_the_field(api, seeded, unchanged, payload, field):
    with unchanged():
        body = assert_envelope(send(api, "POST", "customers/", payload), 400)
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"].startswith(f"{field}:"), body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        *[(payload, field) for payload, field in CUSTOMER_WRONG_TYPES[1:] if field != "defaultCurrency"],
        ({"churnDate": "soon"}, "churnDate"),
        ({"churnDate": 1735689600}, "churnDate"),
    ],
)
def test_customer_update_wrong_types_are_400_and_change_nothing(api, seeded, unchanged, payload, field):
    payload = {**payload, "legalName": "Should not be saved"}
    with unchanged():
        for path in (
            f"customers/{seeded['customer']}",
            "customers/external/acme",
            "customers/external/acme-alias",
        ):
            body = assert_envelope(send(api, "PUT", path, payload), 400)
            assert field in body["error"], body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"roles": "BILLING"}, "roles"),
        ({"roles": ["OWNER"]}, "roles"),
        ({"roles": {"BILLING": True}}, "roles"),
        ({"billingAddress": "x"}, "billingAddress"),
        ({"billingAddress": {"street": {"a": 1}}}, "billingAddress.street"),
        ({"customerId": {"a": 1}}, "customerId"),
        ({"email": ["a@b.c"]}, "email"),
        ({"firstName": {"a": 1}}, "firstName"),
    ],
)
def test_contact_wrong_types_are_400(api, seeded, unchanged, payload, field):
    create = {"customerId": seeded["customer"], "email": "new@acme.test", **payload}
    with unchanged():
        assert field in assert_envelope(send(api, "POST", "contacts/", create), 400)["error"]
        assert (
            field in assert_envelope(send(api, "PUT", f"contacts/{seeded['contact']}", payload), 400)["error"]
        )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": {"a": 1}}, "name"),
        ({"active": "maybe"}, "active"),
        ({"active": {"a": 1}}, "active"),
        ({"metadata": []}, "metadata"),
        ({"description": ["x"]}, "description"),
        ({"productCode": {"a": 1}}, "productCode"),
        ({"productAttributes": "x"}, "productAttributes"),
        (
            {"productAttributes": [{"name": "Calls", "pricing": {"pricingType": "usage"}}]},
            "productAttributes",
        ),
    ],
)
def test_product_wrong_types_are_400(api, seeded, unchanged, payload, field):
    with unchanged():
        for path in (f"products/{seeded['product']}", "products/external/prod-ext"):
            assert (
                field in assert_envelope(send(api, "PUT", path, {"name": "Changed", **payload}), 400)["error"]
            )
        if field != "productAttributes":  # not part of the create body: ignored there
            create = {"name": "New", **payload}
            assert field in assert_envelope(send(api, "POST", "products/", create), 400)["error"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"alias": {"a": 1}}, "alias"), ({"alias": ""}, "alias"), ({"alias": "ok", "name": ["x"]}, "name")],
)
def test_alias_wrong_types_are_400(api, seeded, unchanged, payload, field):
    with unchanged():
        for path in (f"customers/{seeded['customer']}/aliases", "customers/external/acme/aliases"):
            assert field in assert_envelope(send(api, "POST", path, payload), 400)["error"]


# --- missing fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("customers/", {}, "name"),
        ("customers/", {"email": "a@b.test"}, "name"),
        ("contacts/", {"email": "a@b.test"}, "customerId"),
        ("contacts/", {"customerId": "cus_x"}, "email"),
        ("products/", {"description": "no name"}, "name"),
        ("customers/external/acme/aliases", {"name": "no alias"}, "alias"),
    ],
)
def test_missing_required_fields_are_400_naming_them(api, seeded, unchanged, path, payload, field):
    with unchanged():
        body = assert_envelope(send(api, "POST", path, payload), 400)
    assert body["error"].startswith(f"{field}:"), body
    assert "required" in body["error"]


def test_empty_body_is_an_empty_object(api, unchanged, db):
    with unchanged():
        body = assert_envelope(api.post(API + "customers/", content_type="application/json"), 400)
    assert body["error"].startswith("name:")


def test_several_errors_are_all_reported(api, unchanged, db):
    with unchanged():
        body = assert_envelope(send(api, "POST", "customers/", {"email": "nope", "metadata": 1}), 400)
    for field in ("name", "email", "metadata"):
        assert field in body["error"]
        assert field in body["details"]


# --- query strings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("customers/?limit=abc", "limit"),
        ("customers/?limit=-1", "limit"),
        ("customers/?offset=-5", "offset"),
        ("customers/?offset=1.5", "offset"),
        ("customers/?status=gone", "status"),
        ("customers/?creationState=archived", "creationState"),
        ("customers/?createdAtFrom=yesterday", "createdAtFrom"),
        ("customers/?createdAtTo=2025-13-45", "createdAtTo"),
        ("contacts/?limit=many", "limit"),
        ("products/?active=maybe", "active"),
        ("products/?archived=2", "archived"),
        ("customers/external/acme/aliases?limit=x", "limit"),
    ],
)
def test_bad_query_parameters_are_400(api, seeded, path, field):
    assert field in assert_envelope(api.get(API + path), 400)["error"]


def test_unknown_query_parameters_are_ignored(api, seeded):
    response = api.get(API + "customers/?somethingNew=1&limit=1")
    assert response.status_code == 200
    assert response.json()["pagination"]["limit"] == 1


def test_an_unencoded_plus_in_a_date_filter_is_read_as_an_offset(api, seeded):
    """`?createdAtFrom=2025-06-01T14:00:00+02:00` sent without encoding decodes the '+' as a space."""
    Customer.objects.update(created_at="2025-06-01T12:00:00Z")
    response = api.get(API + "customers/?createdAtFrom=2025-06-01T14:00:00+02:00")
    assert response.status_code == 200
    assert response.json()["pagination"]["total"] == 1
    assert (
        api.get(API + "customers/?createdAtFrom=2025-06-01T14:00:01+02:00").json()["pagination"]["total"] == 0
    )


# --- body size -----------------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(api, seeded, unchanged, settings):
    settings.API_MAX_BODY_BYTES = 256
    big = {"name": "Big", "metadata": {"blob": "x" * 300}}
    with unchanged():
        for method, path in _write_routes(seeded):
            body = assert_envelope(send(api, method, path, big), 413)
            assert body["code"] == "PAYLOAD_TOO_LARGE", (method, path)
            assert "256" in body["error"]
    small = {"name": "Small", "metadata": {"blob": "x" * 100}}
    assert send(api, "POST", "customers/", small).status_code == 201


def test_body_exactly_at_the_limit_is_accepted(api, settings, db):
    payload = json.dumps({"name": "Edge", "metadata": {"pad": ""}})
    settings.API_MAX_BODY_BYTES = len(payload) + 10
    padded = json.dumps({"name": "Edge", "metadata": {"pad": "x" * 10}})
    assert len(padded) == settings.API_MAX_BODY_BYTES
    assert send(api, "POST", "customers/", raw=padded.encode()).status_code == 201
    too_big = json.dumps({"name": "Edge", "metadata": {"pad": "x" * 11}})
    assert_envelope(send(api, "POST", "customers/", raw=too_big.encode()), 413)


# --- authentication ------------------------------------------------------------------------------------------


@pytest.fixture
def revoked_key(organization):
    api_key, raw_key = api_key_create(organization=organization, name="revoked")
    api_key_revoke(organization=organization, key_id=api_key.pk)
    return raw_key


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token tly_whatever",
        "Bearer tly_unknown",
        "Bearer not-even-our-prefix",
        "REVOKED",
        "Bearer \u00e9\u00e8",
    ],
)
def test_missing_invalid_or_revoked_key_is_401(seeded, unchanged, revoked_key, authorization):
    client = APIClient()
    if authorization == "REVOKED":
        authorization = f"Bearer {revoked_key}"
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    with unchanged():
        for method, path in [
            ("GET", "customers/"),
            ("GET", f"customers/{seeded['customer']}"),
            *_write_routes(seeded),
        ]:
            response = send(client, method, path, {"name": "x", "email": "x@y.test", "alias": "x"})
            body = assert_envelope(response, 401)
            assert body["error"] == "Unauthorized"
            assert response["WWW-Authenticate"].startswith("Bearer")
        assert_envelope(send(client, "DELETE", f"customers/{seeded['customer']}"), 401)


def test_a_valid_key_of_the_other_organization_is_not_a_401(other_api, seeded):
    assert_envelope(other_api.get(API + f"customers/{seeded['customer']}"), 404)


def test_scheme_is_case_insensitive(api_key, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {api_key}")
    assert client.get(API + "customers/").status_code == 200


def test_revocation_takes_effect_on_the_next_request(organization, db):
    api_key, raw_key = api_key_create(organization=organization, name="soon revoked")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(API + "customers/").status_code == 200
    api_key_revoke(organization=organization, key_id=api_key.pk)
    assert_envelope(client.get(API + "customers/"), 401)
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None


# --- unknown routes and methods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "nope/",
        "customers/cus_x/unknown",
        "customers/external/a/b/c",
        "products/prod_x/attributes/x/y",
        "v3/customers",
        "",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_unknown_route_is_404_envelope(seeded, unchanged, api, path, method):
    csrf_enforcing = APIClient(enforce_csrf_checks=True)  # as a real client (the SDK) meets the server
    with unchanged():
        for client in (api, csrf_enforcing):
            body = assert_envelope(send(client, method, path, {"name": "x"}), 404)
            assert body["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "customers/"),
        ("PUT", "customers/"),
        ("PATCH", "customers/"),
        ("PATCH", "customers/{customer}"),
        ("POST", "customers/{customer}"),
        ("POST", "customers/external/acme"),
        ("POST", "customers/{customer}/state"),
        ("DELETE", "customers/{customer}/aliases"),
        ("PUT", "customers/{customer}/aliases/acme-alias"),
        ("GET", "customers/{customer}/aliases/acme-alias"),
        ("DELETE", "contacts/"),
        ("POST", "contacts/{contact}"),
        ("DELETE", "products/"),
        ("DELETE", "products/{product}"),
        ("DELETE", "products/external/prod-ext"),
        ("POST", "products/{product}"),
    ],
)
def test_wrong_method_is_405_envelope(api, seeded, unchanged, method, path):
    path = path.format(**seeded)
    with unchanged():
        response = send(api, method, path, {"name": "x"})
        body = assert_envelope(response, 405)
    assert body["code"] == "METHOD_NOT_ALLOWED"
    assert method not in response["Allow"]


# --- successes: JSON bodies, both slash forms, no redirects -------------------------------------------------


def _success_calls(seeded) -> list[tuple[str, str, dict | None, int]]:
    customer, contact, product = seeded["customer"], seeded["contact"], seeded["product"]
    return [
        ("GET", "customers", None, 200),
        ("POST", "customers", {"name": "New", "externalId": "new-{n}"}, 201),
        ("GET", f"customers/{customer}", None, 200),
        ("PUT", f"customers/{customer}", {"phone": "{n}"}, 200),
        ("GET", "customers/external/acme", None, 200),
        ("PUT", "customers/external/acme", {"phone": "{n}"}, 200),
        ("GET", f"customers/{customer}/state", None, 200),
        ("GET", "customers/external/acme/state", None, 200),
        ("GET", f"customers/{customer}/aliases", None, 200),
        ("POST", f"customers/{customer}/aliases", {"alias": "a-{n}"}, 201),
        ("DELETE", f"customers/{customer}/aliases/a-{{n}}", None, 200),
        ("GET", "customers/external/acme/aliases", None, 200),
        ("POST", "customers/external/acme/aliases", {"alias": "b-{n}"}, 201),
        ("DELETE", "customers/external/acme/aliases/b-{n}", None, 200),
        ("GET", "contacts", None, 200),
        ("POST", "contacts", {"customerId": customer, "email": "x@acme.test", "externalId": "c-{n}"}, 201),
        ("GET", f"contacts/{contact}", None, 200),
        ("PUT", f"contacts/{contact}", {"phone": "{n}"}, 200),
        ("GET", "contacts/external/con-ext", None, 200),
        ("PUT", "contacts/external/con-ext", {"phone": "{n}"}, 200),
        ("DELETE", "contacts/external/c-{n}", None, 200),
        ("GET", "products", None, 200),
        ("POST", "products", {"name": "P"}, 201),
        ("GET", f"products/{product}", None, 200),
        ("PUT", f"products/{product}", {"description": "{n}"}, 200),
        ("GET", "products/external/prod-ext", None, 200),
        ("PUT", "products/external/prod-ext", {"description": "{n}"}, 200),
        ("POST", "customers", {"name": "Doomed", "externalId": "doomed-{n}"}, 201),
        ("DELETE", "customers/external/doomed-{n}", None, 200),
    ]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_every_route_answers_json_in_both_slash_forms_without_redirect(api, seeded, slash):
    n = len(slash)
    for method, path, body, status in _success_calls(seeded):
        path = path.replace("{n}", str(n)) + slash
        if body is not None:
            body = {key: value.replace("{n}", str(n)) for key, value in body.items()}
        response = send(
            api, method, path, body if body is not None else ({} if method in ("POST", "PUT") else None)
        )
        assert response.status_code == status, (method, path, response.status_code, response.content)
        assert response["Content-Type"].startswith("application/json"), (method, path)
        payload = json.loads(response.content)
        assert isinstance(payload, dict), (method, path)
        if method == "DELETE":
            assert payload == {}


def test_delete_by_id_answers_an_empty_object(api, seeded):
    for path in (f"customers/{seeded['customer']}/aliases/acme-alias", f"contacts/{seeded['contact']}"):
        response = api.delete(API + path)
        assert (response.status_code, response.json()) == (200, {})
    response = api.delete(API + f"customers/{seeded['customer']}")
    assert (response.status_code, response.json()) == (200, {})


# --- writes that fail half-way ------------------------------------------------------------------------------


def test_update_that_fails_in_the_service_changes_nothing(api, seeded, organization, unchanged):
    other = customer_create(organization=organization, name="Other", external_id="taken")
    customer_alias_create(customer=other, alias="taken-alias")
    product_create(organization=organization, name="Other", external_id="taken-product")
    with unchanged():
        body = assert_envelope(
            send(api, "PUT", "customers/external/acme", {"name": "Renamed", "externalId": "taken"}), 400
        )
        assert "externalId" in body["error"]
        body = assert_envelope(
            send(api, "PUT", "customers/external/acme", {"name": "Renamed", "externalId": "taken-alias"}), 400
        )
        assert "externalId" in body["error"]
        body = assert_envelope(
            send(
                api, "PUT", "products/external/prod-ext", {"name": "Renamed", "externalId": "taken-product"}
            ),
            400,
        )
        assert "externalId" in body["error"]
        body = assert_envelope(
            send(api, "PUT", "contacts/external/con-ext", {"firstName": "X", "customerId": "cus_nope"}), 400
        )
        assert "customerId" in body["error"]


def test_rows_snapshot_sees_changes(api, seeded):
    """The `unchanged` check itself can fail: a successful update is visible in the snapshot."""
    before = all_rows()
    assert send(api, "PUT", "customers/external/acme", {"name": "Changed"}).status_code == 200
    assert all_rows() != before
