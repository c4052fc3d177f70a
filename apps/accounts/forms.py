from django import forms
from django.contrib.auth.forms import AuthenticationForm


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Key name",
        help_text="Where the key is used, e.g. “Production backend”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class LoginForm(AuthenticationForm):
    """Logins are email addresses, stored lower-case: accept them in any case."""

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()
