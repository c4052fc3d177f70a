from django import forms
from django.contrib.auth.forms import AuthenticationForm


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Key name",
        help_text="Where the key is used, e.g. “Production backend”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class OrganizationSettingsForm(forms.Form):
    auto_create_customers = forms.BooleanField(
        required=False,
        label="Create customers from signals",
        help_text=(
            "When a signal names an externalCustomerId that no customer has, create a customer with that "
            "external ID (named after it) and attribute the signal to it. Off: such signals are kept "
            "unattributed until you create the customer."
        ),
    )


class LoginForm(AuthenticationForm):
    """Logins are email addresses, stored lower-case: accept them in any case."""

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()
