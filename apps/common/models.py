from functools import partial

from django.db import models

from apps.common.ids import new_display_id


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def display_id_field(prefix: str) -> models.CharField:
    """The public id column: prefixed random base62, unique within the organization."""
    return models.CharField(max_length=40, default=partial(new_display_id, prefix), editable=False)


class TenantModel(TimestampedModel):
    """Base for every domain row: it belongs to one organization, and its public id is a display id.

    Subclasses set `display_id = display_id_field("cus")` and add an organization-first unique constraint
    on it (see `tenant_unique`)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


def tenant_unique(
    model_name: str, *fields: str, condition: models.Q | None = None
) -> models.UniqueConstraint:
    """An organization-first unique constraint (keeps the schema distributable by organization)."""
    return models.UniqueConstraint(
        fields=["organization", *fields],
        name=f"{model_name}_org_{'_'.join(fields)}_uniq",
        condition=condition,
    )
