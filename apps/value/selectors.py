"""Reading value metrics (docs/value.md, "Value metrics")."""

from django.db.models import QuerySet

from apps.common.exceptions import NotFound
from apps.value.models import ValueMetric, ValueModel


def value_metric_list(*, organization, include_archived: bool = False) -> QuerySet[ValueMetric]:
    metrics = ValueMetric.objects.filter(organization=organization)
    if not include_archived:
        metrics = metrics.filter(archived_at__isnull=True)
    return metrics.order_by("created_at", "id")


def value_metric_get(*, organization, slug: str) -> ValueMetric:
    """The metric, archived or not; NotFound for another organization's slug."""
    try:
        return ValueMetric.objects.get(organization=organization, slug=slug)
    except ValueMetric.DoesNotExist:
        raise NotFound("Value metric", slug) from None


def value_model_version(*, organization) -> int:
    """The organization's active value-model version (0 before its first metric write)."""
    version = ValueModel.objects.filter(organization=organization).values_list("version", flat=True).first()
    return version or 0
