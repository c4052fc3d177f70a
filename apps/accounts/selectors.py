from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.accounts.models import ApiKey, Organization
from apps.common.exceptions import NotFound


def organization_get(*, organization_id: int | str) -> Organization:
    """By primary key or display id (`org_…`)."""
    lookup = (
        {"display_id": organization_id}
        if str(organization_id).startswith("org_")
        else {"pk": organization_id}
    )
    try:
        return Organization.objects.get(**lookup)
    except (Organization.DoesNotExist, ValueError):
        raise NotFound("Organization", str(organization_id)) from None


def organization_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).order_by("name", "pk")


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).order_by("revoked_at", "-created_at")


def api_key_get(*, organization: Organization, key_id: int) -> ApiKey:
    try:
        return ApiKey.objects.get(organization=organization, pk=key_id)
    except ApiKey.DoesNotExist:
        raise NotFound("API key", str(key_id)) from None
