"""Authentication as the SDK sees it: a bad or revoked key is a plain `ApiError` 401 with `{error}` (§1.2)."""

import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, ForbiddenError, NotFoundError

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.customers.models import Customer


def _assert_unauthorized(call) -> None:
    with pytest.raises(ApiError) as exc:
        call()
    # 401 is not in any endpoint's code list, so the SDK raises the base class, never a typed subclass.
    assert not isinstance(exc.value, BadRequestError | ForbiddenError | NotFoundError)
    assert exc.value.status_code == 401
    assert isinstance(exc.value.body, dict)
    assert isinstance(exc.value.body["error"], str)
    assert exc.value.body["error"]


@pytest.mark.parametrize("token", ["tly_not-a-real-key", "sk_live_something", "tly_"])
def test_bad_key_is_401(make_client, organization, token):
    client = make_client(token)
    _assert_unauthorized(lambda: client.customers.list_customers())
    _assert_unauthorized(lambda: client.customers.create_customer(name="Nope"))
    _assert_unauthorized(lambda: client.products.get_product_by_id("prod_x"))
    assert not Customer.objects.exists()


def test_revoked_key_is_401(make_client, organization):
    api_key, raw_key = api_key_create(organization=organization, name="to revoke")
    client = make_client(raw_key)
    assert client.customers.list_customers().pagination.total == 0

    api_key_revoke(organization=organization, key_id=api_key.pk)

    _assert_unauthorized(lambda: client.customers.list_customers())
    _assert_unauthorized(lambda: client.customers.create_customer(name="After revoke"))
    assert not Customer.objects.exists()


def test_token_may_be_a_callable(make_client, api_key):
    client = make_client(lambda: api_key)
    assert client.customers.list_customers().data == []


def test_valid_key_records_last_use(client: Paid, api_key):
    client.customers.list_customers()
    assert ApiKey.objects.get(prefix=api_key[:12]).last_used_at is not None
