"""Forms of the credits pages: the ledger's filters and the manual grant."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms

KIND_CHOICES = [
    ("", "Any"),
    ("grant", "Grant"),
    ("spend", "Spend"),
    ("expiry", "Expiry"),
    ("rollover", "Rollover"),
    ("adjustment", "Adjustment"),
    ("pending", "Pending grant"),
]
ORGANIZATION_POOL = "org"

# The service names the request field it refuses in the API's camelCase; the form's fields are snake_case.
SERVICE_FIELDS = {
    "creditCurrencyKey": "credit_currency_key",
    "amount": "amount",
    "startsAt": "starts_at",
    "expiresAt": "expires_at",
}


def new_idempotency_key() -> str:
    """A fresh key for one rendering of the grant form: resubmitting that form replays its first grant."""
    return f"dash-{secrets.token_urlsafe(18)}"


def _day_start(day) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class LedgerFilterForm(forms.Form):
    """The ledger's filters. `pools` are the customer's pools: `org` for the organization pools, a seat's id for
    that seat's pools (with the currency filter, one pool)."""

    currency = forms.ChoiceField(required=False, label="Currency")
    kind = forms.ChoiceField(required=False, choices=KIND_CHOICES, label="Type")
    pool = forms.ChoiceField(required=False, label="Pool")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, currencies=(), pools=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "Any"), *currencies]
        self.fields["pool"].choices = [("", "Any"), *pools]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "Must be on or after the From date.")
        return data

    def ledger_filters(self) -> dict[str, Any]:
        """The valid filters (an invalid one is shown with its error and ignored); dates are whole UTC days,
        both ends included."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        pool = data.get("pool") or None
        date_to = data.get("date_to")
        return {
            "currency_id": data.get("currency") or None,
            "kind": data.get("kind") or None,
            "seat_id": None if pool in (None, ORGANIZATION_POOL) else uuid.UUID(pool),
            "organization_pool": pool == ORGANIZATION_POOL,
            "at_from": _day_start(data.get("date_from")),
            "at_to": _day_start(date_to) + timedelta(days=1, microseconds=-1) if date_to else None,
        }

    def is_filtered(self) -> bool:
        return any(self.ledger_filters().values())


class CreditGrantForm(forms.Form):
    """A manual grant into the customer's organization pool (`services.credit_grant_manual`). Times are UTC.
    The hidden idempotency key is made when the form is rendered, so a double submit grants once."""

    credit_currency_key = forms.ChoiceField(label="Credit currency")
    amount = forms.DecimalField(
        max_digits=20,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        label="Amount",
        error_messages={"min_value": "Must be more than 0."},
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
        help_text="Credits to add, up to 6 decimal places.",
    )
    starts_at = forms.DateTimeField(
        required=False,
        label="Starts (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: now. It cannot be in the future.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: the credits never expire.",
    )
    idempotency_key = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, currencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(currency.key, f"{currency.name} ({currency.key})") for currency in currencies]
        self.has_currencies = bool(choices)
        # One currency is preselected; with several, the person picks one.
        self.fields["credit_currency_key"].choices = (
            choices if len(choices) <= 1 else [("", "Choose a currency"), *choices]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, expires = data.get("starts_at"), data.get("expires_at")
        if starts and expires and expires <= starts:
            self.add_error("expires_at", "Must be after the start.")
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "credit_currency_key": data["credit_currency_key"],
            "amount": data["amount"],
            "starts_at": data.get("starts_at"),
            "expires_at": data.get("expires_at"),
            "idempotency_key": (data.get("idempotency_key") or "").strip() or None,
        }
