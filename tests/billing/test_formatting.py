"""Invoice display formatting (apps.billing.formatting): exact round-trips, no floats, stable dates."""

import inspect
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.billing import formatting
from apps.billing.formatting import (
    currency_exponent,
    format_date,
    format_money,
    format_period,
    format_quantity,
    format_tax_rate,
    format_unit_price,
    parse_date,
    period_last_day,
    to_decimal,
)
from apps.common.currencies import MINOR_UNITS
from apps.common.templatetags.money import SYMBOLS

CURRENCIES = st.sampled_from([*sorted(MINOR_UNITS), "XYZ", ""])


def parse_display(text: str, currency: str) -> Decimal:
    """The inverse of format_money/format_unit_price: back to minor units."""
    negative = text.startswith("-")
    text = text.removeprefix("-")
    code = currency.upper()
    prefix = SYMBOLS.get(code) or (f"{code} " if code else "")
    assert text.startswith(prefix), (text, prefix)
    _, digits, exponent = Decimal(text.removeprefix(prefix).replace(",", "")).as_tuple()
    # Shift the exponent by hand: scaleb would round to the context's 28 digits.
    return Decimal((int(negative), digits, exponent + currency_exponent(currency)))


def decimals_shown(text: str) -> int:
    return len(text.rsplit(".", 1)[1]) if "." in text else 0


# ---- money --------------------------------------------------------------------------------------------------


@given(amount=st.integers(min_value=-(10**15), max_value=10**15), currency=CURRENCIES)
def test_money_round_trips_with_exactly_the_currency_decimals(amount, currency):
    text = format_money(amount, currency)

    assert parse_display(text, currency) == amount
    assert decimals_shown(text) == currency_exponent(currency)


@given(
    price=st.decimals(min_value=-(10**9), max_value=10**12, places=12, allow_nan=False, allow_infinity=False),
    currency=CURRENCIES,
)
def test_unit_price_round_trips_exactly_and_drops_only_surplus_zeros(price, currency):
    for given_as in (price, str(price)):
        text = format_unit_price(given_as, currency)

        assert parse_display(text, currency) == price
        shown = decimals_shown(text)
        exponent = currency_exponent(currency)
        assert shown >= exponent
        if shown > exponent:
            assert not text.endswith("0")


@given(digits=st.text("0123456789", min_size=29, max_size=40))
def test_unit_prices_longer_than_the_decimal_context_keep_every_digit(digits):
    price = Decimal(f"0.{digits}1")

    assert parse_display(format_unit_price(price, "USD"), "USD") == price


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (123456, "USD", "$1,234.56"),
        (500, "JPY", "¥500"),
        (-250, "CHF", "-CHF 2.50"),
        (1234567, "KWD", "KWD 1,234.567"),
        (5, "XYZ", "XYZ 0.05"),
        (0, "eur", "€0.00"),
        (None, "USD", "—"),
        ("garbage", "USD", "—"),
    ],
)
def test_money_examples(value, currency, expected):
    assert format_money(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("2900", "USD", "$29.00"),
        ("0.25", "USD", "$0.0025"),
        ("12.5000", "USD", "$0.125"),
        ("1500.0000", "USD", "$15.00"),
        ("3.5", "JPY", "¥3.5"),
        ("1E+5", "USD", "$1,000.00"),
        ("-0.5", "EUR", "-€0.005"),
    ],
)
def test_unit_price_examples(value, currency, expected):
    assert format_unit_price(value, currency) == expected


# ---- quantities and rates -----------------------------------------------------------------------------------


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_whole_quantities_have_no_decimals(quantity):
    text = format_quantity(str(quantity))

    assert "." not in text
    assert Decimal(text.replace(",", "")) == quantity


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False))
def test_quantities_with_up_to_six_decimals_round_trip(quantity):
    text = format_quantity(quantity)

    assert Decimal(text.replace(",", "")) == quantity
    assert decimals_shown(text) <= 6
    assert "." not in text or not text.endswith("0")


@given(st.decimals(min_value=0, max_value=10**6, places=10, allow_nan=False, allow_infinity=False))
def test_longer_quantities_round_half_up_at_six_decimals(quantity):
    expected = quantity.quantize(Decimal("0.000001"), rounding="ROUND_HALF_UP")

    assert Decimal(format_quantity(quantity).replace(",", "")) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), ("1000000", "1,000,000"), ("1.5000", "1.5"), ("0.1234567", "0.123457"), ("-0.0000001", "0")],
)
def test_quantity_examples(value, expected):
    assert format_quantity(value) == expected


def test_tax_rates_are_percentages_without_surplus_zeros():
    assert format_tax_rate("8.25") == "8.25%"
    assert format_tax_rate("20.000") == "20%"
    assert format_tax_rate(Decimal("7.5")) == "7.5%"
    assert format_tax_rate(None) == ""


# ---- no floats ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "function",
    [
        lambda: format_money(12.5, "USD"),
        lambda: format_unit_price(0.1, "USD"),
        lambda: format_quantity(1.0),
        lambda: format_tax_rate(8.25),
        lambda: to_decimal(float("nan")),
    ],
)
def test_floats_are_refused(function):
    with pytest.raises(TypeError):
        function()


def test_the_module_never_converts_to_float():
    source = inspect.getsource(formatting)
    assert "float(" not in source and "round(" not in source


def test_booleans_are_not_numbers():
    assert to_decimal(True) is None
    assert format_money(False, "USD") == "—"


# ---- dates and periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-05", "Jan 5, 2025"),
        ("2025-01-05T00:00:00Z", "Jan 5, 2025"),
        ("2025-01-05T23:30:00-05:00", "Jan 6, 2025"),  # shown in UTC
        ("2025-12-31T12:00:00.123456+00:00", "Dec 31, 2025"),
        (date(2024, 2, 29), "Feb 29, 2024"),
        (datetime(2024, 2, 29, 23, 0, tzinfo=timezone(timedelta(hours=-2))), "Mar 1, 2024"),
        ("not a date", "not a date"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_date_examples(value, expected):
    assert format_date(value) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "Jan 1 \u2013 Jan 31, 2025"),
        ("2025-01-01", "2025-02-01", "Jan 1 \u2013 Jan 31, 2025"),
        ("2024-12-15", "2025-01-15", "Dec 15, 2024 \u2013 Jan 14, 2025"),
        ("2025-01-01", "2025-01-02", "Jan 1, 2025"),
        # an end that is not a midnight counts its own day
        ("2025-03-01T00:00:00Z", "2025-03-15T10:30:00Z", "Mar 1 \u2013 Mar 15, 2025"),
        ("2025-01-01", "2025-01-01", "Jan 1, 2025"),  # empty period: never an end before the start
        (None, "2025-02-01", "until Jan 31, 2025"),
        ("2025-01-01", None, "from Jan 1, 2025"),
        (None, None, "—"),
    ],
)
def test_period_examples(start, end, expected):
    assert format_period(start, end) == expected


@given(
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 1, 1)),
    days=st.integers(min_value=1, max_value=3660),
    as_datetime=st.booleans(),
)
def test_half_open_periods_show_their_last_covered_day(start, days, as_datetime):
    end = start + timedelta(days=days)
    start_text, end_text = (
        (f"{start.isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z")
        if as_datetime
        else (start.isoformat(), end.isoformat())
    )

    text = format_period(start_text, end_text)

    last = end - timedelta(days=1)
    assert period_last_day(end_text) == last
    assert text.endswith(format_date(last))
    assert parse_date(start_text) == start
    if last != start:
        first_shown = text.split(" \u2013 ")[0]
        assert first_shown in format_date(start)
