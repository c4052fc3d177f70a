"""The pure pricing math (apps/catalog/pricing.py): no database. References below are written independently of
the module (unit by unit, with Fractions) so a property compares two ways of getting the answer."""

from decimal import Decimal, localcontext
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.catalog.pricing import (
    CreditBracket,
    PricePoint,
    PricingError,
    Tier,
    billable_quantity,
    bracketed_credit_burn,
    cost_plus_amount,
    credit_burn,
    graduated_amount,
    package_amount,
    package_count,
    per_unit_amount,
    percent_of_total_amount,
    price_point_amount,
    round_line,
    validate_brackets,
    validate_price_point,
    validate_quantity,
    validate_tiers,
    volume_amount,
)

pricing_settings = settings(max_examples=60, deadline=None)

MODELS = ("PerUnit", "GraduatedPricing", "VolumePricing")


# Strategies and independent references --------------------------------------------------------------------------

amounts = st.one_of(
    st.integers(0, 5_000),
    st.decimals(min_value=0, max_value=500, places=3, allow_nan=False, allow_infinity=False),
)
quantities = st.integers(0, 300)
fractional_quantities = st.decimals(
    min_value=0, max_value=300, places=2, allow_nan=False, allow_infinity=False
)


@st.composite
def tier_plans(draw, *, billing_types=True):
    """(widths of the bounded tiers, [(unitAmount, flatAmount, tierBillingType)] for every tier)."""
    count = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 60), min_size=count - 1, max_size=count - 1))
    kinds = st.sampled_from([None, "flat", "perUnit"]) if billing_types else st.none()
    prices = [(draw(st.none() | amounts), draw(st.none() | amounts), draw(kinds)) for _ in range(count)]
    return widths, prices


def contiguous(widths, prices):
    """0-w1, w1-(w1+w2), …, last-∞: a tier holds lower < u ≤ upper."""
    tiers, lower = [], 0
    for i, (unit, flat, kind) in enumerate(prices):
        upper = lower + widths[i] if i < len(widths) else None
        tiers.append(
            Tier(
                lower_bound=lower,
                upper_bound=upper,
                unit_amount=unit,
                flat_amount=flat,
                tier_billing_type=kind,
            )
        )
        lower = upper
    return tiers


def inclusive(widths, prices):
    """1-w1, (w1+1)-(w1+w2), …: a tier holds lower ≤ u ≤ upper."""
    tiers, lower = [], 1
    for i, (unit, flat, kind) in enumerate(prices):
        upper = lower + widths[i] - 1 if i < len(widths) else None
        tiers.append(
            Tier(
                lower_bound=lower,
                upper_bound=upper,
                unit_amount=unit,
                flat_amount=flat,
                tier_billing_type=kind,
            )
        )
        lower = None if upper is None else upper + 1
    return tiers


def tier_of_unit(widths, unit):
    """Index of the tier holding the `unit`-th unit (1-based)."""
    top = 0
    for i, width in enumerate(widths):
        top += width
        if unit <= top:
            return i
    return len(widths)


def effective(price):
    unit, flat, kind = price
    unit, flat = unit or 0, flat or 0
    return (0 if kind == "flat" else unit), (0 if kind == "perUnit" else flat)


def reference_graduated(widths, prices, quantity):
    reached = {tier_of_unit(widths, u) for u in range(1, quantity + 1)}
    per_unit = sum(effective(prices[tier_of_unit(widths, u)])[0] for u in range(1, quantity + 1))
    return per_unit + sum(effective(prices[i])[1] for i in reached)


def reference_volume(widths, prices, quantity):
    if quantity == 0:
        return 0
    unit, flat = effective(prices[tier_of_unit(widths, quantity)])
    return flat + unit * quantity


def half_up(value, places=0):
    """Round half up (value ≥ 0) by exact rational arithmetic, as a Decimal with `places` places."""
    scaled = floor(Fraction(value) * 10**places + Fraction(1, 2))
    return Decimal(scaled).scaleb(-places)


# Worked examples from Paid's guides -----------------------------------------------------------------------------


def test_email_sent_at_ten_cents():
    assert round_line(amount=per_unit_amount(quantity=1_234, unit_price=10), currency="USD") == 12_340


def test_meeting_booked_at_fifty_dollars():
    assert round_line(amount=per_unit_amount(quantity=3, unit_price=5_000), currency="USD") == 15_000


def test_platform_fee_is_per_unit_at_quantity_one():
    fee = PricePoint(currency="USD", unit_price=50_000)
    assert price_point_amount(model="PerUnit", price_point=fee, quantity=1) == 50_000


def test_chatbot_credits_burn_one_credit_per_chat_message():
    assert credit_burn(quantity=1, credit_cost=1) == Decimal("1.000000")
    assert credit_burn(quantity=250, credit_cost=1) == Decimal("250.000000")
    assert str(credit_burn(quantity=1, credit_cost=1)) == "1.000000"


# Per unit, rounding ----------------------------------------------------------------------------------------------


def test_sub_cent_price_rounds_once_per_line():
    amount = per_unit_amount(quantity=3, unit_price=Decimal("0.5"))
    assert amount == Decimal("1.5")
    assert round_line(amount=amount, currency="USD") == 2  # not 3 * round(0.5) = 3


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(Decimal("2.5"), 3), (Decimal("2.4999"), 2), (Decimal("0.5"), 1), (Decimal("-1.5"), -2), (7, 7)],
)
def test_round_line_is_half_up(amount, expected):
    assert round_line(amount=amount, currency="USD") == expected


def test_round_line_rounds_to_whole_minor_units_in_every_currency():
    assert round_line(amount=Decimal("1234.5"), currency="JPY") == 1235  # yen
    assert round_line(amount=Decimal("1234.5"), currency="KWD") == 1235  # fils
    with pytest.raises(PricingError, match="unknown currency") as caught:
        round_line(amount=1, currency="XXX")
    assert caught.value.field == "currency"


@pricing_settings
@given(quantity=quantities, unit_price=st.decimals(min_value=0, max_value=100, places=4))
def test_per_unit_rounds_the_exact_product_once(quantity, unit_price):
    amount = per_unit_amount(quantity=quantity, unit_price=unit_price)
    assert amount == Fraction(quantity) * Fraction(unit_price)
    assert round_line(amount=amount, currency="USD") == half_up(Fraction(quantity) * Fraction(unit_price))


def test_results_do_not_depend_on_the_callers_decimal_context():
    with localcontext() as context:
        context.prec = 3
        assert per_unit_amount(quantity=12_345, unit_price=Decimal("1.01")) == Decimal("12468.45")


def test_numbers_too_long_to_price_exactly_are_refused_not_rounded():
    with pytest.raises(PricingError, match="too large"):
        per_unit_amount(quantity=10**40 + 1, unit_price=Decimal("1." + "0" * 30 + "1"))


@pytest.mark.parametrize("value", [0.5, True, "1", Decimal("NaN"), Decimal("Infinity")])
def test_floats_and_non_numbers_are_refused(value):
    with pytest.raises(PricingError) as caught:
        per_unit_amount(quantity=1, unit_price=value)
    assert caught.value.field == "unitPrice"


# Graduated and volume tiers ------------------------------------------------------------------------------------

CONTIGUOUS = [
    Tier(lower_bound=0, upper_bound=100, unit_amount=10),
    Tier(lower_bound=100, upper_bound=500, unit_amount=8),
    Tier(lower_bound=500, unit_amount=5),
]
INCLUSIVE = [
    Tier(lower_bound=1, upper_bound=100, unit_amount=10),
    Tier(lower_bound=101, upper_bound=500, unit_amount=8),
    Tier(lower_bound=501, unit_amount=5),
]


@pytest.mark.parametrize("tiers", [CONTIGUOUS, INCLUSIVE], ids=["contiguous", "inclusive"])
def test_graduated_worked_example(tiers):
    assert graduated_amount(quantity=600, tiers=tiers) == 100 * 10 + 400 * 8 + 100 * 5


@pytest.mark.parametrize("tiers", [CONTIGUOUS, INCLUSIVE], ids=["contiguous", "inclusive"])
@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0, 0),
        (1, 10),
        (100, 1_000),
        (101, 808),
        (500, 4_000),
        (501, 2_505),
        (Decimal("100.5"), Decimal("804")),
    ],
)
def test_volume_boundaries(tiers, quantity, expected):
    """A total that equals a tier's upper bound stays in that tier; one more moves to the next."""
    assert volume_amount(quantity=quantity, tiers=tiers) == expected


def test_flat_amounts_and_tier_billing_types():
    tiers = [
        Tier(lower_bound=0, upper_bound=10, flat_amount=1_000, unit_amount=99, tier_billing_type="flat"),
        Tier(lower_bound=10, upper_bound=20, flat_amount=99, unit_amount=50, tier_billing_type="perUnit"),
        Tier(lower_bound=20, flat_amount=300, unit_amount=20),
    ]
    assert graduated_amount(quantity=0, tiers=tiers) == 0
    assert graduated_amount(quantity=1, tiers=tiers) == 1_000
    assert graduated_amount(quantity=15, tiers=tiers) == 1_000 + 5 * 50
    assert graduated_amount(quantity=21, tiers=tiers) == 1_000 + 10 * 50 + 300 + 20
    assert volume_amount(quantity=10, tiers=tiers) == 1_000
    assert volume_amount(quantity=21, tiers=tiers) == 300 + 21 * 20


@pricing_settings
@given(plan=tier_plans(), quantity=quantities)
def test_graduated_equals_the_unit_by_unit_sum(plan, quantity):
    expected = reference_graduated(*plan, quantity)
    assert graduated_amount(quantity=quantity, tiers=contiguous(*plan)) == expected
    assert graduated_amount(quantity=quantity, tiers=inclusive(*plan)) == expected


@pricing_settings
@given(plan=tier_plans(), quantity=quantities)
def test_volume_prices_every_unit_at_the_tier_holding_the_total(plan, quantity):
    expected = reference_volume(*plan, quantity)
    assert volume_amount(quantity=quantity, tiers=contiguous(*plan)) == expected
    assert volume_amount(quantity=quantity, tiers=inclusive(*plan)) == expected


@pricing_settings
@given(plan=tier_plans(), a=fractional_quantities, b=fractional_quantities)
def test_graduated_is_monotone_in_quantity(plan, a, b):
    low, high = sorted((a, b))
    tiers = contiguous(*plan)
    assert graduated_amount(quantity=low, tiers=tiers) <= graduated_amount(quantity=high, tiers=tiers)


@pricing_settings
@given(plan=tier_plans(), quantity=fractional_quantities)
def test_both_bound_conventions_price_alike(plan, quantity):
    assert validate_tiers(tiers=contiguous(*plan)) == validate_tiers(tiers=inclusive(*plan))
    for amount in (graduated_amount, volume_amount):
        assert amount(quantity=quantity, tiers=contiguous(*plan)) == amount(
            quantity=quantity, tiers=inclusive(*plan)
        )


@pricing_settings
@given(plan=tier_plans(billing_types=False).filter(lambda plan: plan[0]))
def test_volume_at_each_upper_bound_uses_that_tier(plan):
    widths, prices = plan
    tiers, bound = contiguous(*plan), 0
    for i, width in enumerate(widths):
        bound += width
        for quantity, tier in ((bound, i), (bound + 1, i + 1)):
            unit, flat = effective(prices[tier])
            assert volume_amount(quantity=quantity, tiers=tiers) == flat + unit * quantity


@pricing_settings
@given(plan=tier_plans())
def test_zero_quantity_costs_nothing(plan):
    tiers = contiguous(*plan)
    assert graduated_amount(quantity=0, tiers=tiers) == volume_amount(quantity=0, tiers=tiers) == 0
    point = PricePoint(currency="USD", unit_price=123, tiers=tiers)
    assert all(price_point_amount(model=model, price_point=point, quantity=0) == 0 for model in MODELS)


# Included, minimum and maximum quantities ------------------------------------------------------------------------


def test_included_minimum_and_maximum_quantities():
    seats = PricePoint(currency="USD", unit_price=3_000, min_quantity=5, max_quantity=50)
    assert price_point_amount(model="PerUnit", price_point=seats, quantity=2) == 5 * 3_000
    assert price_point_amount(model="PerUnit", price_point=seats, quantity=7) == 7 * 3_000
    with pytest.raises(PricingError, match="above maxQuantity") as caught:
        price_point_amount(model="PerUnit", price_point=seats, quantity=51)
    assert caught.value.field == "quantity"
    calls = PricePoint(currency="USD", unit_price=Decimal("0.1"), included_quantity=1_000)
    assert price_point_amount(model="PerUnit", price_point=calls, quantity=1_500) == 50
    # The minimum applies to the quantity as counted, then the included units come off.
    assert billable_quantity(quantity=2, min_quantity=5, included_quantity=3) == 2


def test_validate_quantity():
    validate_quantity(quantity=10, max_quantity=10)
    with pytest.raises(PricingError, match="above maxQuantity"):
        validate_quantity(quantity=Decimal("10.5"), max_quantity=10, field="pricePoints[0].quantity")
    with pytest.raises(PricingError, match="negative"):
        validate_quantity(quantity=-1)


@pricing_settings
@given(plan=tier_plans(), quantity=quantities, extra=st.integers(0, 50))
def test_included_quantity_covering_the_quantity_costs_nothing(plan, quantity, extra):
    point = PricePoint(
        currency="USD", unit_price=77, tiers=contiguous(*plan), included_quantity=quantity + extra
    )
    assert all(price_point_amount(model=model, price_point=point, quantity=quantity) == 0 for model in MODELS)


@pricing_settings
@given(plan=tier_plans(), quantity=quantities, included=st.integers(0, 400))
def test_included_quantity_is_taken_off_before_pricing(plan, quantity, included):
    tiers = contiguous(*plan)
    point = PricePoint(currency="USD", unit_price=3, tiers=tiers, included_quantity=included)
    billable = max(quantity - included, 0)
    assert price_point_amount(model="PerUnit", price_point=point, quantity=quantity) == 3 * billable
    assert price_point_amount(model="GraduatedPricing", price_point=point, quantity=quantity) == (
        graduated_amount(quantity=billable, tiers=tiers)
    )


# Packages, percent of total, cost-plus ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "packages"), [(0, 0), (1, 1), (1_000, 1), (1_001, 2), (Decimal("2000.5"), 3)]
)
def test_emails_in_packages_of_a_thousand(quantity, packages):
    assert package_count(quantity=quantity, package_size=1_000) == packages
    assert package_amount(quantity=quantity, package_size=1_000, package_price=500) == packages * 500


@pricing_settings
@given(quantity=st.integers(0, 10**6), size=st.integers(1, 10**4))
def test_package_count_is_the_ceiling(quantity, size):
    assert package_count(quantity=quantity, package_size=size) == -(-quantity // size)


def test_package_size_must_be_positive():
    with pytest.raises(PricingError) as caught:
        package_count(quantity=1, package_size=0)
    assert caught.value.field == "packageSize"


def test_percent_of_total():
    amount = percent_of_total_amount(base_amount=12_345, percentage_value=10)
    assert amount == Decimal("1234.5") and round_line(amount=amount, currency="USD") == 1_235
    assert percent_of_total_amount(base_amount=10_000, percentage_value=Decimal("2.5")) == 250


def test_cost_plus():
    amount = cost_plus_amount(cost=Decimal("123.4567"), cost_plus_multiplier=Decimal("1.2"))
    assert amount == Decimal("148.14804") and round_line(amount=amount, currency="USD") == 148


# Credits --------------------------------------------------------------------------------------------------------


@pricing_settings
@given(quantity=st.integers(0, 10**6), cost=st.decimals(min_value=0, max_value=1_000, places=6))
def test_credit_burn_is_exact_to_six_places(quantity, cost):
    burned = credit_burn(quantity=quantity, credit_cost=cost)
    assert burned == quantity * cost and burned.as_tuple().exponent == -6


@pricing_settings
@given(
    quantity=st.decimals(min_value=0, max_value=1_000, places=3),
    cost=st.decimals(min_value=0, max_value=10, places=6),
)
def test_credit_burn_of_fractional_quantities_rounds_half_up_to_six_places(quantity, cost):
    assert credit_burn(quantity=quantity, credit_cost=cost) == half_up(Fraction(quantity) * Fraction(cost), 6)


FLAT_BRACKETS = [
    CreditBracket(up_to=10, credit_units=1),
    CreditBracket(up_to=100, credit_units=5),
    CreditBracket(credit_units=Decimal("20.5")),
]


@pytest.mark.parametrize(
    ("quantity", "credits"),
    [(0, 0), (1, 1), (10, 1), (Decimal("10.01"), 5), (11, 5), (100, 5), (101, Decimal("20.5"))],
)
def test_flat_brackets_at_their_boundaries(quantity, credits):
    assert validate_brackets(brackets=FLAT_BRACKETS) == "flat"
    assert bracketed_credit_burn(quantity=quantity, brackets=FLAT_BRACKETS) == credits


def test_graduated_brackets_worked_example():
    brackets = [
        CreditBracket(up_to=10, credit_units=0, credit_units_per_unit=1),
        CreditBracket(up_to=100, credit_units=0, credit_units_per_unit=Decimal("0.5")),
        CreditBracket(credit_units=0, credit_units_per_unit=Decimal("0.1")),
    ]
    assert validate_brackets(brackets=brackets) == "graduated"
    assert bracketed_credit_burn(quantity=150, brackets=brackets) == Decimal("60.000000")  # 10 + 45 + 5


@st.composite
def bracket_plans(draw, *, graduated):
    count = draw(st.integers(1, 4))
    ups = sorted(draw(st.sets(st.integers(1, 200), min_size=count - 1, max_size=count - 1)))
    rates = st.decimals(min_value=0, max_value=50, places=6)
    return [
        CreditBracket(
            up_to=ups[i] if i < len(ups) else None,
            credit_units=draw(rates),
            credit_units_per_unit=draw(rates) if graduated else None,
        )
        for i in range(count)
    ]


@pricing_settings
@given(brackets=bracket_plans(graduated=False), quantity=fractional_quantities)
def test_flat_brackets_burn_the_bracket_holding_the_quantity(brackets, quantity):
    holding = next(b for b in brackets if b.up_to is None or quantity <= b.up_to)
    assert bracketed_credit_burn(quantity=quantity, brackets=brackets) == (
        holding.credit_units if quantity else 0
    )


@pricing_settings
@given(brackets=bracket_plans(graduated=True), quantity=quantities)
def test_graduated_brackets_equal_the_band_sum(brackets, quantity):
    def rate(unit):
        return next(b for b in brackets if b.up_to is None or unit <= b.up_to).credit_units_per_unit

    expected = sum((rate(u) for u in range(1, quantity + 1)), Decimal(0))
    assert bracketed_credit_burn(quantity=quantity, brackets=brackets) == expected


# Validation: errors name the field -------------------------------------------------------------------------------


def t(lower, upper=None, **amounts):
    return Tier(lower_bound=lower, upper_bound=upper, **amounts)


@pytest.mark.parametrize(
    ("tiers", "field", "message"),
    [
        ([], "tiers", "at least one"),
        ([t(0, 100), t(150)], "tiers[1].lowerBound", "gap"),
        ([t(0, 100), t(90)], "tiers[1].lowerBound", "overlaps"),
        ([t(0, 100), t(100, 200), t(50)], "tiers[2].lowerBound", "sorted"),
        ([t(0, 100), t(100, 200), t(201)], "tiers[2].lowerBound", "contiguous"),
        ([t(1, 100), t(101, 200), t(200)], "tiers[2].lowerBound", "inclusive"),
        ([t(0, 100), t(100, 500)], "tiers[1].upperBound", "open-ended"),
        ([t(0), t(100)], "tiers[0].upperBound", "only the last"),
        ([t(5, 100), t(100)], "tiers[0].lowerBound", "start at 0"),
        ([t(2)], "tiers[0].lowerBound", "start at 0"),
        ([t(0, 100), t(100, 50), t(50)], "tiers[1].upperBound", "below lowerBound"),
        ([t(0, 100), t(100, 100), t(100)], "tiers[1].upperBound", "no units"),
        ([t(-1, 100), t(100)], "tiers[0].lowerBound", "negative"),
        ([t(0, 100), t(100, unit_amount=-5)], "tiers[1].unitAmount", "negative"),
        ([t(0, 100, flat_amount=-1), t(100)], "tiers[0].flatAmount", "negative"),
        ([t(0, 100, unit_amount=0.1), t(100)], "tiers[0].unitAmount", "float"),
        ([t(0, tier_billing_type="volume")], "tiers[0].tierBillingType", "'flat' or 'perUnit'"),
        ([t(Decimal(0), 100), t(100)], "tiers[0].lowerBound", "integer"),
    ],
)
def test_invalid_tiers_name_the_field(tiers, field, message):
    with pytest.raises(PricingError, match=message) as caught:
        validate_tiers(tiers=tiers)
    assert caught.value.field == field


def test_tier_errors_carry_the_callers_path():
    with pytest.raises(PricingError) as caught:
        validate_tiers(tiers=[t(0, 100), t(100, 200), t(250)], field="pricePoints[0].tiers")
    assert str(caught.value).startswith("pricePoints[0].tiers[2].lowerBound: leaves a gap")


@pricing_settings
@given(
    plan=tier_plans(billing_types=False).filter(lambda plan: plan[0]),
    shift=st.sampled_from([-3, -2, -1, 2, 3, 40]),
    data=st.data(),
)
def test_moving_one_lower_bound_is_caught_at_that_tier(plan, shift, data):
    tiers = contiguous(*plan)
    i = data.draw(st.integers(1, len(tiers) - 1))
    tiers[i] = Tier(lower_bound=tiers[i].lower_bound + shift, upper_bound=tiers[i].upper_bound)
    with pytest.raises(PricingError) as caught:
        validate_tiers(tiers=tiers)
    assert caught.value.field.startswith(f"tiers[{i}].")


def b(up_to, units=1, per_unit=None):
    return CreditBracket(up_to=up_to, credit_units=units, credit_units_per_unit=per_unit)


@pytest.mark.parametrize(
    ("brackets", "field", "message"),
    [
        ([], "creditUnitBrackets", "at least one"),
        (
            [b(10), b(None, per_unit=1)],
            "creditUnitBrackets[1].creditUnitsPerUnit",
            "all flat or all graduated",
        ),
        (
            [b(10, per_unit=1), b(None)],
            "creditUnitBrackets[1].creditUnitsPerUnit",
            "all flat or all graduated",
        ),
        ([b(100), b(10), b(None)], "creditUnitBrackets[1].upTo", "sorted"),
        ([b(10), b(10), b(None)], "creditUnitBrackets[1].upTo", "sorted"),
        ([b(0), b(None)], "creditUnitBrackets[0].upTo", "above 0"),
        ([b(None), b(10)], "creditUnitBrackets[0].upTo", "only the last"),
        ([b(10), b(20)], "creditUnitBrackets[1].upTo", "open-ended"),
        ([b(10, units=-1), b(None)], "creditUnitBrackets[0].creditUnits", "negative"),
        (
            [b(10, per_unit=Decimal("-0.1")), b(None, per_unit=1)],
            "creditUnitBrackets[0].creditUnitsPerUnit",
            "negative",
        ),
    ],
)
def test_invalid_brackets_name_the_field(brackets, field, message):
    with pytest.raises(PricingError, match=message) as caught:
        validate_brackets(brackets=brackets)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("point", "field"),
    [
        (PricePoint(currency="usd", unit_price=1), "pricePoints[0].currency"),
        (PricePoint(currency="USD", unit_price=-1), "pricePoints[0].unitPrice"),
        (PricePoint(currency="USD", min_quantity=5, max_quantity=4), "pricePoints[0].minQuantity"),
        (PricePoint(currency="USD", included_quantity=-1), "pricePoints[0].includedQuantity"),
        (PricePoint(currency="USD", tiers=[t(0, 10)]), "pricePoints[0].tiers[0].upperBound"),
    ],
)
def test_invalid_price_points_name_the_field(point, field):
    with pytest.raises(PricingError) as caught:
        validate_price_point(price_point=point, field="pricePoints[0]")
    assert caught.value.field == field


def test_tiered_models_require_tiers():
    with pytest.raises(PricingError, match="at least one tier") as caught:
        price_point_amount(
            model="VolumePricing", price_point=PricePoint(currency="USD", unit_price=1), quantity=1
        )
    assert caught.value.field == "pricePoint.tiers"
    assert validate_price_point(price_point=PricePoint(currency="USD", unit_price=1)) == ()
