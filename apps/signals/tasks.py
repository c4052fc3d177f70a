"""django-q2 entry points for signals. They take ids, call services and are safe to run again.

Attribution of late customers is pulled, not pushed: customers sit below signals in the layer order and cannot
tell signals that a customer (or an external id, or an alias) appeared. So a schedule runs
`attribute_unresolved` every few minutes, and rating calls `signal_attribute_unresolved` for its organization
before it prices anything; between the two, list filters still match unresolved signals by their raw ids."""

from django.db.models import Q

from apps.accounts.selectors import organization_get
from apps.signals import services
from apps.signals.models import Signal


def attribute_unresolved(organization_id: int | None = None) -> int:
    """Attribute unresolved signals of one organization, or of every organization that has any."""
    if organization_id is not None:
        organization_ids = [organization_id]
    else:
        unresolved = Q(customer__isnull=True) | Q(
            Q(product_ref__isnull=False) | Q(external_product_id__isnull=False), product__isnull=True
        )
        organization_ids = sorted(
            set(Signal.objects.filter(unresolved).values_list("organization_id", flat=True).distinct())
        )
    return sum(
        services.signal_attribute_unresolved(organization=organization_get(organization_id=pk))
        for pk in organization_ids
    )


def purge_signal_keys() -> int:
    """Daily: forget idempotency keys past the retention window."""
    return services.signal_keys_purge()
