from django import template

from apps.billing.formatting import format_period

register = template.Library()


@register.filter
def period(start, end) -> str:
    """`{{ line.period_start|period:line.period_end }}`: a half-open period with its inclusive last day, as the
    invoice PDF prints it ("Jan 1 - Jan 31, 2026", with an en dash)."""
    return format_period(start, end)
