from typing import Any

from django import forms

from apps.common.forms import CurrencyField, JsonObjectField, blank_to_none
from apps.customers.models import Contact, Customer

ADDRESS_KEYS = ("line1", "line2", "city", "state", "zip_code", "country")


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=255)
    status = forms.ChoiceField(
        required=False, choices=[("", "All statuses"), ("active", "Active"), ("churned", "Churned")]
    )


class CustomerForm(forms.Form):
    """Edit a customer. The billing currency is chosen once, at creation (see CustomerCreateForm)."""

    name = forms.CharField(max_length=255)
    legal_name = forms.CharField(max_length=255, required=False)
    external_id = forms.CharField(
        max_length=255,
        required=False,
        label="External ID",
        help_text="Your system's id for this customer; signals and API calls can refer to it.",
    )
    email = forms.EmailField(max_length=254, required=False, label="Billing email")
    phone = forms.CharField(max_length=64, required=False)
    website = forms.CharField(max_length=255, required=False)
    vat_number = forms.CharField(max_length=64, required=False, label="VAT number")
    tax_exempt = forms.BooleanField(
        required=False,
        label="Tax exempt",
        help_text="Invoices for this customer charge no tax (the billing settings' rate is not applied).",
    )
    line1 = forms.CharField(max_length=255, required=False, label="Address line 1")
    line2 = forms.CharField(max_length=255, required=False, label="Address line 2")
    city = forms.CharField(max_length=255, required=False)
    state = forms.CharField(max_length=255, required=False, label="State / region")
    zip_code = forms.CharField(max_length=32, required=False, label="Postal code")
    country = forms.CharField(max_length=64, required=False)
    metadata = JsonObjectField()

    @classmethod
    def initial_for(cls, customer: Customer) -> dict[str, Any]:
        initial = {name: getattr(customer, name) for name in cls.base_fields if hasattr(customer, name)}
        initial.update(customer.billing_address or {})
        return initial

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A customer needs a name.")
        return name

    def service_fields(self) -> dict[str, Any]:
        """Cleaned data shaped for customer_create / customer_update."""
        data = dict(self.cleaned_data)
        address = {key: data.pop(key).strip() for key in ADDRESS_KEYS}
        data["billing_address"] = {key: value for key, value in address.items() if value} or None
        data["external_id"] = blank_to_none(data["external_id"])
        return data


class CustomerCreateForm(CustomerForm):
    default_currency = CurrencyField(
        initial="USD", label="Billing currency", help_text="ISO 4217 code, e.g. USD."
    )

    field_order = ["name", "legal_name", "external_id", "default_currency"]


class ContactForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    phone = forms.CharField(max_length=64, required=False)
    roles = forms.MultipleChoiceField(
        choices=[(Contact.Role.BILLING, "Billing"), (Contact.Role.ACCOUNTS_PAYABLE, "Accounts payable")],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
