"""The live server as any HTTP client meets it (real middleware, no test-client shortcuts such as CSRF bypass)."""

import httpx
import pytest

from apps.customers.models import Customer


@pytest.mark.parametrize("path", ["customers", "customers/"])
def test_collections_answer_both_slash_forms_without_redirect(http, path):
    created = http.post(path, json={"name": "Slash"})
    assert created.status_code == 201
    assert not created.history
    listed = http.get(path)
    assert listed.status_code == 200
    assert listed.json()["pagination"]["total"] == 1


def test_item_paths_answer_both_slash_forms(http):
    customer_id = http.post("customers/", json={"name": "Item", "externalId": "item"}).json()["id"]
    for path in (f"customers/{customer_id}", f"customers/{customer_id}/", "customers/external/item/"):
        response = http.put(path, json={"phone": path})
        assert (response.status_code, response.json()["phone"]) == (200, path)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unknown_route_is_a_json_404_for_every_method(http, method):
    response = http.request(method, "no-such-thing/", json={"a": 1} if method in ("POST", "PUT") else None)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "NOT_FOUND"


def test_malformed_json_is_a_json_400(http):
    response = http.post("customers/", content=b'{"name": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "PARSE_ERROR"
    assert not Customer.objects.exists()


def test_missing_key_is_a_json_401(base_url):
    response = httpx.post(f"{base_url}/customers/", json={"name": "x"})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert not Customer.objects.exists()
