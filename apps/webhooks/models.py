"""Outbound webhooks: the fixed catalog of webhook names, one endpoint per organization and name, the
organization's signing secret, events, deliveries and their attempts (docs/webhooks.md)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.common.models import TenantModel, TimestampedModel, display_id_field, tenant_unique

# §3.10: the 11 names, in the contract's order (the list answers in this order), with their descriptions.
WEBHOOK_NAMES: dict[str, str] = {
    "billing-invoice-created": "An invoice was created (a draft).",
    "billing-invoice-paid": "An invoice was paid in full.",
    "billing-invoice-posted": "An invoice was posted (finalized and sent for collection).",
    "billing-checkout-created": "A checkout session was created.",
    "billing-checkout-completed": "A customer completed a checkout session.",
    "billing-checkout-expired": "A checkout session expired before it was completed.",
    "billing-payment-succeeded": "A payment succeeded.",
    "billing-payment-failed": "A payment failed.",
    "billing-credits-depleted": "A customer's credit balance ran out.",
    "billing-overage-incurred": "Usage went past the customer's credits and was billed as overage.",
    "billing-credit-cap-reached": "A customer reached their credit spending cap.",
}
NAME_CHOICES = [(name, name) for name in WEBHOOK_NAMES]
# The `type` of a delivery sent by `POST webhooks/{name}/test` (never one of the 11 names, so a receiver
# cannot mistake it for a real event).
TEST_TYPE = "test"


class WebhookSigningSecret(TimestampedModel):
    """The organization's one signing secret (Standard Webhooks `whsec_…`), and the one it replaced, which
    keeps signing deliveries until `previous_expires_at` (the rotation grace window).

    Stored as is: an HMAC key must be readable to sign with (unlike API keys, which are only compared)."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)


class WebhookEndpoint(TenantModel):
    """Where one webhook name is delivered for one organization (created lazily, one row per name)."""

    class LastStatus(models.TextChoices):
        SUCCESS = "success"
        FAILED = "failed"

    display_id = display_id_field("wh")
    name = models.CharField(max_length=64, choices=NAME_CHOICES)
    enabled = models.BooleanField(default=False)
    url = models.CharField(max_length=2048, null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=LastStatus.choices, null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("webhookendpoint", "name"),
            tenant_unique("webhookendpoint", "display_id"),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookEvent(TenantModel):
    """Something that happened, recorded whether or not its endpoint is enabled. `data` is what the payload's
    `data` carries; `created_at` is the payload's `timestamp`."""

    display_id = display_id_field("evt")
    name = models.CharField(max_length=64, choices=NAME_CHOICES)
    data = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    is_test = models.BooleanField(default=False)

    class Meta:
        constraints = [
            tenant_unique("webhookevent", "display_id"),
            tenant_unique("webhookevent", "idempotency_key", condition=Q(idempotency_key__isnull=False)),
        ]

    @property
    def type(self) -> str:
        return TEST_TYPE if self.is_test else self.name


class WebhookDelivery(TenantModel):
    """One event sent to one endpoint: attempts until a 2xx, or until the retry schedule runs out.

    `message_id` is the `webhook-id` header, the same on every attempt. `next_attempt_at` is when a pending
    delivery is due; a worker that claims it pushes it forward by a lease while it sends (services.py)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILED = "failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [tenant_unique("webhookdelivery", "message_id")]
        indexes = [
            # The retry sweep: pending deliveries by due time.
            models.Index(
                fields=["organization", "next_attempt_at"],
                condition=Q(status="pending"),
                name="whdelivery_due_idx",
            ),
            models.Index(fields=["organization", "-created_at"], name="whdelivery_org_created_idx"),
        ]


class WebhookAttempt(TenantModel):
    """One HTTP POST of a delivery: what came back (status code, a truncated excerpt of the body) or what
    went wrong (timeout, refused address, connection error)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    url = models.CharField(max_length=2048)
    attempted_at = models.DateTimeField()
    success = models.BooleanField(default=False)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        constraints = [tenant_unique("webhookattempt", "delivery", "number")]
