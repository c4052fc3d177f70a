import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey, Membership, Organization
from apps.accounts.selectors import api_key_get
from apps.common.exceptions import DomainError

KEY_PREFIX = "tly_"
VISIBLE_PREFIX_LENGTH = 12
# last_used_at is written at most this often per key, so hot API paths do not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_api_key(raw_key: str) -> str:
    # Keys carry ~238 bits of randomness, so a fast hash is enough; a slow KDF would only cost latency.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def organization_create(*, name: str, admin_email: str, admin_password: str) -> tuple[Organization, object]:
    """Create an organization and its owner login (an existing user with that email becomes the owner)."""
    name, admin_email = name.strip(), admin_email.strip().lower()
    if not name:
        raise DomainError("Organization name is required", field="name")
    if not admin_email:
        raise DomainError("Admin email is required", field="admin_email")
    user_model = get_user_model()
    user = user_model.objects.filter(username=admin_email).first()
    if user is None:
        user = user_model.objects.create_user(
            username=admin_email, email=admin_email, password=admin_password
        )
    organization = Organization.objects.create(name=name)
    Membership.objects.create(organization=organization, user=user, role=Membership.Role.OWNER)
    return organization, user


@transaction.atomic
def organization_settings_update(*, organization: Organization, auto_create_customers: bool) -> Organization:
    """Change the organization's settings (today: whether signal ingest creates unknown customers)."""
    organization.auto_create_customers = auto_create_customers
    organization.save(update_fields=["auto_create_customers", "updated_at"])
    return organization


@transaction.atomic
def api_key_create(
    *, organization: Organization, name: str = "Default", created_by=None
) -> tuple[ApiKey, str]:
    """Mint a key. The plaintext is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name.strip() or "Default",
        prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
        key_hash=hash_api_key(raw_key),
        created_by=created_by,
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, organization: Organization, key_id: int) -> ApiKey:
    """Revoke a key; it stops authenticating on the next request."""
    api_key = api_key_get(organization=organization, key_id=key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None. Records last use (at minute resolution)."""
    if not raw_key.startswith(KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.select_related("organization")
        .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
