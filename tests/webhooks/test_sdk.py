"""§3.10 through the official paid-python SDK against a live server (fixtures re-exported from tests/sdk in
tests/webhooks/conftest.py): the SDK's own models must parse every answer."""

import pytest
from paid import Paid
from paid.errors import BadRequestError, NotFoundError

from apps.webhooks.models import WEBHOOK_NAMES
from tests.sdk.conftest import NO_RETRY
from tests.webhooks.conftest import NAME

pytestmark = pytest.mark.django_db(transaction=True)


def test_list_update_test_and_rotate(client: Paid, receiver):
    listed = client.webhooks.list_webhooks()
    assert [webhook.name for webhook in listed.data] == list(WEBHOOK_NAMES)
    assert listed.signing_secret_configured is False
    assert all(webhook.enabled is False and webhook.url is None for webhook in listed.data)

    updated = client.webhooks.update_webhook(NAME, enabled=True, url=receiver.url)
    assert (updated.name, updated.enabled, updated.url) == (NAME, True, receiver.url)
    assert updated.id == listed.data[list(WEBHOOK_NAMES).index(NAME)].id
    secret = updated.signing_secret
    assert secret and secret.startswith("whsec_")
    assert client.webhooks.update_webhook(NAME, enabled=True).signing_secret is None

    assert client.webhooks.test_webhook(NAME).success is True
    [request] = receiver.requests
    assert request.verify(secret)["type"] == "test"

    rotated = client.webhooks.rotate_webhook_secret().signing_secret
    assert rotated.startswith("whsec_") and rotated != secret
    assert client.webhooks.test_webhook(NAME).success is True
    request = receiver.requests[-1]
    assert request.verify(rotated) == request.verify(secret)  # the old one still verifies, for 24 h

    after = {webhook.name: webhook for webhook in client.webhooks.list_webhooks().data}[NAME]
    assert after.last_status == "success" and after.last_sent_at is not None
    assert client.webhooks.list_webhooks().signing_secret_configured is True


def test_errors(client: Paid, other_client: Paid, settings, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with pytest.raises(BadRequestError) as refused:
        client.webhooks.update_webhook(NAME, url="https://127.0.0.1/hook", request_options=NO_RETRY)
    assert "loopback" in refused.value.body["error"]
    with pytest.raises(BadRequestError):
        client.webhooks.update_webhook(NAME, url="http://hooks.example.com/x", request_options=NO_RETRY)
    with pytest.raises(BadRequestError):
        client.webhooks.test_webhook(NAME, request_options=NO_RETRY)
    with pytest.raises(NotFoundError):
        client.webhooks.update_webhook("billing-nothing", enabled=False, request_options=NO_RETRY)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    client.webhooks.update_webhook(NAME, enabled=True, url=receiver.url)
    with pytest.raises(BadRequestError) as cleared:
        client.webhooks.update_webhook(NAME, url=None, request_options=NO_RETRY)
    assert "disabled" in cleared.value.body["error"]
    # another organization sees none of it
    theirs = other_client.webhooks.list_webhooks()
    assert theirs.signing_secret_configured is False and all(w.url is None for w in theirs.data)
