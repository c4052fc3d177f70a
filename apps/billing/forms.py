from decimal import Decimal

from django import forms

from apps.billing.models import Invoice


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "All statuses"), ("draft", "Draft"), ("posted", "Posted"), ("voided", "Voided")],
    )
    payment_status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any payment"),
            (Invoice.PaymentStatus.PENDING, "Unpaid"),
            (Invoice.PaymentStatus.PARTIALLY_PAID, "Partially paid"),
            (Invoice.PaymentStatus.PAID, "Paid"),
            (Invoice.PaymentStatus.OVERDUE, "Overdue"),
        ],
    )
    customer = forms.CharField(required=False, max_length=40)
    order = forms.CharField(required=False, max_length=40)


class BillingSettingsForm(forms.Form):
    """What invoices say about the seller, and how they are taxed and when they are due."""

    legal_name = forms.CharField(
        max_length=255,
        required=False,
        help_text="Shown on invoices as the seller; the organization's name if empty.",
    )
    tax_id = forms.CharField(max_length=64, required=False, label="Tax ID")
    line1 = forms.CharField(max_length=255, required=False, label="Address line 1")
    line2 = forms.CharField(max_length=255, required=False, label="Address line 2")
    city = forms.CharField(max_length=255, required=False)
    state = forms.CharField(max_length=255, required=False, label="State / region")
    postal_code = forms.CharField(max_length=32, required=False, label="Postal code")
    country = forms.CharField(max_length=64, required=False)
    tax_rate = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal(100),
        max_digits=7,
        decimal_places=4,
        label="Tax rate (%)",
        help_text="Charged on every invoice line, e.g. 8.25. Tax-exempt customers pay none.",
    )
    payment_terms_days = forms.IntegerField(
        min_value=0,
        max_value=3650,
        label="Default payment terms (days)",
        help_text="When an order's payment terms don't say (e.g. “Net 30”), invoices are due this many days "
        "after posting.",
    )

    ADDRESS = {
        "line1": "line1",
        "line2": "line2",
        "city": "city",
        "state": "state",
        "postal_code": "postalCode",
        "country": "country",
    }

    @classmethod
    def initial_for(cls, settings) -> dict:
        initial = {
            "legal_name": settings.legal_name,
            "tax_id": settings.tax_id,
            "tax_rate": settings.tax_rate.normalize() if settings.tax_rate else Decimal(0),
            "payment_terms_days": settings.payment_terms_days,
        }
        address = settings.address or {}
        initial.update({field: address.get(key, "") for field, key in cls.ADDRESS.items()})
        return initial

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        address = {key: data.pop(field).strip() for field, key in self.ADDRESS.items()}
        data["address"] = {key: value for key, value in address.items() if value}
        return data
