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


class Checkout(TenantModel):
    """A hosted checkout link (§3.7): the plans offered, who buys (a known customer, an external id to create or
    attach, or whoever fills in the form) and where the buyer goes afterwards. The page lives at `/c/<token>/`.

    `status` is stored as active, completed (a single-use link that was used), expired (set by the sweep) or
    archived; an active link whose `expires_at` passed reads `expired` before the sweep gets to it."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        EXPIRED = "expired"
        ARCHIVED = "archived"

    display_id = display_id_field("chk")
    token = models.CharField(max_length=64, default=new_link_token, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # [{"id": "prod_…", "plans": [{"id": "plan_…", "features": ["…"]}]}] as sent (plans omitted = all plans).
    products = models.JSONField(default=list)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_customer_id = models.CharField(max_length=255, null=True, blank=True)
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    collect_address = models.BooleanField(default=False)
    collect_phone = models.BooleanField(default=False)
    single_use = models.BooleanField(default=False)
    currency = models.CharField(max_length=3, null=True, blank=True)  # the currency lock
    allowed_currencies = models.JSONField(default=list)
    custom_cards = models.JSONField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("checkout", "display_id"),
            models.UniqueConstraint(fields=["token"], name="checkout_token_uniq"),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "created_at"], name="checkout_org_status_idx")
        ]

    def __str__(self) -> str:
        return self.display_id


class CheckoutAttempt(TenantModel):
    """One buyer's go at a checkout: the plan and details they gave, the Stripe SetupIntent their card is
    confirmed with (none for free plans), and once completed the customer and order it made. Completion is
    keyed by this row: the browser's return and Stripe's webhook both complete the same attempt, once."""

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETED = "completed"
        FAILED = "failed"

    display_id = display_id_field("chka")
    checkout = models.ForeignKey(Checkout, on_delete=models.CASCADE, related_name="attempts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # A random key the page's form carries: a double submit of one form finds the same attempt.
    client_key = models.CharField(max_length=64)
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    name = models.CharField(max_length=255)
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=64, blank=True, default="")
    address = models.JSONField(null=True, blank=True)
    free = models.BooleanField(default=False)
    setup_intent_id = models.CharField(max_length=255, null=True, blank=True)
    client_secret = models.CharField(max_length=255, blank=True, default="")
    payment_method_id = models.CharField(max_length=255, blank=True, default="")  # Stripe's pm_…
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failure_message = models.TextField(blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)  # first invoice built, posted and charged

    class Meta:
        constraints = [
            tenant_unique("checkoutattempt", "display_id"),
            tenant_unique("checkoutattempt", "checkout", "client_key"),
            tenant_unique(
                "checkoutattempt", "setup_intent_id", condition=models.Q(setup_intent_id__isnull=False)
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "checkout", "status"], name="checkoutattempt_org_chk_idx")
        ]

    def __str__(self) -> str:
        return self.display_id
