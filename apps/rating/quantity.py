"""How much of a usage line one signal is: pure functions over the stored pricing and the signal's `data`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.catalog.pricing import bracketed_credit_burn, credit_burn
from apps.catalog.services import credit_bracket_of
from apps.meters.definition import MISSING, data_at

DEFAULT_PATH = "quantity"


class QuantityError(Exception):
    """The signal can't be priced by this line; the message says why (shown on the signal)."""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def signal_quantity(*, pricing: dict[str, Any], data: Any) -> Decimal:
    """The quantity a signal brings to an event-matched usage line: the number at `pricingInput.path` (dots for
    nesting), default `quantity`. A line that names a `pricingInput` requires the field; without one, an absent
    `quantity` counts as 1. Not a JSON number, or negative: QuantityError."""
    mapping = pricing.get("pricing_input")
    path = (mapping or {}).get("path") or DEFAULT_PATH
    value = data_at(data, tuple(path.split(".")))
    if value is MISSING:
        if mapping is not None:
            raise QuantityError(f"the quantity field data.{path} is missing")
        return Decimal(1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuantityError(f"data.{path} is {_json_type(value)}, not a number")
    quantity = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if quantity < 0:
        raise QuantityError(f"data.{path} is negative ({value})")
    return quantity


def credits_for(*, pricing: dict[str, Any], quantity: Decimal) -> Decimal | None:
    """Credits one signal burns on a prepaid-credit line (`creditCost * quantity`, or the brackets), else None."""
    if "credit_cost" in pricing:
        return credit_burn(quantity=quantity, credit_cost=Decimal(str(pricing["credit_cost"])))
    if "credit_unit_brackets" in pricing:
        brackets = [credit_bracket_of(bracket) for bracket in pricing["credit_unit_brackets"]]
        return bracketed_credit_burn(quantity=quantity, brackets=brackets)
    return None
