"""Hosted checkout sessions and customer portal links (docs/checkout.md)."""

import secrets

from django.db import models

from apps.common.models import TenantModel, display_id_field, tenant_unique


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


class CustomerPortal(TenantModel):
    """A short-lived link to the customer portal (§3.13): whoever holds the URL's token sees that customer's
    plan, credits, invoices and payment methods until `expires_at`."""

    display_id = display_id_field("cpl")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, default=new_link_token, editable=False)
    return_url = models.URLField(max_length=2000, null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            tenant_unique("customerportal", "display_id"),
            models.UniqueConstraint(fields=["token"], name="customerportal_token_uniq"),
        ]

    def __str__(self) -> str:
        return self.display_id
