"""Money and credit amounts for templates: `{% load money %}`, then `{{ 2900|money:"USD" }}` → `$29.00`.

Prices are stored in minor units (cents, yen) and may carry sub-cent precision; these filters show them in
major units with the currency's usual decimals, and more (up to 6) only when the amount needs them."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from apps.common.currencies import MINOR_UNITS

register = template.Library()

MAX_DECIMALS = 6

# Symbols for the currencies people recognise by symbol; every other currency is shown with its ISO code.
SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "CNY": "CN¥",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "BRL": "R$",
    "MXN": "MX$",
    "ILS": "₪",
    "VND": "₫",
}


def _decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _grouped(number: Decimal, *, min_decimals: int) -> str:
    """`number` with thousands separators and between `min_decimals` and 6 decimals (rounded half up at 6)."""
    exponent = number.normalize().as_tuple().exponent
    decimals = min(max(min_decimals, -exponent if isinstance(exponent, int) else 0), MAX_DECIMALS)
    number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{number:,.{decimals}f}"


def format_money(minor_amount, currency: str) -> str:
    """An amount in minor units as money in `currency`: 2900 USD → "$29.00", 0.5 USD → "$0.005"."""
    number = _decimal(minor_amount)
    code = (currency or "").strip().upper()
    if number is None or code not in MINOR_UNITS:
        return "" if minor_amount is None else str(minor_amount)
    digits = MINOR_UNITS[code]
    major = number.scaleb(-digits)
    text = _grouped(abs(major), min_decimals=digits)
    symbol = SYMBOLS.get(code)
    text = f"{symbol}{text}" if symbol else f"{code} {text}"
    return f"-{text}" if major < 0 else text


def format_number(value) -> str:
    """A credit amount or quantity without trailing zeros: Decimal("500.000000") → "500", 1234.5 → "1,234.5"."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return _grouped(number, min_decimals=0)


def minor_to_major(minor_amount, currency: str) -> str:
    """Minor units as a plain major-unit number for an input: 2900 USD → "29.00", 0.5 USD → "0.005"."""
    number = _decimal(minor_amount)
    code = (currency or "").strip().upper()
    if number is None or code not in MINOR_UNITS:
        return ""
    return _grouped(number.scaleb(-MINOR_UNITS[code]), min_decimals=MINOR_UNITS[code]).replace(",", "")


@register.filter
def money(value, currency: str = "USD") -> str:
    """`{{ price.unit_price|money:price.currency }}`: minor units shown as money."""
    return format_money(value, currency)


@register.filter
def credits(value) -> str:
    """`{{ benefit.amount|credits }}`: a credit amount without trailing zeros, thousands grouped."""
    return format_number(value)
