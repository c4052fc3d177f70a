"""Writes of the webhooks app: publishing events, configuring endpoints and the signing secret, and sending
deliveries with retries (docs/webhooks.md).

Sending never holds a transaction open across the HTTP call: a worker claims due deliveries in one short
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and pushes their `next_attempt_at` forward by a lease, so
no other worker sends the same attempt; it then POSTs, and records the outcome in a second transaction."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from apps.common.exceptions import DomainError, NotFound
from apps.common.ids import new_display_id
from apps.webhooks import transport
from apps.webhooks.exceptions import WebhookNotConfigured, WebhookUrlRefused
from apps.webhooks.models import (
    WEBHOOK_NAMES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSigningSecret,
)
from apps.webhooks.selectors import organizations_with_due_deliveries, webhook_signing_secrets
from apps.webhooks.signing import new_secret, signature_header

if TYPE_CHECKING:
    from apps.accounts.models import Organization

logger = logging.getLogger(__name__)

# Waits after failed attempt 1, 2, … before the next one. Each wait is drawn uniformly from
# [base, base * (1 + RETRY_JITTER)], so retries after an outage spread out, and the whole schedule spans at
# least Σ base ≈ 31.6 h (at most ≈ 47.4 h) from the first attempt.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
)
RETRY_JITTER = 0.5
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)
# A claimed delivery is not due again for this long (a worker that dies mid-send gives it back this way).
# Longer than a batch of sends at the transport timeout.
CLAIM_LEASE = timedelta(minutes=5)
CLAIM_BATCH = 10
SWEEP_BUDGET_SECONDS = 150  # under django-q2's task timeout (300 s), with a batch in flight on top
ROTATION_GRACE = timedelta(hours=24)
ERROR_LENGTH = 1000
EXCERPT_LENGTH = 1000
TEST_DATA_MESSAGE = "A test delivery from Tally. No action is needed."


def retry_delay(*, attempt: int, rand: float | None = None) -> timedelta | None:
    """How long to wait after failed attempt number `attempt` (1-based), or None when it was the last.
    `rand` ∈ [0, 1) picks the point in the jitter window (random when omitted)."""
    if attempt < 1 or attempt > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempt - 1]
    return base * (1 + RETRY_JITTER * (random.random() if rand is None else rand))


# --- publishing ------------------------------------------------------------------------------------------


@transaction.atomic
def webhook_event_publish(
    *, organization: Organization, name: str, data: dict, idempotency_key: str | None = None
) -> WebhookEvent | None:
    """Record event `name` with payload `data`; when the organization's `name` endpoint is enabled, also a
    delivery, whose first attempt is enqueued once the caller's transaction commits. Call it inside the
    transaction that makes the change it announces. A repeated `idempotency_key` (per organization) records
    nothing and returns None. An unknown name is a ValueError (a programming error, not bad input)."""
    if name not in WEBHOOK_NAMES:
        raise ValueError(f"Unknown webhook name {name!r}; expected one of {', '.join(WEBHOOK_NAMES)}.")
    if not isinstance(data, dict):
        raise ValueError("Webhook event data must be a dict.")
    if idempotency_key is not None:
        if WebhookEvent.objects.filter(organization=organization, idempotency_key=idempotency_key).exists():
            return None
        try:
            with transaction.atomic():  # a concurrent publisher of the same key: its insert wins
                event = WebhookEvent.objects.create(
                    organization=organization, name=name, data=data, idempotency_key=idempotency_key
                )
        except IntegrityError:
            return None
    else:
        event = WebhookEvent.objects.create(organization=organization, name=name, data=data)
    endpoint = WebhookEndpoint.objects.filter(
        organization=organization, name=name, enabled=True, url__isnull=False
    ).first()
    if endpoint is not None:
        delivery = WebhookDelivery.objects.create(
            organization=organization,
            event=event,
            endpoint=endpoint,
            message_id=_message_id(event.display_id),
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(
            lambda: async_task("apps.webhooks.tasks.deliver", delivery.pk, group="webhooks")
        )
    return event


def _message_id(event_display_id: str) -> str:
    return f"msg_{event_display_id}"


# --- endpoints and the secret ----------------------------------------------------------------------------


def webhook_endpoints_ensure(*, organization: Organization) -> None:
    """Create the organization's missing endpoint rows (disabled, no URL), so each name has a stable id."""
    existing = set(WebhookEndpoint.objects.filter(organization=organization).values_list("name", flat=True))
    missing = [name for name in WEBHOOK_NAMES if name not in existing]
    if missing:
        WebhookEndpoint.objects.bulk_create(
            [WebhookEndpoint(organization=organization, name=name) for name in missing],
            ignore_conflicts=True,  # a concurrent request created them first
        )


@dataclass(frozen=True)
class EndpointUpdate:
    endpoint: WebhookEndpoint
    signing_secret: str | None  # only when this save minted the organization's secret


def webhook_endpoint_update(
    *, organization: Organization, name: str, changes: dict[str, Any]
) -> EndpointUpdate:
    """Apply `changes` (only the keys the caller sent: `enabled`: bool, `url`: str or None) to the `name`
    endpoint. The URL is checked (HTTPS, public addresses only) before anything is written; `url: null` clears
    it only while the webhook is (or becomes) disabled; an enabled webhook needs a URL. The first save that
    sets a URL in the organization mints its signing secret, returned once in the result."""
    if name not in WEBHOOK_NAMES:
        raise NotFound("Webhook", name)
    url_sent = "url" in changes
    url = changes.get("url")
    if url_sent and url is not None:
        url = url.strip()
        transport.check_url(url)  # DNS: before the transaction, not while holding its row lock
    return _endpoint_save(
        organization=organization, name=name, enabled=changes.get("enabled"), url_sent=url_sent, url=url
    )


@transaction.atomic
def _endpoint_save(
    *, organization: Organization, name: str, enabled: bool | None, url_sent: bool, url: str | None
) -> EndpointUpdate:
    webhook_endpoints_ensure(organization=organization)
    endpoint = WebhookEndpoint.objects.select_for_update().get(organization=organization, name=name)
    enabled = endpoint.enabled if enabled is None else enabled
    url = url if url_sent else endpoint.url
    if url_sent and url is None and enabled:
        raise DomainError(
            "Can be cleared (null) only while the webhook is disabled; send enabled: false with it.",
            code="VALIDATION_ERROR",
            field="url",
        )
    if enabled and not url:
        raise DomainError("Required to enable the webhook.", code="VALIDATION_ERROR", field="url")
    minted = None
    if url:
        row, created = WebhookSigningSecret.objects.get_or_create(
            organization=organization, defaults={"secret": new_secret()}
        )
        minted = row.secret if created else None
    endpoint.enabled, endpoint.url = enabled, url
    endpoint.save(update_fields=["enabled", "url", "updated_at"])
    return EndpointUpdate(endpoint=endpoint, signing_secret=minted)


@transaction.atomic
def webhook_secret_rotate(*, organization: Organization) -> str:
    """Mint a new signing secret and return it (the only time it is shown). The one it replaces keeps signing
    deliveries, next to the new one, for ROTATION_GRACE (24 h); a secret replaced before that is dropped."""
    fresh = new_secret()
    row, created = WebhookSigningSecret.objects.get_or_create(
        organization=organization, defaults={"secret": fresh}
    )
    if created:
        return fresh
    row = WebhookSigningSecret.objects.select_for_update().get(pk=row.pk)
    now = timezone.now()
    row.previous_secret, row.previous_expires_at = row.secret, now + ROTATION_GRACE
    row.secret, row.rotated_at = fresh, now
    row.save()
    return fresh


# --- sending ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """An attempt a worker holds: delivery `delivery_id`, attempt number `number`."""

    delivery_id: int
    number: int


@transaction.atomic
def webhook_deliveries_claim(
    *, organization_id: int, limit: int = CLAIM_BATCH, delivery_id: int | None = None
) -> list[Claim]:
    """Take up to `limit` of the organization's due deliveries (oldest due first) for sending: each one's
    attempt count goes up and its `next_attempt_at` moves a lease ahead, in one transaction. On PostgreSQL rows
    another worker holds are skipped (`FOR UPDATE SKIP LOCKED`); SQLite serialises writers anyway. A delivery
    whose webhook was disabled (or lost its URL) since it was queued fails here, unsent."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        organization_id=organization_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    )
    if delivery_id is not None:
        due = due.filter(pk=delivery_id)
    rows = list(
        due.select_related("endpoint")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("next_attempt_at", "pk")[:limit]
    )
    claims = []
    for delivery in rows:
        if not (delivery.endpoint.enabled and delivery.endpoint.url):
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            delivery.last_error = (
                "Not sent: the webhook was disabled, or its URL removed, before this attempt."
            )
            delivery.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
            continue
        delivery.attempt_count += 1
        delivery.next_attempt_at = now + CLAIM_LEASE
        delivery.save(update_fields=["attempt_count", "next_attempt_at", "updated_at"])
        claims.append(Claim(delivery_id=delivery.pk, number=delivery.attempt_count))
    return claims


def payload_body(event: WebhookEvent) -> bytes:
    """The request body: `{"type", "timestamp", "data"}` as compact JSON (the same bytes on every attempt)."""
    payload = {
        "type": event.type,
        "timestamp": event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder).encode()


def _send(claim: Claim) -> transport.PostResult:
    """POST one claimed attempt (no transaction is open here) and record what happened."""
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=claim.delivery_id)
    url = delivery.endpoint.url or ""
    attempted_at = timezone.now()
    secrets = webhook_signing_secrets(organization_id=delivery.organization_id, now=attempted_at)
    if not secrets:  # every URL save mints one; only a deleted row gets here
        secrets = [_secret_ensure(organization_id=delivery.organization_id)]
    body = payload_body(delivery.event)
    timestamp = int(attempted_at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": transport.USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets_=secrets, message_id=delivery.message_id, timestamp=timestamp, body=body
        ),
    }
    try:
        target = transport.check_url(url)  # again: DNS may answer differently than when the URL was saved
    except WebhookUrlRefused as exc:
        result = transport.PostResult(status_code=None, duration_ms=0, error=f"Not sent: {exc.message}")
    else:
        result = transport.post(target, body=body, headers=headers)
    _attempt_record(claim=claim, url=url, attempted_at=attempted_at, result=result)
    return result


def _secret_ensure(*, organization_id: int) -> str:
    row, _ = WebhookSigningSecret.objects.get_or_create(
        organization_id=organization_id, defaults={"secret": new_secret()}
    )
    return row.secret


@transaction.atomic
def _attempt_record(*, claim: Claim, url: str, attempted_at, result: transport.PostResult) -> None:
    """Store the attempt; move the delivery to success, to its next retry, or to failed when the schedule
    (one attempt for a test) is spent; note the outcome on the endpoint."""
    delivery = WebhookDelivery.objects.select_for_update().select_related("event").get(pk=claim.delivery_id)
    _, created = WebhookAttempt.objects.get_or_create(
        organization_id=delivery.organization_id,
        delivery=delivery,
        number=claim.number,
        defaults={
            "url": url,
            "attempted_at": attempted_at,
            "success": result.success,
            "response_code": result.status_code,
            "duration_ms": result.duration_ms,
            "error": result.error[:ERROR_LENGTH],
            "response_excerpt": result.excerpt[:EXCERPT_LENGTH],
        },
    )
    if (
        not created
        or delivery.attempt_count != claim.number
        or delivery.status != WebhookDelivery.Status.PENDING
    ):
        return  # a lease that ran out: a later claim owns the delivery now
    now = timezone.now()
    delivery.last_attempt_at, delivery.last_response_code = attempted_at, result.status_code
    delivery.last_error = result.error[:ERROR_LENGTH]
    if result.success:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.SUCCESS, None
    else:
        wait = None if delivery.event.is_test else retry_delay(attempt=claim.number)
        if wait is None:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        else:
            delivery.next_attempt_at = now + wait
    delivery.save()
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
        last_sent_at=attempted_at,
        last_status=WebhookEndpoint.LastStatus.SUCCESS
        if result.success
        else WebhookEndpoint.LastStatus.FAILED,
    )


def webhook_delivery_send(*, delivery_id: int) -> bool | None:
    """Send delivery `delivery_id` now if it is still due and no other worker holds it; True/False for the
    attempt's outcome, None when there was nothing to send (the first attempt's task)."""
    organization_id = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("organization_id", flat=True).first()
    )
    if organization_id is None:
        return None
    claims = webhook_deliveries_claim(organization_id=organization_id, limit=1, delivery_id=delivery_id)
    return _send(claims[0]).success if claims else None


def webhook_deliver_due(*, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> int:
    """The retry sweep (every minute): send every due delivery, batch after batch, organization by
    organization, until none is due or the time budget is spent. Returns the number of attempts made."""
    started, sent = time.monotonic(), 0
    for organization_id in organizations_with_due_deliveries():
        while time.monotonic() - started < budget_seconds:
            claims = webhook_deliveries_claim(organization_id=organization_id)
            for claim in claims:
                try:
                    _send(claim)
                except Exception:  # one broken delivery must not stop the others; its lease brings it back
                    logger.exception("webhooks: sending delivery %s failed", claim.delivery_id)
                sent += 1
            if len(claims) < CLAIM_BATCH:
                break
    return sent


def webhook_test_send(*, organization: Organization, name: str) -> WebhookDelivery:
    """Send a `test` delivery to the `name` endpoint's URL now, once (no retries), whether or not the webhook
    is enabled; it shows in the delivery log like any other. WebhookNotConfigured (400) without a URL."""
    if name not in WEBHOOK_NAMES:
        raise NotFound("Webhook", name)
    delivery = _test_delivery_create(organization=organization, name=name)
    _send(Claim(delivery_id=delivery.pk, number=1))
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def _test_delivery_create(*, organization: Organization, name: str) -> WebhookDelivery:
    webhook_endpoints_ensure(organization=organization)
    endpoint = WebhookEndpoint.objects.get(organization=organization, name=name)
    if not endpoint.url:
        raise WebhookNotConfigured(name)
    event = WebhookEvent.objects.create(
        organization=organization,
        display_id=new_display_id("evt"),
        name=name,
        is_test=True,
        data={"webhook": name, "message": TEST_DATA_MESSAGE},
    )
    # Not due (no next_attempt_at): the sweep never picks it up; this request sends it, once.
    return WebhookDelivery.objects.create(
        organization=organization,
        event=event,
        endpoint=endpoint,
        message_id=_message_id(event.display_id),
        attempt_count=1,
    )
