"""Invoice display formatting: money, unit prices, quantities, tax rates, dates and billing periods.

Pure functions over ints, Decimals and strings (never floats), shared by the invoice PDF and the dashboard.
Amounts arrive in minor units (cents, yen) as in the posted invoice snapshot; unit prices are decimal strings
in minor units that may go below one minor unit (0.25 cents = $0.0025)."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from apps.common.currencies import MINOR_UNITS
from apps.common.templatetags.money import SYMBOLS

DEFAULT_EXPONENT = 2
QUANTITY_DECIMALS = 6
EMPTY = "—"
DASH = "\u2013"  # en dash, between the two ends of a period

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_decimal(value) -> Decimal | None:
    """`value` (int, Decimal or decimal string) as a finite Decimal; None for null, blanks and garbage.

    Floats are refused outright (TypeError): a float in money code is a bug to surface, not to round away."""
    if isinstance(value, float):
        raise TypeError(
            "floats are not accepted for money, quantities or rates; pass a Decimal, int or string"
        )
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def currency_exponent(currency: str | None) -> int:
    """How many decimals the currency's minor unit has (USD 2, JPY 0, KWD 3); 2 for codes ISO 4217 lacks."""
    return MINOR_UNITS.get((currency or "").strip().upper(), DEFAULT_EXPONENT)


def format_money(minor_amount, currency: str | None) -> str:
    """Minor units as money with exactly the currency's decimals: 123456 USD → "$1,234.56", 500 JPY → "¥500",
    -250 CHF → "-CHF 2.50". A fractional minor amount keeps its extra digits rather than being rounded."""
    return _money(to_decimal(minor_amount), currency)


def format_unit_price(minor_price, currency: str | None) -> str:
    """A unit price in minor units, shown exactly: the currency's decimals, more only where the price has them.

    "2900" USD → "$29.00"; "0.25" USD → "$0.0025"; "12.5000" USD → "$0.125"; "3.5" JPY → "¥3.5"."""
    return _money(to_decimal(minor_price), currency)


def _money(number: Decimal | None, currency: str | None) -> str:
    if number is None:
        return EMPTY
    exponent = currency_exponent(currency)
    magnitude = _grouped(_shift(number.copy_abs(), -exponent), min_decimals=exponent)
    code = (currency or "").strip().upper()
    symbol = SYMBOLS.get(code)
    text = f"{symbol}{magnitude}" if symbol else f"{code} {magnitude}" if code else magnitude
    return f"-{text}" if number < 0 else text


def format_quantity(value) -> str:
    """A quantity: whole numbers without decimals ("1,000"), others with up to 6 (half up, trailing zeros dropped)."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    with localcontext() as context:
        context.prec = max(context.prec, number.adjusted() + QUANTITY_DECIMALS + 2)
        rounded = number.quantize(Decimal(1).scaleb(-QUANTITY_DECIMALS), rounding=ROUND_HALF_UP)
    text = _grouped(rounded.copy_abs(), min_decimals=0)
    return f"-{text}" if rounded < 0 else text


def format_tax_rate(rate) -> str:
    """A tax rate given in percent as a decimal string: "8.25" → "8.25%", "20.000" → "20%"; "" when unknown."""
    number = to_decimal(rate)
    if number is None:
        return ""
    return f"{_grouped(number, min_decimals=0)}%"


def _shift(number: Decimal, places: int) -> Decimal:
    """`number` * 10**places, exactly (Decimal arithmetic and scaleb would round to the context's 28 digits)."""
    sign, digits, exponent = number.as_tuple()
    return Decimal((sign, digits, exponent + places)) if isinstance(exponent, int) else number


def _grouped(number: Decimal, *, min_decimals: int) -> str:
    """`number` with thousands separators and at least `min_decimals` decimals, never dropping a digit
    (trailing zeros past `min_decimals` carry nothing and go: "12.5000" cents is $0.125)."""
    _, digits, exponent = number.as_tuple()
    significant = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    decimals = max(min_decimals, -(exponent + significant) if number else 0)
    return f"{number:,.{decimals}f}"


def parse_date(value) -> date | None:
    """An ISO 8601 date or datetime (string, date or datetime) as a UTC calendar date; None when absent or invalid."""
    moment = _parse(value)
    return moment.date() if isinstance(moment, datetime) else moment


def _parse(value) -> date | datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return None
    return moment


def format_date(value) -> str:
    """An ISO 8601 date or datetime as "Jan 5, 2025" (UTC); "—" when absent; an unparseable string as it is."""
    day = parse_date(value)
    if day is None:
        return value.strip() if isinstance(value, str) and value.strip() else EMPTY
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def period_last_day(end) -> date | None:
    """The last day a half-open period [start, end) covers: the day before `end` when `end` is a date or a
    UTC midnight, otherwise the day `end` falls on."""
    moment = _parse(end)
    if moment is None:
        return None
    if isinstance(moment, datetime):
        if moment.time() != datetime.min.time():
            return moment.date()
        moment = moment.date()
    return moment - timedelta(days=1) if moment > date.min else moment


def format_period(start, end) -> str:
    """A half-open billing period [start, end) with inclusive dates: ("2025-01-01", "2025-02-01") →
    "Jan 1 - Jan 31, 2025"; across years "Dec 15, 2024 - Jan 14, 2025"; a one-day period "Jan 1, 2025"
    (the dash is an en dash)."""
    first, last = parse_date(start), period_last_day(end)
    if first is not None and last is not None and last < first:
        last = first
    if first is None and last is None:
        return EMPTY
    if first is None:
        return f"until {format_date(last)}"
    if last is None:
        return f"from {format_date(first)}"
    if first == last:
        return format_date(first)
    if first.year == last.year:
        return f"{_MONTHS[first.month - 1]} {first.day} {DASH} {format_date(last)}"
    return f"{format_date(first)} {DASH} {format_date(last)}"
