import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import ApiKey, Membership, Organization
from apps.accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    organization_create,
    organization_settings_update,
)
from apps.common.exceptions import NotFound

pytestmark = pytest.mark.django_db


def test_api_key_is_stored_hashed_with_a_short_visible_prefix(organization):
    api_key, raw_key = api_key_create(organization=organization, name="ci")
    assert raw_key.startswith("tly_") and len(raw_key) >= 40
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert stored.prefix == raw_key[:12]
    assert raw_key not in {getattr(stored, f.attname) for f in ApiKey._meta.concrete_fields}


def test_authenticate_resolves_the_organization_and_records_last_use(organization):
    api_key, raw_key = api_key_create(organization=organization)
    assert api_key.last_used_at is None
    found = api_key_authenticate(raw_key=raw_key)
    assert found.pk == api_key.pk and found.organization == organization
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(organization):
    api_key, raw_key = api_key_create(organization=organization)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        api_key_authenticate(raw_key=raw_key)
        first = ApiKey.objects.get(pk=api_key.pk).last_used_at
        clock.shift(timedelta(seconds=30))
        api_key_authenticate(raw_key=raw_key)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
        clock.shift(timedelta(seconds=31))
        api_key_authenticate(raw_key=raw_key)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first


@pytest.mark.parametrize("raw_key", ["", "tly_", "tly_wrong", "sk_live_abc", "x" * 200])
def test_unknown_keys_do_not_authenticate(organization, raw_key):
    api_key_create(organization=organization)
    assert api_key_authenticate(raw_key=raw_key) is None


def test_revoked_key_stops_authenticating_at_once(organization):
    api_key, raw_key = api_key_create(organization=organization)
    assert api_key_authenticate(raw_key=raw_key) is not None
    api_key_revoke(organization=organization, key_id=api_key.pk)
    assert api_key_authenticate(raw_key=raw_key) is None


def test_revoking_another_organizations_key_is_not_found(organization, other_organization):
    api_key, raw_key = api_key_create(organization=other_organization)
    with pytest.raises(NotFound):
        api_key_revoke(organization=organization, key_id=api_key.pk)
    assert api_key_authenticate(raw_key=raw_key) is not None


def test_organization_create_makes_an_owner_login(db):
    organization, user = organization_create(
        name=" Acme ", admin_email="Ops@Acme.test", admin_password="s3cret-pass"
    )
    assert organization.name == "Acme" and organization.display_id.startswith("org_")
    assert user.username == "ops@acme.test" and user.check_password("s3cret-pass")
    assert Membership.objects.get(organization=organization, user=user).role == Membership.Role.OWNER


def test_create_organization_command_prints_json(db):
    out = StringIO()
    call_command(
        "create_organization",
        "Acme",
        "--admin-email",
        "a@acme.test",
        "--admin-password",
        "pw-123456",
        "--json",
        stdout=out,
    )
    payload = json.loads(out.getvalue())
    assert set(payload) == {"organizationId", "apiKey"}
    assert (
        api_key_authenticate(raw_key=payload["apiKey"]).organization.display_id == payload["organizationId"]
    )


def test_create_api_key_command_prints_json(organization):
    out = StringIO()
    call_command("create_api_key", "--organization", organization.display_id, "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert list(payload) == ["apiKey"]
    assert api_key_authenticate(raw_key=payload["apiKey"]).organization == organization
    # The numeric id works too.
    out = StringIO()
    call_command("create_api_key", "--organization", str(organization.pk), "--json", stdout=out)
    assert api_key_authenticate(raw_key=json.loads(out.getvalue())["apiKey"]).organization == organization


def test_create_api_key_for_unknown_organization_fails_cleanly(db):
    with pytest.raises(CommandError, match="not found"):
        call_command("create_api_key", "--organization", "org_missing", "--json", stdout=StringIO())
    assert not Organization.objects.exists()


def test_organization_settings_update(organization, other_organization):
    assert organization.auto_create_customers is False
    organization_settings_update(organization=organization, auto_create_customers=True)
    assert Organization.objects.get(pk=organization.pk).auto_create_customers is True
    assert Organization.objects.get(pk=other_organization.pk).auto_create_customers is False
    organization_settings_update(organization=organization, auto_create_customers=False)
    assert Organization.objects.get(pk=organization.pk).auto_create_customers is False
