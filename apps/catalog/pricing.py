"""The pricing math for one invoice or charge line: pure functions over Decimal, no database, no Django.

Money is in minor units of the line's currency (cents for USD) and stays an exact Decimal until `round_line`
turns a line's total into an int, once per line. Credits are Decimal rounded to 6 places by `round_credits`.
Bad input raises `PricingError` naming the wire field (`tiers[2].lowerBound`) so the API can answer 400.
The rules and the conventions chosen are written down in docs/pricing.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal, ParamSpec, TypeVar

from apps.common.currencies import MINOR_UNITS
from apps.common.exceptions import DomainError

Number = int | Decimal
PricingModel = Literal["PerUnit", "GraduatedPricing", "VolumePricing"]
BracketMode = Literal["flat", "graduated"]

CREDIT_PLACES = Decimal("0.000001")
# Every operation below (+, -, *, /100, divmod) is exact given enough digits. Trapping Inexact turns a silent
# rounding into an error, so the only roundings a line ever sees are the explicit ones in round_line/round_credits.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
_ROUNDING = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])

_P = ParamSpec("_P")
_R = TypeVar("_R")


class PricingError(DomainError):
    """Pricing input that cannot be priced; `field` is the wire path (`tiers[2].lowerBound`) for a 400."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, code="INVALID_PRICING", field=field)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class Tier:
    """A Paid `Tier` as sent (snake_case wire names); `validate_tiers` explains the bound conventions."""

    lower_bound: int
    upper_bound: int | None = None
    unit_amount: Number | None = None
    flat_amount: Number | None = None
    tier_billing_type: Literal["flat", "perUnit"] | None = None
    index: Number | None = None  # carried for the round trip; the list order is what counts
    number: int | None = None


@dataclass(frozen=True)
class Band:
    """A validated tier or bracket: covers quantities in (lower, upper] (upper None: no end), effective amounts."""

    lower: int
    upper: int | None
    unit_amount: Decimal
    flat_amount: Decimal

    def units_of(self, quantity: Decimal) -> Decimal:
        """How many of `quantity`'s units fall in this band."""
        top = quantity if self.upper is None else min(quantity, Decimal(self.upper))
        return max(top - self.lower, Decimal(0))

    def contains(self, quantity: Decimal) -> bool:
        return self.lower < quantity and (self.upper is None or quantity <= self.upper)


@dataclass(frozen=True)
class CreditBracket:
    """One of `creditUnitBrackets`: quantities up to `up_to` (None: no end) burn these credits."""

    credit_units: Number
    up_to: int | None = None
    credit_units_per_unit: Number | None = None


@dataclass(frozen=True)
class PricePoint:
    """A Paid `SimplePricePoint`/`TieredPricePoint`: the price in one currency, amounts in its minor units."""

    currency: str
    unit_price: Number = 0
    tiers: Sequence[Tier] = ()
    min_quantity: int | None = None
    max_quantity: int | None = None
    included_quantity: int | None = None


def _exact(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(_EXACT):
            try:
                return func(*args, **kwargs)
            except Inexact:
                raise PricingError(f"numbers too large to price exactly ({_EXACT.prec} digits)") from None

    return wrapper


def _number(value: object, field: str) -> Decimal:
    """A non-negative int or Decimal as Decimal. Floats are refused: money never passes through binary floats."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PricingError(f"must be an integer or a Decimal, not {type(value).__name__}", field=field)
    if isinstance(value, Decimal) and not value.is_finite():
        raise PricingError("must be a finite number", field=field)
    if value < 0:
        raise PricingError("must not be negative", field=field)
    return Decimal(value)


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingError(f"must be an integer, not {type(value).__name__}", field=field)
    if value < 0:
        raise PricingError("must not be negative", field=field)
    return value


def round_line(*, amount: Number, currency: str) -> int:
    """A line's exact amount, already in minor units, as an int of minor units: rounded half up, once per line."""
    if currency not in MINOR_UNITS:
        raise PricingError(f"unknown currency {currency!r}", field="currency")
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or not Decimal(amount).is_finite():
        raise PricingError(f"must be a finite integer or Decimal, not {amount!r}", field="amount")
    # Minor units are the currency's smallest unit whatever its decimals (USD cents, JPY yen, KWD fils).
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_ROUNDING))


def round_credits(amount: Number) -> Decimal:
    """Credits to 6 decimal places, half up."""
    return Decimal(amount).quantize(CREDIT_PLACES, rounding=ROUND_HALF_UP, context=_ROUNDING)


# Tiers ---------------------------------------------------------------------------------------------------------


def _tier_bounds(tier: Tier, at: str) -> tuple[int, int | None]:
    lower = _count(tier.lower_bound, f"{at}.lowerBound")
    upper = None if tier.upper_bound is None else _count(tier.upper_bound, f"{at}.upperBound")
    if upper is not None and upper < lower:
        raise PricingError(f"must not be below lowerBound ({lower})", field=f"{at}.upperBound")
    return lower, upper


def _tier_amounts(tier: Tier, at: str) -> tuple[Decimal, Decimal]:
    unit = Decimal(0) if tier.unit_amount is None else _number(tier.unit_amount, f"{at}.unitAmount")
    flat = Decimal(0) if tier.flat_amount is None else _number(tier.flat_amount, f"{at}.flatAmount")
    if tier.tier_billing_type == "flat":
        return Decimal(0), flat
    if tier.tier_billing_type == "perUnit":
        return unit, Decimal(0)
    if tier.tier_billing_type is not None:
        raise PricingError("must be 'flat' or 'perUnit'", field=f"{at}.tierBillingType")
    return unit, flat


def validate_tiers(*, tiers: Sequence[Tier], field: str = "tiers") -> tuple[Band, ...]:
    """Check Paid tiers and return them as contiguous bands (lower, upper] starting at 0; the one place that
    knows both bound conventions. Contiguous bounds: 0-100, 100-500, 500-∞ (a tier holds units u with
    lower < u ≤ upper). Inclusive bounds: 1-100, 101-500, 501-∞ (lower ≤ u ≤ upper). Which one is read from the
    tiers: next.lowerBound == previous.upperBound, or == previous.upperBound + 1."""
    if not tiers:
        raise PricingError("at least one tier is required", field=field)
    bounds = [_tier_bounds(tier, f"{field}[{i}]") for i, tier in enumerate(tiers)]
    step: int | None = None  # 0: contiguous, 1: inclusive
    for i in range(1, len(bounds)):
        (prev_lower, prev_upper), (lower, _) = bounds[i - 1], bounds[i]
        at = f"{field}[{i}].lowerBound"
        if prev_upper is None:
            raise PricingError("only the last tier may be open-ended", field=f"{field}[{i - 1}].upperBound")
        if lower < prev_lower:
            raise PricingError(
                f"tiers must be sorted by lowerBound ({field}[{i - 1}] starts at {prev_lower})", field=at
            )
        if lower < prev_upper:
            raise PricingError(f"overlaps {field}[{i - 1}], which ends at {prev_upper}", field=at)
        if lower > prev_upper + 1:
            raise PricingError(f"leaves a gap after {field}[{i - 1}], which ends at {prev_upper}", field=at)
        if step is None:
            step = lower - prev_upper
        elif lower - prev_upper != step:
            convention = "inclusive" if step else "contiguous"
            raise PricingError(
                f"expected {prev_upper + step}: earlier tiers use {convention} bounds", field=at
            )
    first_lower = bounds[0][0]
    if first_lower > (0 if step == 0 else 1):
        raise PricingError(
            "the first tier must start at 0 (or 1 with inclusive bounds)", field=f"{field}[0].lowerBound"
        )
    if bounds[-1][1] is not None:
        raise PricingError(
            "the last tier must be open-ended (omit upperBound)",
            field=f"{field}[{len(tiers) - 1}].upperBound",
        )
    bands = []
    for i, (tier, (lower, upper)) in enumerate(zip(tiers, bounds, strict=True)):
        # The first band starts at 0 (checked above); inclusive 101-500 becomes the band (100, 500].
        lower = lower - (step or 0) if i else 0
        if upper is not None and upper <= lower:
            raise PricingError("tier covers no units", field=f"{field}[{i}].upperBound")
        bands.append(Band(lower, upper, *_tier_amounts(tier, f"{field}[{i}]")))
    return tuple(bands)


def _graduated(bands: Sequence[Band], quantity: Decimal) -> Decimal:
    total = Decimal(0)
    for band in bands:
        if units := band.units_of(quantity):
            total += band.flat_amount + band.unit_amount * units
    return total


def _volume(bands: Sequence[Band], quantity: Decimal) -> Decimal:
    band = next((band for band in bands if band.contains(quantity)), None)
    return Decimal(0) if band is None else band.flat_amount + band.unit_amount * quantity


# Money lines: exact Decimal amounts in minor units; the caller rounds the line with round_line ----------------


@_exact
def per_unit_amount(*, quantity: Number, unit_price: Number) -> Decimal:
    """quantity * unitPrice. A flat fee is this at quantity 1 (a recurring platform fee = RecurringPerUnit)."""
    return _number(quantity, "quantity") * _number(unit_price, "unitPrice")


@_exact
def graduated_amount(*, quantity: Number, tiers: Sequence[Tier]) -> Decimal:
    """Each unit at the tier it falls in, plus each reached tier's flatAmount once."""
    return _graduated(validate_tiers(tiers=tiers), _number(quantity, "quantity"))


@_exact
def volume_amount(*, quantity: Number, tiers: Sequence[Tier]) -> Decimal:
    """All units at the tier holding the total quantity: its flatAmount + unitAmount * quantity; 0 for 0."""
    return _volume(validate_tiers(tiers=tiers), _number(quantity, "quantity"))


@_exact
def package_count(*, quantity: Number, package_size: int) -> int:
    """Started packages of `package_size` units: ceil(quantity / package_size)."""
    size = _count(package_size, "packageSize")
    if size == 0:
        raise PricingError("must be at least 1", field="packageSize")
    whole, rest = divmod(_number(quantity, "quantity"), size)
    return int(whole) + (1 if rest else 0)


@_exact
def package_amount(*, quantity: Number, package_size: int, package_price: Number) -> Decimal:
    """package_price per started package (1,000 emails per 500¢: 1,001 emails → 2 packages)."""
    return package_count(quantity=quantity, package_size=package_size) * _number(
        package_price, "packagePrice"
    )


@_exact
def percent_of_total_amount(*, base_amount: Number, percentage_value: Number) -> Decimal:
    """percentageValue % of `base_amount` (minor units)."""
    return _number(base_amount, "baseAmount") * _number(percentage_value, "percentageValue") / 100


@_exact
def cost_plus_amount(*, cost: Number, cost_plus_multiplier: Number) -> Decimal:
    """cost (minor units, may be fractional) * costPlusMultiplier."""
    return _number(cost, "cost") * _number(cost_plus_multiplier, "costPlusMultiplier")


# Quantities and price points ------------------------------------------------------------------------------------


def validate_quantity(*, quantity: Number, max_quantity: int | None = None, field: str = "quantity") -> None:
    """A quantity above maxQuantity is refused, never silently capped."""
    counted = _number(quantity, field)
    if max_quantity is not None and counted > _count(max_quantity, "maxQuantity"):
        raise PricingError(f"{quantity} is above maxQuantity ({max_quantity})", field=field)


@_exact
def billable_quantity(
    *, quantity: Number, included_quantity: int | None = None, min_quantity: int | None = None
) -> Decimal:
    """max(0, max(quantity, minQuantity) - includedQuantity): the minimum applies to the quantity as counted."""
    minimum = 0 if min_quantity is None else _count(min_quantity, "minQuantity")
    included = 0 if included_quantity is None else _count(included_quantity, "includedQuantity")
    return max(max(_number(quantity, "quantity"), Decimal(minimum)) - included, Decimal(0))


def validate_price_point(
    *, price_point: PricePoint, field: str = "pricePoint", tiered: bool = False
) -> tuple[Band, ...]:
    """Check one price point and return its tiers as bands (see validate_tiers; empty without tiers).
    `tiered` (graduated or volume pricing) makes tiers required."""
    if price_point.currency not in MINOR_UNITS:
        raise PricingError(f"unknown currency {price_point.currency!r}", field=f"{field}.currency")
    _number(price_point.unit_price, f"{field}.unitPrice")
    low, high = price_point.min_quantity, price_point.max_quantity
    for wire, value in (
        ("minQuantity", low),
        ("maxQuantity", high),
        ("includedQuantity", price_point.included_quantity),
    ):
        if value is not None:
            _count(value, f"{field}.{wire}")
    if low is not None and high is not None and low > high:
        raise PricingError(f"must not be above maxQuantity ({high})", field=f"{field}.minQuantity")
    if not tiered and not price_point.tiers:
        return ()
    return validate_tiers(tiers=price_point.tiers, field=f"{field}.tiers")


@_exact
def price_point_amount(*, model: PricingModel, price_point: PricePoint, quantity: Number) -> Decimal:
    """Exact amount (minor units) for `quantity` at a price point: refuses quantities above maxQuantity, applies
    minQuantity and includedQuantity, then prices the billable quantity with the model."""
    tiered = model in ("GraduatedPricing", "VolumePricing")
    if not tiered and model != "PerUnit":
        raise PricingError(f"unsupported pricing model {model!r}", field="pricingModel")
    bands = validate_price_point(price_point=price_point, tiered=tiered)
    validate_quantity(quantity=quantity, max_quantity=price_point.max_quantity)
    billable = billable_quantity(
        quantity=quantity,
        included_quantity=price_point.included_quantity,
        min_quantity=price_point.min_quantity,
    )
    if model == "PerUnit":
        return billable * Decimal(price_point.unit_price)
    return _graduated(bands, billable) if model == "GraduatedPricing" else _volume(bands, billable)


# Credits ----------------------------------------------------------------------------------------------------------


@_exact
def credit_burn(*, quantity: Number, credit_cost: Number) -> Decimal:
    """Prepaid credits burned by one signal: creditCost * quantity, to 6 places."""
    return round_credits(_number(quantity, "quantity") * _number(credit_cost, "creditCost"))


def validate_brackets(*, brackets: Sequence[CreditBracket], field: str = "creditUnitBrackets") -> BracketMode:
    """Check credit brackets (sorted by upTo, only the last open-ended; all flat or all graduated) and return
    their mode: 'graduated' when they carry creditUnitsPerUnit, else 'flat'."""
    if not brackets:
        raise PricingError("at least one bracket is required", field=field)
    mode: BracketMode = "flat" if brackets[0].credit_units_per_unit is None else "graduated"
    previous = 0
    for i, bracket in enumerate(brackets):
        at = f"{field}[{i}]"
        _number(bracket.credit_units, f"{at}.creditUnits")
        if (bracket.credit_units_per_unit is None) != (mode == "flat"):
            raise PricingError(
                f"brackets must be all flat or all graduated, and {field}[0] is {mode}",
                field=f"{at}.creditUnitsPerUnit",
            )
        if bracket.credit_units_per_unit is not None:
            _number(bracket.credit_units_per_unit, f"{at}.creditUnitsPerUnit")
        if bracket.up_to is None:
            if i < len(brackets) - 1:
                raise PricingError("only the last bracket may be open-ended", field=f"{at}.upTo")
            continue
        if _count(bracket.up_to, f"{at}.upTo") <= previous:
            raise PricingError(f"must be above {previous}: brackets are sorted by upTo", field=f"{at}.upTo")
        previous = bracket.up_to
    if brackets[-1].up_to is not None:
        raise PricingError(
            "the last bracket must be open-ended (omit upTo)", field=f"{field}[{len(brackets) - 1}].upTo"
        )
    return mode


@_exact
def bracketed_credit_burn(*, quantity: Number, brackets: Sequence[CreditBracket]) -> Decimal:
    """Credits burned by one signal, to 6 places. The quantity falls in the bracket (previous upTo, upTo]:
    flat mode burns that bracket's creditUnits; graduated mode burns creditUnitsPerUnit for each unit in each
    band, like graduated tiers. Quantity 0 falls in no bracket and burns nothing."""
    mode = validate_brackets(brackets=brackets)
    bands, lower = [], 0
    for bracket in brackets:
        if mode == "flat":
            band = Band(lower, bracket.up_to, Decimal(0), Decimal(bracket.credit_units))
        else:
            band = Band(lower, bracket.up_to, Decimal(bracket.credit_units_per_unit or 0), Decimal(0))
        bands.append(band)
        lower = bracket.up_to or lower
    q = _number(quantity, "quantity")
    return round_credits(_volume(bands, q) if mode == "flat" else _graduated(bands, q))
