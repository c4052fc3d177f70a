"""Reads of the webhooks app. Every query is scoped to an organization, except the retry sweep's list of
organizations that have deliveries due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone

from apps.common.exceptions import NotFound
from apps.webhooks.models import (
    WEBHOOK_NAMES,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSigningSecret,
)

if TYPE_CHECKING:
    from apps.accounts.models import Organization

_ORDER = {name: index for index, name in enumerate(WEBHOOK_NAMES)}


def webhook_names() -> list[str]:
    """The 11 webhook names, in the contract's order."""
    return list(WEBHOOK_NAMES)


def webhook_description(name: str) -> str:
    return WEBHOOK_NAMES[name]


def webhook_endpoint_list(*, organization: Organization) -> list[WebhookEndpoint]:
    """The organization's endpoint rows, in the contract's order (services.webhook_endpoints_ensure creates
    the missing ones)."""
    rows = WebhookEndpoint.objects.filter(organization=organization)
    return sorted(rows, key=lambda endpoint: _ORDER.get(endpoint.name, len(_ORDER)))


def webhook_endpoint_get(*, organization: Organization, name: str) -> WebhookEndpoint | None:
    """The endpoint row of `name`, or None when it was never saved. An unknown name is a NotFound (404)."""
    if name not in WEBHOOK_NAMES:
        raise NotFound("Webhook", name)
    return WebhookEndpoint.objects.filter(organization=organization, name=name).first()


def webhook_secret_configured(*, organization: Organization) -> bool:
    return WebhookSigningSecret.objects.filter(organization=organization).exists()


@dataclass(frozen=True)
class SecretStatus:
    """What the dashboard may show about the signing secret (never the secret itself)."""

    created_at: datetime
    rotated_at: datetime | None
    previous_expires_at: datetime | None  # only while the previous secret still signs


def webhook_secret_status(*, organization: Organization) -> SecretStatus | None:
    row = WebhookSigningSecret.objects.filter(organization=organization).first()
    if row is None:
        return None
    grace = row.previous_expires_at
    return SecretStatus(
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        previous_expires_at=grace if row.previous_secret and grace and grace > timezone.now() else None,
    )


def webhook_signing_secrets(*, organization_id: int, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: the current one, then the previous one while its rotation grace
    window lasts."""
    row = WebhookSigningSecret.objects.filter(organization_id=organization_id).first()
    if row is None:
        return []
    now = now or timezone.now()
    secrets = [row.secret]
    if row.previous_secret and row.previous_expires_at and now < row.previous_expires_at:
        secrets.append(row.previous_secret)
    return secrets


def webhook_delivery_list(
    *, organization: Organization, name: str | None = None, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    """Deliveries, newest first, optionally of one webhook name and/or one status."""
    deliveries = WebhookDelivery.objects.filter(organization=organization)
    if name:
        deliveries = deliveries.filter(endpoint__name=name)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.select_related("event", "endpoint").order_by("-created_at", "-pk")


def webhook_delivery_get(*, organization: Organization, message_id: str) -> WebhookDelivery:
    """One delivery by its `webhook-id` (`msg_…`); another organization's id is a NotFound."""
    try:
        return WebhookDelivery.objects.select_related("event", "endpoint").get(
            organization=organization, message_id=message_id
        )
    except WebhookDelivery.DoesNotExist:
        raise NotFound("Webhook delivery", message_id) from None


def organizations_with_due_deliveries(*, now: datetime | None = None) -> list[int]:
    """Primary keys of organizations with a pending delivery whose next attempt is due (the retry sweep)."""
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
    )
    return sorted(set(due.values_list("organization_id", flat=True).distinct()))
