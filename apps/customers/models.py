from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.common.models import TenantModel, display_id_field, tenant_unique

LIVE = Q(deleted_at__isnull=True)


class Customer(TenantModel):
    """Someone the organization bills. Deleting soft-deletes: invoices and usage keep pointing at the row."""

    class CreationState(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"

    display_id = display_id_field("cus")
    name = models.CharField(max_length=255)
    legal_name = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    website = models.CharField(max_length=255, blank=True, default="")
    external_id = models.CharField(max_length=255, null=True, blank=True)
    billing_address = models.JSONField(null=True, blank=True)
    creation_state = models.CharField(
        max_length=16, choices=CreationState.choices, default=CreationState.ACTIVE
    )
    churn_date = models.DateTimeField(null=True, blank=True)
    vat_number = models.CharField(max_length=64, blank=True, default="")
    metadata = models.JSONField(null=True, blank=True)
    default_currency = models.CharField(max_length=3, default="USD")
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    # Invoices charge this customer no tax (dashboard only: Paid's Customer has no such field).
    tax_exempt = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            tenant_unique("customer", "display_id"),
            tenant_unique("customer", "external_id", condition=LIVE & Q(external_id__isnull=False)),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="customer_org_created_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return "churned" if self.churn_date is not None and self.churn_date <= timezone.now() else "active"


class CustomerAlias(TenantModel):
    """An alternate external id that resolves to the customer (signal attribution, filters)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")

    class Meta:
        constraints = [tenant_unique("customeralias", "alias")]


class Contact(TenantModel):
    class Role(models.TextChoices):
        BILLING = "BILLING"
        ACCOUNTS_PAYABLE = "ACCOUNTS_PAYABLE"

    display_id = display_id_field("con")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=64, blank=True, default="")
    billing_address = models.JSONField(null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    roles = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            tenant_unique("contact", "display_id"),
            tenant_unique("contact", "external_id", condition=Q(external_id__isnull=False)),
        ]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class CustomerUser(TenantModel):
    """A person at the customer (an end user of the AI product), named by the caller's external id.

    Seats on orders are assigned to customer users, and signals carrying `data.external_user_id` spend from
    that user's seat credit pool. Unset name, email and metadata are null (the API returns them as sent)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        DEACTIVATED = "deactivated"

    display_id = display_id_field("cu")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="users")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, null=True, blank=True)
    email = models.CharField(max_length=254, null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        constraints = [
            tenant_unique("customeruser", "display_id"),
            # The upsert key: the row a concurrent upsert of the same user collides on.
            tenant_unique("customeruser", "customer", "external_id"),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id
