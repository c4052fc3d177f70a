from functools import partial

from django.conf import settings
from django.db import models

from apps.common.ids import new_display_id
from apps.common.models import TimestampedModel


class Organization(TimestampedModel):
    """A Tally tenant: the AI company that bills its own customers."""

    display_id = models.CharField(
        max_length=40, unique=True, default=partial(new_display_id, "org"), editable=False
    )
    name = models.CharField(max_length=255)
    # Signal ingest creates a customer (named after the id) for an externalCustomerId it does not know, and
    # attributes the signal to it. Off: such signals are stored unresolved until the customer appears.
    auto_create_customers = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Membership(TimestampedModel):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_org_user_uniq")
        ]


class ApiKey(TimestampedModel):
    """A secret for `Authorization: Bearer …`. Only its SHA-256 and a short prefix are stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created_idx")]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
