"""Meters over HTTP (a Tally extension): CRUD, previews, envelopes, camelCase, errors."""

from datetime import timedelta

import pytest

from apps.customers.services import customer_create

from .conftest import NOW
from .test_services import _order_using

pytestmark = pytest.mark.django_db

WINDOW = {"from": (NOW - timedelta(days=1)).isoformat(), "to": "2026-03-16"}


def _payload(product, **overrides):
    return {
        "productId": product.display_id,
        "name": "Completed call minutes",
        "eventName": "phone_call",
        "operation": "sum",
        "field": "duration_minutes",
        "filters": [{"field": "call_completed", "op": "=", "value": True}],
    } | overrides


@pytest.fixture
def created(api, product):
    response = api.post("/api/v2/meters", _payload(product), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_get_list(api, product, created):
    assert created["id"].startswith("mtr_")
    assert {
        k: created[k] for k in ("productId", "eventName", "operation", "field", "rounding", "locked")
    } == {
        "productId": product.display_id,
        "eventName": "phone_call",
        "operation": "sum",
        "field": "duration_minutes",
        "rounding": "up",
        "locked": False,
    }
    assert created["filters"] == [{"field": "call_completed", "op": "=", "value": True}]
    assert created["archivedAt"] is None and created["createdAt"].endswith("Z")
    assert api.get(f"/api/v2/meters/{created['id']}").json() == created
    listed = api.get("/api/v2/meters", {"productId": product.display_id}).json()
    assert [m["id"] for m in listed["data"]] == [created["id"]]
    assert listed["pagination"] == {"limit": 50, "offset": 0, "total": 1, "hasMore": False}
    assert api.get("/api/v2/meters/", {"productId": "prod_other"}).json()["data"] == []


def test_update_and_archive(api, created):
    path = f"/api/v2/meters/{created['id']}"
    response = api.put(path, {"rounding": "nearest", "field": "billable_minutes"}, format="json")
    assert response.status_code == 200
    assert (response.json()["rounding"], response.json()["field"]) == ("nearest", "billable_minutes")
    assert response.json()["name"] == created["name"]
    response = api.delete(path)
    assert (response.status_code, response.json()) == (200, {})
    assert api.get(path).json()["archivedAt"] is not None
    assert api.get("/api/v2/meters").json()["data"] == []
    assert len(api.get("/api/v2/meters", {"includeArchived": "true"}).json()["data"]) == 1


def test_validation_errors_name_the_field(api, product):
    response = api.post(
        "/api/v2/meters",
        _payload(product, filters=[{"field": "a", "op": "="}, {"field": "b", "op": "like", "value": 1}]),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("filters[0].value")
    response = api.post("/api/v2/meters", _payload(product, field=None), format="json")
    assert (response.status_code, response.json()["details"]) == (400, "field: field")
    response = api.post("/api/v2/meters", _payload(product, operation="avg"), format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    response = api.post("/api/v2/meters", _payload(product, productId="prod_nope"), format="json")
    assert response.status_code == 400 and "productId" in response.json()["error"]


def test_locked_meter_answers_409(api, created):
    from apps.meters.models import Meter

    _order_using(Meter.objects.get(display_id=created["id"]))
    path = f"/api/v2/meters/{created['id']}"
    assert api.get(path).json()["locked"] is True
    response = api.put(path, {"filters": []}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "METER_LOCKED"
    assert "Create a new meter" in response.json()["error"]
    assert api.delete(path).status_code == 409
    assert api.put(path, {"name": "Renamed"}, format="json").status_code == 200


def test_preview_saved_meter(api, organization, created, ingest):
    customer_create(organization=organization, name="Acme", external_id="acme")
    ingest({"call_completed": True, "duration_minutes": 2.5}, customer="acme")
    ingest({"call_completed": True, "duration_minutes": 1}, customer="acme")
    ingest({"call_completed": True, "duration_minutes": "7"}, customer="acme")
    ingest({"call_completed": True, "duration_minutes": 0.4}, customer="ghost")
    ingest({"call_completed": True, "duration_minutes": 9}, customer="acme", at=NOW + timedelta(days=2))
    response = api.post(f"/api/v2/meters/{created['id']}/preview", WINDOW, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    acme, ghost = body["data"]
    assert acme["customerId"].startswith("cus_")
    assert {
        k: acme[k] for k in ("externalCustomerId", "customerName", "quantity", "exactQuantity", "signalCount")
    } == {
        "externalCustomerId": "acme",
        "customerName": "Acme",
        "quantity": 4,
        "exactQuantity": "3.5",
        "signalCount": 2,
    }
    assert ghost == {
        "customerId": None,
        "externalCustomerId": "ghost",
        "customerName": None,
        "quantity": 1,
        "exactQuantity": "0.4",
        "signalCount": 1,
    }
    assert body["totals"] == {"quantity": 5, "exactQuantity": "3.9", "signalCount": 3, "skipped": 1}
    assert body["window"] == {"from": "2026-03-14T12:00:00.000000Z", "to": "2026-03-16T00:00:00.000000Z"}


def test_preview_unsaved_definition(api, product, ingest):
    ingest({"call_completed": True}, customer="acme")
    ingest({"call_completed": False}, customer="acme")
    ingest({"call_completed": "true"}, customer="acme")
    body = {
        "productId": product.display_id,
        "eventName": "phone_call",
        "operation": "count",
        "filters": [{"field": "call_completed", "op": "=", "value": True}],
    } | WINDOW
    response = api.post("/api/v2/meters/preview", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["totals"] == {"quantity": 1, "exactQuantity": "1", "signalCount": 1, "skipped": 0}
    bad = api.post(
        "/api/v2/meters/preview", body | {"filters": [{"field": "x", "op": "in", "value": 1}]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("filters[0].value")
    reversed_window = api.post(
        "/api/v2/meters/preview", body | {"from": "2026-03-16", "to": "2026-03-15"}, format="json"
    )
    assert reversed_window.status_code == 400


def test_preview_default_window_and_empty(api, created):
    body = api.post(f"/api/v2/meters/{created['id']}/preview", {}, format="json").json()
    assert body["data"] == [] and body["totals"]["quantity"] == 0
    assert body["window"]["from"] and body["window"]["to"]


def test_other_organization_cannot_see_the_meter(other_api, created):
    assert other_api.get(f"/api/v2/meters/{created['id']}").status_code == 404
    assert other_api.post(f"/api/v2/meters/{created['id']}/preview", {}, format="json").status_code == 404
    assert other_api.get("/api/v2/meters").json()["data"] == []


def test_schema_marks_meters_as_tally_extension(api, db):
    from django.test import Client

    schema = Client().get("/api/v2/schema/", HTTP_ACCEPT="application/json").json()
    operations = {
        op["operationId"]: op
        for path, ops in schema["paths"].items()
        if "/meters" in path
        for op in ops.values()
    }
    assert set(operations) == {
        "list_meters",
        "create_meter",
        "get_meter",
        "update_meter",
        "archive_meter",
        "preview_meter",
        "preview_meter_definition",
    }
    assert all(op["x-tally-extension"] is True for op in operations.values())
