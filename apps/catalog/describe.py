"""Stored pricing in plain words for people (product, plan and order pages). Pure: dicts in, words out;
amounts stay in minor units for the `money` template filter."""

from typing import Any

from apps.catalog.pricing import validate_tiers
from apps.catalog.services import price_point_of
from apps.common.exceptions import DomainError
from apps.common.templatetags.money import format_number

_CHARGE_WORDS = {"recurring": "Recurring", "usage": "Usage", "oneTime": "One-time", "seatBased": "Seat-based"}
_MODEL_WORDS = {
    "PerUnit": "per unit",
    "GraduatedPricing": "graduated tiers",
    "VolumePricing": "volume tiers",
    "PercentOfTotal": "percent of total",
    "PrepaidCredits": "prepaid credits",
    "BracketedPrepaidCredits": "bracketed prepaid credits",
    "CostPlus": "cost plus",
}
_FREQUENCY_WORDS = {
    "Monthly": "monthly",
    "Quarterly": "quarterly",
    "Semi-Annually": "every 6 months",
    "Annual": "yearly",
}
_PERIOD_WORDS = {"Monthly": "month", "Quarterly": "quarter", "Semi-Annually": "6 months", "Annual": "year"}
_TIMING_WORDS = {
    "on_payment": "granted on payment",
    "on_invoice_posted": "granted when the invoice is posted",
    "on_order_activation": "granted when the order activates",
}
_DASH = "\u2013"  # en dash, between the ends of a range


def frequency_words(pricing: dict[str, Any]) -> str:
    """How often a line is billed: "monthly", "every 3 months"."""
    frequency = pricing.get("billing_frequency")
    if frequency == "Custom":
        months = pricing.get("billing_frequency_custom_months")
        return f"every {months} months" if months else "custom"
    return _FREQUENCY_WORDS.get(frequency, frequency or "")


def _period(pricing: dict[str, Any]) -> str:
    """How often a recurring amount is charged: "per month", "every 3 months"."""
    frequency = pricing.get("billing_frequency")
    if frequency == "Custom":
        return f"every {pricing.get('billing_frequency_custom_months') or 'N'} months"
    return f"per {_PERIOD_WORDS[frequency]}" if frequency in _PERIOD_WORDS else ""


def _range_words(lower: int, upper: int | None) -> str:
    """A band (lower, upper] of whole units: "1-100" (en dash), "101 and up"."""
    if upper is None:
        return f"{lower + 1:,} and up"
    return f"{lower + 1:,}" if upper == lower + 1 else f"{lower + 1:,}{_DASH}{upper:,}"


def tier_rows(point: dict[str, Any]) -> list[dict[str, Any]]:
    tiers = point.get("tiers") or []
    if not tiers:
        return []
    try:
        ranges = [
            _range_words(band.lower, band.upper) for band in validate_tiers(tiers=price_point_of(point).tiers)
        ]
    except DomainError:  # stored before a rule tightened: show the bounds as they were entered
        ranges = [f"{tier.get('lower_bound')}{_DASH}{tier.get('upper_bound') or '∞'}" for tier in tiers]
    return [
        {"range": words, "unit_amount": tier.get("unit_amount"), "flat_amount": tier.get("flat_amount")}
        for words, tier in zip(ranges, tiers, strict=True)
    ]


def _bracket_rows(brackets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows, lower = [], 0
    for bracket in brackets:
        upper = bracket.get("up_to")
        rows.append(
            {
                "range": _range_words(lower, upper),
                "credits": format_number(bracket.get("credit_units")),
                "per_unit": format_number(bracket.get("credit_units_per_unit")),
            }
        )
        lower = upper or lower
    return rows


def pricing_words(pricing: dict[str, Any]) -> dict[str, Any]:
    """A stored PricingInput described: `summary` ("Usage · prepaid credits · chat_message"), `notes`, `unit`
    ("per month", "per seat per month", "per email_sent"), `prices` per currency with tier rows, brackets, …"""
    charge = pricing.get("charge_type", "")
    model = pricing.get("pricing_model", "")
    event = pricing.get("event_name")
    model_words = (
        "per seat" if (charge, model) == ("seatBased", "PerUnit") else _MODEL_WORDS.get(model, model)
    )
    summary = [_CHARGE_WORDS.get(charge, charge), model_words]
    if charge == "usage" and pricing.get("meter_id"):
        summary.append(f"meter {pricing['meter_id']}")
    elif charge == "usage" and event:
        summary.append(event)
    elif charge == "oneTime" and pricing.get("fee_type"):
        summary.append(f"{pricing['fee_type']} fee")
    elif frequency_words(pricing):
        summary.append(frequency_words(pricing))

    notes = []
    if charge == "usage" and frequency_words(pricing):
        notes.append(f"billed {frequency_words(pricing)}")
    if pricing.get("billing_type"):
        notes.append(f"billed in {pricing['billing_type'].lower()}")
    if pricing.get("signal_type"):
        notes.append(f"{pricing['signal_type']} signals only")
    if (pricing.get("pricing_input") or {}).get("path"):
        notes.append(f"quantity from {pricing['pricing_input']['path']}")
    if pricing.get("unit_value") is not None:
        notes.append(f"unit value {format_number(pricing['unit_value'])}")

    period = _period(pricing)
    unit = {
        "recurring": period,
        "seatBased": f"per seat {period}".strip(),
        "usage": "per metered unit" if pricing.get("meter_id") else f"per {event}" if event else "per unit",
        "oneTime": "one-time",
    }.get(charge, "")
    if model == "PercentOfTotal":
        unit = "minimum"

    credit = None
    if pricing.get("credit_cost") is not None:
        per = "seat" if charge == "seatBased" else (event or "unit")
        credit = {"cost": format_number(pricing["credit_cost"]), "per": per}
    return {
        "summary": " · ".join(part for part in summary if part),
        "notes": notes,
        "unit": unit,
        "tiered": model in ("GraduatedPricing", "VolumePricing"),
        "model": model,
        "prices": [
            {
                "currency": point["currency"],
                "unit_price": point.get("unit_price", 0),
                "tiers": tier_rows(point),
            }
            for point in pricing.get("price_points", [])
        ],
        "percentage": format_number(pricing.get("percentage_value")),
        "multiplier": format_number(pricing.get("cost_plus_multiplier")),
        "credit": credit,
        "counts_later": charge == "usage" or model in ("PercentOfTotal", "CostPlus"),
        "brackets": _bracket_rows(pricing.get("credit_unit_brackets") or []),
    }


def benefit_words(
    *,
    amount: Any,
    currency_name: str,
    allocation_cadence: str | None,
    recipient: str | None,
    credit_grant_timing: str | None = None,
    rollover_amount: Any = None,
    rollover_duration: int | None = None,
    rollover_duration_unit: str | None = None,
    is_infinite_total: bool = False,
) -> str:
    """E.g. "500 Chat Credits each month, to the organization, granted when the order activates"."""
    cadence = "each month" if allocation_cadence == "monthly" else "each billing period"
    whom = "to each seat" if recipient == "seat" else "to the organization"
    how_much = "Unlimited" if is_infinite_total else format_number(amount)
    words = f"{how_much} {currency_name} {cadence}, {whom}"
    if credit_grant_timing:
        words += f", {_TIMING_WORDS.get(credit_grant_timing, credit_grant_timing)}"
    if rollover_amount is not None:
        words += f"; up to {format_number(rollover_amount)} roll over"
        if rollover_duration:
            words += f" for {rollover_duration} {rollover_duration_unit}"
    return words


# Settings the dashboard's pricing editor has no inputs for; a line carrying any of them is edited through the API,
# because the editor replaces pricing and benefits whole and would drop them.
_POINT_ONLY_API = {
    "min_quantity": "minQuantity",
    "max_quantity": "maxQuantity",
    "included_quantity": "includedQuantity",
}
_TIER_ONLY_API = {"tier_billing_type": "tierBillingType"}


def api_only_settings(
    *, pricing: dict[str, Any], benefits: list[Any], tax_code: str | None = None
) -> list[str]:
    """The wire names of settings in this pricing line that the dashboard editor can't show (sorted)."""
    found = set()
    for point in pricing.get("price_points", []):
        found |= {wire for key, wire in _POINT_ONLY_API.items() if point.get(key) is not None}
        for tier in point.get("tiers", []):
            found |= {wire for key, wire in _TIER_ONLY_API.items() if tier.get(key) is not None}
    for benefit in benefits:
        get = benefit.get if isinstance(benefit, dict) else lambda name, b=benefit: getattr(b, name, None)
        if get("is_infinite_total"):
            found.add("creditBenefits.isInfiniteTotal")
        if get("overage_unit_price") is not None:
            found.add("creditBenefits.overageUnitPrice")
    if tax_code:
        found.add("taxCode")
    if pricing.get("meter_id"):
        found.add("meterId")
    return sorted(found)
