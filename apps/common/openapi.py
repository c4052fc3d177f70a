"""The OpenAPI schema as the wire is: drf-spectacular post-processing for Tally's API conventions."""

from apps.common.api import slashed_paths
from apps.common.naming import to_camel

API_PREFIX = "/api/v2/"

TALLY_EXTENSION = "tally-extension"
"""The tag of an operation that goes beyond Paid's API: `extend_schema(tags=["Meters", TALLY_EXTENSION])`."""

ERROR_COMPONENT = "ErrorResponse"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
_ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope of every failed request.",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, naming the offending field if any."},
        "code": {"type": "string", "description": "A stable machine-readable code (e.g. VALIDATION_ERROR)."},
        "details": {"type": "string"},
    },
    "required": ["error"],
}
_ERROR_DESCRIPTIONS = {
    "400": "Invalid request: malformed JSON, wrong types, missing or unknown values (the field is named).",
    "401": "Missing, invalid or revoked API key.",
    "404": "No such resource in the organization of the API key.",
    "413": "Request body larger than the server accepts.",
}


def _canonical_path(path: str) -> str:
    if not path.startswith(API_PREFIX):
        return path
    relative = path.removeprefix(API_PREFIX).strip("/")
    return API_PREFIX + relative + ("/" if relative in slashed_paths else "")


def _external_operation_id(operation_id: str) -> str:
    if operation_id.endswith("_by_external_id"):
        return operation_id
    return operation_id.removesuffix("_by_id") + "_by_external_id"


def _camelize_properties(schema) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {to_camel(k): v for k, v in schema["properties"].items()}
        for value in schema["properties"].values():
            _camelize_properties(value)
    if isinstance(schema.get("required"), list):
        schema["required"] = [to_camel(k) for k in schema["required"]]
    for key in ("items", "additionalProperties"):
        _camelize_properties(schema.get(key))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            _camelize_properties(sub)


def _document_errors(path: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    codes = ["401"]
    if "{" in path:
        codes.append("404")
    if "requestBody" in operation or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.append("400")
    if "requestBody" in operation:
        codes.append("413")
    for code in codes:
        responses.setdefault(
            code,
            {
                "description": _ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": _ERROR_REF}},
            },
        )


def postprocess_schema(result, generator, request, public):
    """drf-spectacular post-processing hook: the schema as the wire and the SDK see it.

    - Component property names and query parameter names are camelCase, as on the wire.
    - Paths are shown as the contract writes them (§1.1): the SDK's slashed collections (`/api/v2/customers/`)
      keep their trailing slash, every other path (`/api/v2/customers/{customer_id}`) has none. Both forms are
      served either way (see `route`).
    - operationIds are the SDK's method names. A view serving both `…/{id}` and `…/external/{external_id}`
      names its by-id form in `extend_schema(operation_id=…)` (`get_customer_by_id`, `delete_customer_alias`);
      the external form is derived the way the SDK names it (`get_customer_by_external_id`,
      `delete_customer_alias_by_external_id`).
    - Every operation documents the error envelope `ErrorResponse` for 401; for 404 when its path takes an
      id; for 400 when it takes a body or query parameters; for 413 when it takes a body. Codes an operation
      declares itself (e.g. 409) are kept.
    - Tally extensions: an operation tagged `TALLY_EXTENSION` ("tally-extension") is marked
      `x-tally-extension: true`, so clients and docs can tell it from Paid's API. Usage, on a later endpoint:
      `@extend_schema(tags=["Meters", TALLY_EXTENSION], operation_id="preview_meter", …)`.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for component in schemas.values():
        _camelize_properties(component)
    schemas.setdefault(ERROR_COMPONENT, _ERROR_SCHEMA)

    paths = {}
    for path, operations in result.get("paths", {}).items():
        canonical = _canonical_path(path)
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    parameter["name"] = to_camel(parameter["name"])
            if "/external/{" in canonical and "operationId" in operation:
                operation["operationId"] = _external_operation_id(operation["operationId"])
            _document_errors(canonical, operation)
            if TALLY_EXTENSION in operation.get("tags", []):
                operation["x-tally-extension"] = True
        paths[canonical] = operations
    result["paths"] = paths
    return result


# SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] names the hook by this older name.
camelize_schema = postprocess_schema
