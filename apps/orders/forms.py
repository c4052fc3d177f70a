"""Dashboard forms for orders: the list filters, a new order, and one seat's assignee."""

import re
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms

from apps.common.exceptions import DomainError
from apps.common.forms import CurrencyField, blank_to_none
from apps.orders.models import Order


class OrderFilterForm(forms.Form):
    STATUS_CHOICES = [("", "All statuses"), *Order.Status.choices]

    q = forms.CharField(required=False, max_length=255)
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    customer = forms.CharField(required=False, max_length=64)  # a customer's display id (its page's card)


def _midnight_utc(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time.min, tzinfo=UTC)


class OrderCreateForm(forms.Form):
    """A new order: its customer, dates and currency, and one line per chosen product (each copying the
    product's pricing, or its default plan's)."""

    customer = forms.ChoiceField()
    products = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one product."},
        help_text="Each product becomes a line that copies the product's pricing (its default plan if it has one).",
    )
    currency = CurrencyField(
        required=False, help_text="ISO 4217 code. Leave empty to use the customer's billing currency."
    )
    name = forms.CharField(max_length=255, required=False, help_text="Defaults to “Order #N”.")
    start_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty to start now. Dates are in UTC.",
    )
    end_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty for an open-ended order.",
    )
    activate_now = forms.BooleanField(
        required=False,
        label="Activate now",
        help_text="Otherwise the order is saved as a draft you can review and activate later.",
    )

    field_order = ["customer", "currency", "name", "start_date", "end_date", "products", "activate_now"]

    # Where a service's error path lands on this form.
    FIELD_OF = {
        "customerId": "customer",
        "currency": "currency",
        "name": "name",
        "startDate": "start_date",
        "endDate": "end_date",
        "lines": "products",
    }

    def __init__(self, *args, customers, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].choices = [("", "Choose a customer…")] + [
            (customer.display_id, f"{customer.name} ({customer.default_currency})") for customer in customers
        ]
        self.fields["products"].choices = [(product.display_id, product.name) for product in products]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start_date"), data.get("end_date")
        if end is not None and end <= (start or datetime.now(UTC).date()):
            self.add_error("end_date", "Must be after the start date." if start else "Must be after today.")
        return data

    def service_fields(self) -> dict[str, Any]:
        """Cleaned data shaped for order_create."""
        data = self.cleaned_data
        return {
            "customer_id": data["customer"],
            "currency": data["currency"] or None,
            "name": blank_to_none(data["name"]),
            "start_date": _midnight_utc(data["start_date"]),
            "end_date": _midnight_utc(data["end_date"]),
            "lines": [{"product_id": product_id} for product_id in data["products"]],
            "creation_state": Order.CreationState.ACTIVE if data["activate_now"] else None,
        }

    def add_domain_error(self, error: DomainError) -> None:
        """A service's refusal on the field its wire path names (`lines[1].productId` → products)."""
        head = re.split(r"[.\[]", error.field or "", maxsplit=1)[0]
        field = self.FIELD_OF.get(head)
        message = error.message
        if head == "lines" and (match := re.match(r"lines\[(\d+)\]", error.field or "")):
            chosen = self.cleaned_data.get("products") or []
            index = int(match.group(1))
            if index < len(chosen):
                label = dict(self.fields["products"].choices).get(chosen[index], chosen[index])
                message = f"{label}: {message}"
        self.add_error(field, message)


class SeatAssignForm(forms.Form):
    """Who holds one seat: a user of the order's customer by external id, or nobody."""

    user = forms.ChoiceField(required=False, label="Assignee")

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Unassigned")]
        choices += [
            (user.external_id, user.external_id if not user.name else f"{user.external_id} · {user.name}")
            for user in users
        ]
        self.fields["user"].choices = choices

    def user_external_id(self) -> str | None:
        return self.cleaned_data.get("user") or None
