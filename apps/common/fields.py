"""Serializer fields shared by the API apps."""

from rest_framework import serializers

from apps.common.currencies import normalize_currency


class CurrencyField(serializers.CharField):
    default_error_messages = {"unknown": "'{value}' is not an ISO 4217 currency code."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        currency = normalize_currency(value)
        if currency is None:
            self.fail("unknown", value=value)
        return currency
