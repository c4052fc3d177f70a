"""Forms of the signals pages."""

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms

from apps.signals.models import Signal


class SignalFilterForm(forms.Form):
    ATTRIBUTION_CHOICES = [
        ("", "Any"),
        ("resolved", "Customer found"),
        ("unresolved_customer", "Customer unknown"),
        ("unresolved_product", "Product unknown"),
    ]
    RATING_CHOICES = [("", "Any"), *Signal.Rating.choices]

    event = forms.CharField(required=False, max_length=255, label="Event name")
    customer = forms.CharField(
        required=False, max_length=255, label="Customer", help_text="Customer id (cus_…) or external id"
    )
    product = forms.ChoiceField(required=False, label="Product")
    received_from = forms.DateField(
        required=False, label="Received from", widget=forms.DateInput(attrs={"type": "date"})
    )
    received_to = forms.DateField(
        required=False, label="Received to", widget=forms.DateInput(attrs={"type": "date"})
    )
    attribution = forms.ChoiceField(required=False, choices=ATTRIBUTION_CHOICES, label="Attribution")
    rating = forms.ChoiceField(required=False, choices=RATING_CHOICES, label="Rating status")

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", "Any")] + [(p.display_id, p.name) for p in products]

    def selector_filters(self) -> dict[str, Any]:
        """Keyword arguments for `signal_search`; dates are whole UTC days, both ends included."""
        data = self.cleaned_data if self.is_valid() else {}
        received_to = data.get("received_to")
        return {
            "signal_name": (data.get("event") or "").strip() or None,
            "customer": (data.get("customer") or "").strip() or None,
            "product_id": data.get("product") or None,
            "received_from": _day_start(data.get("received_from")),
            "received_to": _day_start(received_to) + timedelta(days=1, microseconds=-1)
            if received_to
            else None,
            "attribution": data.get("attribution") or None,
            "rating": data.get("rating") or None,
        }

    def is_filtered(self) -> bool:
        return any(value for value in self.selector_filters().values())


def _day_start(day) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None
