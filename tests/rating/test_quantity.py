"""The quantity a signal brings to a usage line, and the credits it burns: pure functions, property-tested."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.rating.quantity import QuantityError, credits_for, signal_quantity

PER_UNIT = {"pricing_type": "UsagePerUnit", "event_name": "e"}
MAPPED = {"pricing_type": "UsagePrepaidCredits", "pricing_input": {"kind": "signalQuantity", "path": "a.b"}}
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
)


@given(numbers)
def test_a_non_negative_number_is_the_quantity_exactly_as_sent(value):
    assert signal_quantity(pricing=PER_UNIT, data={"quantity": value}) == Decimal(repr(value))
    assert signal_quantity(pricing=MAPPED, data={"a": {"b": value}}) == Decimal(repr(value))


@given(
    st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
)
def test_negative_quantities_are_refused(value):
    with pytest.raises(QuantityError, match="negative"):
        signal_quantity(pricing=PER_UNIT, data={"quantity": value})


@given(
    st.one_of(
        st.text(),
        st.booleans(),
        st.none(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers()),
    )
)
def test_anything_but_a_number_is_refused(value):
    with pytest.raises(QuantityError, match="not a number"):
        signal_quantity(pricing=PER_UNIT, data={"quantity": value})


@pytest.mark.parametrize("data", [None, {}, {"other": 5}, [], "text"])
def test_without_a_mapping_an_absent_quantity_is_one(data):
    assert signal_quantity(pricing=PER_UNIT, data=data) == 1


@pytest.mark.parametrize("data", [None, {}, {"a": 5}, {"a": {"c": 5}}, {"a.b": 5}])
def test_a_mapped_quantity_is_required(data):
    with pytest.raises(QuantityError, match=r"data\.a\.b is missing"):
        signal_quantity(pricing=MAPPED, data=data)


def test_the_mapping_defaults_to_the_quantity_field():
    pricing = {"pricing_input": {"kind": "signalQuantity"}}
    assert signal_quantity(pricing=pricing, data={"quantity": 4}) == 4
    with pytest.raises(QuantityError, match=r"data\.quantity is missing"):
        signal_quantity(pricing=pricing, data={})


@given(
    st.decimals(min_value=0, max_value=10**6, places=3), st.decimals(min_value=0, max_value=1000, places=2)
)
def test_prepaid_credits_burn_credit_cost_times_quantity(quantity, cost):
    assert credits_for(pricing={"credit_cost": str(cost)}, quantity=quantity) == (quantity * cost).quantize(
        Decimal("0.000001")
    )


def test_bracketed_credits_and_lines_without_credits():
    brackets = {"credit_unit_brackets": [{"up_to": 10, "credit_units": 1}, {"credit_units": 5}]}
    assert credits_for(pricing=brackets, quantity=Decimal(3)) == 1
    assert credits_for(pricing=brackets, quantity=Decimal(11)) == 5
    assert credits_for(pricing=PER_UNIT, quantity=Decimal(3)) is None
