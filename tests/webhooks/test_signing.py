"""Standard Webhooks signatures, checked with the `standardwebhooks` package as a receiver would."""

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.webhooks.signing import new_secret, sign, signature_header


def _headers(message_id: str, timestamp: int, signature: str) -> dict:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_secret_format_is_whsec_and_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_signature_verifies_with_standardwebhooks():
    secret, body, now = new_secret(), b'{"type":"billing-invoice-paid","data":{"a":1}}', int(time.time())
    signature = sign(secret=secret, message_id="msg_evt_1", timestamp=now, body=body)
    assert signature.startswith("v1,")
    assert Webhook(secret).verify(body, _headers("msg_evt_1", now, signature)) == {
        "type": "billing-invoice-paid",
        "data": {"a": 1},
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("body", b'{"type":"tampered"}'), ("message_id", "msg_other"), ("timestamp", 1)],
)
def test_signature_covers_id_timestamp_and_body(field, value):
    secret, now = new_secret(), int(time.time())
    parts = {"body": b'{"type":"x"}', "message_id": "msg_evt_1", "timestamp": now}
    signature = sign(secret=secret, **parts)
    parts[field] = value if field != "timestamp" else now - 1
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(parts["body"], _headers(parts["message_id"], parts["timestamp"], signature))


def test_header_with_two_secrets_verifies_with_either_and_not_a_third():
    old, new, body, now = new_secret(), new_secret(), b"{}", int(time.time())
    header = signature_header(secrets_=[new, old], message_id="msg_1", timestamp=now, body=body)
    assert len(header.split(" ")) == 2
    assert Webhook(new).verify(body, _headers("msg_1", now, header)) == {}
    assert Webhook(old).verify(body, _headers("msg_1", now, header)) == {}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, _headers("msg_1", now, header))
