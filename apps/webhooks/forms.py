"""Forms of the webhooks pages: one endpoint's switch and URL, and the delivery log's filters."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.webhooks.models import WEBHOOK_NAMES, WebhookDelivery

STATUS_CHOICES = [("", "Any status")] + [(value, label) for value, label in WebhookDelivery.Status.choices]


class EndpointForm(forms.Form):
    """`enabled` and `url` of one webhook. An empty URL clears it (only while the webhook is off)."""

    enabled = forms.BooleanField(required=False, label="Enabled")
    url = forms.CharField(
        required=False,
        max_length=2048,
        label="Endpoint URL",
        widget=forms.URLInput(
            attrs={"placeholder": "https://example.com/webhooks/tally", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, name: str, **kwargs):
        super().__init__(*args, prefix=name, **kwargs)
        self.name = name
        self.fields["url"].widget.attrs["aria-describedby"] = f"wh-help-{name}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("enabled") and not (data.get("url") or "").strip():
            self.add_error("url", "Enter the URL to send this webhook to, or turn the webhook off.")
        return data

    def changes(self) -> dict[str, Any]:
        """What the service applies: both keys, an empty URL as None."""
        return {"enabled": self.cleaned_data["enabled"], "url": self.cleaned_data["url"].strip() or None}


class DeliveryFilterForm(forms.Form):
    name = forms.ChoiceField(
        required=False, label="Webhook", choices=[("", "All webhooks")] + [(n, n) for n in WEBHOOK_NAMES]
    )
    status = forms.ChoiceField(required=False, label="Status", choices=STATUS_CHOICES)

    def selector_filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {"name": data.get("name") or None, "status": data.get("status") or None}
