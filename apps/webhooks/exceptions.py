"""Refusals of the webhooks app (400 in the API's error envelope)."""

from apps.common.exceptions import DomainError


class WebhookUrlRefused(DomainError):
    """A destination URL Tally will not send to: not HTTPS, malformed, unresolvable, or resolving to a
    private, loopback, link-local, reserved or multicast address."""

    def __init__(self, message: str):
        super().__init__(message, code="INVALID_WEBHOOK_URL", field="url")


class WebhookNotConfigured(DomainError):
    """The webhook has no destination URL (e.g. `POST webhooks/{name}/test` before one is set)."""

    def __init__(self, name: str):
        super().__init__(
            f"Webhook {name!r} has no URL: set one before sending a test.", code="WEBHOOK_NO_URL", field="url"
        )
