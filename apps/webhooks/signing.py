"""Standard Webhooks signatures (https://www.standardwebhooks.com): `whsec_` secrets, and the
`webhook-signature` header over `{webhook-id}.{webhook-timestamp}.{body}`.

Pure functions; the tests verify their output with the `standardwebhooks` package, as a receiver would."""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64 HMAC-SHA256>` signature."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(*, secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret, space-separated (the spec's way of letting a
    receiver accept either the new or the previous secret during a rotation)."""
    return " ".join(
        sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body) for secret in secrets_
    )
