"""Form fields shared by the dashboard apps."""

import json

from django import forms

from apps.common.currencies import normalize_currency


class JsonObjectField(forms.CharField):
    """A JSON object typed into a textarea (metadata). Empty means none; anything but an object is refused."""

    widget = forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", 'A JSON object, e.g. {"plan": "enterprise"}. Leave empty for none.')
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Must be a JSON object, e.g. {"key": "value"}.')
        return parsed


class CurrencyField(forms.CharField):
    """An ISO 4217 code, normalised to upper case."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 4, "autocapitalize": "characters"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        currency = normalize_currency(value)
        if currency is None:
            raise forms.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
        return currency


def blank_to_none(value: str | None) -> str | None:
    """Optional identifiers (external ids, product codes) are stored as NULL, never as ""."""
    value = (value or "").strip()
    return value or None
