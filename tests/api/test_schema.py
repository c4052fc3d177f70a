"""The OpenAPI schema: generated without warnings, one operation per route, named and shaped like the SDK."""

import re
from pathlib import Path

import paid
import pytest
import yaml
from django.core.management import call_command

from apps.common.api import PAID_SLASHED_PATHS, route
from apps.common.openapi import TALLY_EXTENSION, postprocess_schema
from config import api_urls

API = "/api/v2/"
SDK_ROOT = Path(paid.__file__).parent
_SDK_REQUEST = re.compile(r'httpx_client\.request\(\s*f?"([^"]*)",\s*method="(\w+)"')


def _sdk_operations() -> dict[tuple[str, str], str]:
    """(METHOD, path with `{}` for parameters) → SDK method name, read from the installed paid-python clients."""
    operations = {}
    for raw_client in SDK_ROOT.glob("*/raw_client.py"):
        sync_client = raw_client.read_text().split("\nclass AsyncRaw")[0]
        for block in sync_client.split("\n    def ")[1:]:
            name = block.split("(", 1)[0]
            if match := _SDK_REQUEST.search(block):
                path = re.sub(r"\{[^}]*\}", "{}", match.group(1))
                operations[match.group(2), path] = name
    return operations


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.removeprefix(API))


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    # --fail-on-warn turns any drf-spectacular warning (unresolvable field, unknown authenticator, colliding
    # operationIds, …) into an error; --validate checks the result against the OpenAPI 3 JSON schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_sdk_parser_sees_the_sdk():
    sdk = _sdk_operations()
    assert sdk["GET", "customers/"] == "list_customers"
    assert sdk["PUT", "customers/external/{}"] == "update_customer_by_external_id"
    assert len(sdk) > 100


def test_every_api_route_is_in_the_schema(schema):
    routes = [p for p in api_urls.urlpatterns if getattr(p.callback, "view_class", None) is not None]
    assert len(routes) >= 15
    documented = {(_shape(path).rstrip("/"), method) for path, method, _ in _operations(schema)}
    for pattern in routes:
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.pattern.regex.pattern)
        template = template.removeprefix("^").removesuffix("$").removesuffix("/?")
        view = pattern.callback.view_class
        methods = {m for m in view.http_method_names if hasattr(view, m) and m not in ("head", "options")}
        assert methods, template
        for method in methods:
            assert (_shape(template), method) in documented, f"{method.upper()} {template} is not documented"


def test_operations_are_the_sdk_methods_at_the_sdk_paths(schema):
    sdk = _sdk_operations()
    seen = set()
    for path, method, operation in _operations(schema):
        if operation.get("x-tally-extension"):
            continue
        key = (method.upper(), _shape(path))
        assert key in sdk, (
            f"{method.upper()} {path} is not a Paid SDK route (or differs in its trailing slash)"
        )
        assert operation["operationId"] == sdk[key], path
        seen.add(operation["operationId"])
    paid_operations = [op for _, _, op in _operations(schema) if not op.get("x-tally-extension")]
    assert len(seen) == len(paid_operations)


def test_paths_keep_the_contracts_trailing_slashes(schema):
    paths = set(schema["paths"])
    for collection in ("customers/", "contacts/", "products/"):
        assert API + collection in paths
    assert API + "customers/{customer_id}" in paths
    assert API + "customers/external/{external_id}/aliases/{alias}" in paths
    slashed = {path.removeprefix(API).rstrip("/") for path in paths if path.endswith("/")}
    assert slashed <= PAID_SLASHED_PATHS
    assert {"customers", "contacts", "products", "pricing", "plans", "orders"} <= slashed


def test_bearer_security_everywhere(schema):
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in _operations(schema):
        assert operation["security"] == [{"bearerAuth": []}], (path, method)


def test_error_envelope_is_documented(schema):
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert set(error["properties"]) == {"error", "code", "details"}
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        expected = {"401"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        for code in expected:
            assert responses[code]["content"]["application/json"]["schema"] == ref, (path, method, code)
        assert not [code for code in responses if code.startswith("2") and code != "200" and code != "201"]
    alias_create = schema["paths"][API + "customers/{customer_id}/aliases"]["post"]["responses"]
    assert alias_create["409"]["content"]["application/json"]["schema"] == ref


def test_wire_names_are_camel_case(schema):
    customer = schema["components"]["schemas"]["CustomerOut"]["properties"]
    assert {"externalId", "billingAddress", "createdAt", "defaultCurrency"} <= set(customer)
    assert schema["components"]["schemas"]["AddressOut"]["properties"].keys() >= {"zipCode"}
    list_customers = schema["paths"][API + "customers/"]["get"]
    names = {p["name"] for p in list_customers["parameters"]}
    assert names == {
        "limit",
        "offset",
        "name",
        "status",
        "creationState",
        "createdAtFrom",
        "createdAtTo",
        "externalId",
    }


def test_tally_extension_marker():
    """A later endpoint tags itself `tally-extension`; the hook marks it and keeps its declared trailing slash."""
    route("tally-schema-test-widgets/", lambda request: None)
    result = {
        "paths": {
            API + "tally-schema-test-widgets/": {
                "get": {"operationId": "list_widgets", "tags": ["Widgets", TALLY_EXTENSION], "responses": {}},
            },
            API + "tally-schema-test-widgets/{widget_id}/": {
                "get": {"operationId": "get_widget", "tags": ["Widgets"], "responses": {}},
            },
        },
        "components": {"schemas": {}},
    }
    processed = postprocess_schema(result, generator=None, request=None, public=True)
    listed = processed["paths"][API + "tally-schema-test-widgets/"]["get"]
    assert listed["x-tally-extension"] is True
    assert "x-tally-extension" not in processed["paths"][API + "tally-schema-test-widgets/{widget_id}"]["get"]


def test_schema_and_docs_are_served(client, db):
    response = client.get("/api/v2/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["paths"][API + "customers/"]["get"]["operationId"] == "list_customers"
    docs = client.get("/api/v2/docs/")
    assert docs.status_code == 200
    assert b"drf_spectacular_sidecar/redoc" in docs.content  # self-hosted assets, no CDN
