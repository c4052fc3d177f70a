"""Wire shapes of the catalog's pricing (§4.1-§4.3), credit benefits (§4.2) and credit currencies (§3.6).

Serializers check shape and types only; which fields a pricing type needs, and the tier and bracket rules,
are checked by `services.pricing_clean` so the dashboard gets the same rules."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.api import ApiSerializer

PRICING_TYPES = (
    "RecurringPerUnit",
    "RecurringGraduated",
    "RecurringVolume",
    "RecurringPercentOfTotal",
    "UsagePerUnit",
    "UsageGraduated",
    "UsageVolume",
    "UsagePrepaidCredits",
    "UsageBracketedPrepaidCredits",
    "UsageCostPlus",
    "OneTimePerUnit",
    "SeatBasedPerUnit",
    "SeatBasedGraduated",
    "SeatBasedVolume",
    "SeatBasedPrepaidCredits",
)
BILLING_FREQUENCIES = ("Monthly", "Quarterly", "Semi-Annually", "Annual", "Custom")


def _decimal(**kwargs) -> serializers.DecimalField:
    """A non-negative number with at most 6 decimals (credits, sub-cent unit prices, multipliers)."""
    return serializers.DecimalField(max_digits=20, decimal_places=6, min_value=Decimal(0), **kwargs)


def _count(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, **kwargs)


class TierIn(ApiSerializer):
    lower_bound = _count(required=False, allow_null=True)
    upper_bound = _count(required=False, allow_null=True)
    unit_amount = _decimal(required=False, allow_null=True)
    flat_amount = _decimal(required=False, allow_null=True)
    tier_billing_type = serializers.ChoiceField(choices=["flat", "perUnit"], required=False, allow_null=True)
    index = serializers.DecimalField(max_digits=12, decimal_places=4, required=False, allow_null=True)
    number = serializers.IntegerField(required=False, allow_null=True)


class PricePointIn(ApiSerializer):
    currency = serializers.CharField(max_length=3)
    unit_price = _decimal(required=False, allow_null=True)
    tiers = TierIn(many=True, required=False, allow_null=True)
    min_quantity = _count(required=False, allow_null=True)
    max_quantity = _count(required=False, allow_null=True)
    included_quantity = _count(required=False, allow_null=True)


class PricingInputRefIn(ApiSerializer):
    kind = serializers.ChoiceField(choices=["signalQuantity"])
    path = serializers.CharField(max_length=255, required=False, allow_null=True)


class CreditBracketIn(ApiSerializer):
    up_to = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    credit_units = _decimal()
    credit_units_per_unit = _decimal(required=False, allow_null=True)


class PricingIn(ApiSerializer):
    """`PricingInput`, all variants in one shape; `pricingType` selects which fields apply."""

    pricing_type = serializers.ChoiceField(choices=PRICING_TYPES)
    billing_frequency = serializers.ChoiceField(choices=BILLING_FREQUENCIES, required=False, allow_null=True)
    billing_frequency_custom_months = serializers.IntegerField(
        min_value=1, max_value=120, required=False, allow_null=True
    )
    billing_type = serializers.ChoiceField(choices=["Advance", "Arrears"], required=False, allow_null=True)
    event_name = serializers.CharField(max_length=255, required=False, allow_null=True)
    meter_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        help_text="Tally extension: a usage line takes its quantity from this meter instead of eventName.",
    )
    signal_type = serializers.ChoiceField(choices=["activity", "outcome"], required=False, allow_null=True)
    credits_currency_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    credit_cost = _decimal(required=False, allow_null=True)
    unit_value = _decimal(required=False, allow_null=True)
    percentage_value = _decimal(required=False, allow_null=True, max_value=Decimal(100))
    cost_plus_multiplier = _decimal(required=False, allow_null=True)
    overage_unit_price = _count(required=False, allow_null=True)
    credit_rollover_amount = _decimal(required=False, allow_null=True)
    fee_type = serializers.ChoiceField(
        choices=["setup", "onboarding", "implementation", "migration", "custom"],
        required=False,
        allow_null=True,
    )
    pricing_input = PricingInputRefIn(required=False, allow_null=True)
    credit_unit_brackets = CreditBracketIn(many=True, required=False, allow_null=True)
    price_points = PricePointIn(many=True, required=False, allow_null=True)


class CreditBenefitIn(ApiSerializer):
    credits_currency_id = serializers.CharField(max_length=64)
    amount = _decimal()
    recipient = serializers.ChoiceField(choices=["organization", "seat"], required=False, allow_null=True)
    is_infinite_total = serializers.BooleanField(required=False, allow_null=True)
    allocation_cadence = serializers.ChoiceField(
        choices=["upfront", "monthly"], required=False, allow_null=True
    )
    credit_grant_timing = serializers.ChoiceField(
        choices=["on_payment", "on_invoice_posted", "on_order_activation"], required=False, allow_null=True
    )
    overage_unit_price = _count(required=False, allow_null=True)
    rollover_amount = _decimal(required=False, allow_null=True)
    rollover_duration = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    rollover_duration_unit = serializers.ChoiceField(
        choices=["days", "months"], required=False, allow_null=True
    )


@extend_schema_field(OpenApiTypes.NUMBER)
class _Number(serializers.Field):
    """A stored decimal string (or int) rendered as a JSON number; integral values as ints."""

    def to_representation(self, value):
        number = Decimal(str(value))
        return int(number) if number == number.to_integral_value() else float(number)


class TierOut(ApiSerializer):
    flat_amount = _Number(required=False)
    index = _Number(required=False)
    lower_bound = _Number()
    number = _Number(required=False)
    tier_billing_type = serializers.CharField(required=False)
    unit_amount = _Number(required=False)
    upper_bound = _Number(required=False)

    def to_representation(self, instance):
        return {k: v for k, v in super().to_representation(instance).items() if v is not None}


class PricePointOut(ApiSerializer):
    currency = serializers.CharField()
    unit_price = _Number()
    tiers = TierOut(many=True, required=False)
    min_quantity = _Number(required=False)
    max_quantity = _Number(required=False)
    included_quantity = _Number(required=False)

    def to_representation(self, instance):
        data = super().to_representation({"unit_price": 0, **instance})
        return {k: v for k, v in data.items() if v is not None}


class PricingInputRefOut(ApiSerializer):
    kind = serializers.CharField()
    path = serializers.CharField(required=False)


class CreditBracketOut(ApiSerializer):
    up_to = serializers.IntegerField(required=False)
    credit_units = _Number()
    credit_units_per_unit = _Number(required=False)


class PricingOut(ApiSerializer):
    """`PricingOutput` plus the input-only keys the SDK keeps as extras (pricingInput, creditUnitBrackets, …)."""

    pricing_type = serializers.CharField()
    charge_type = serializers.CharField()
    pricing_model = serializers.CharField()
    event_name = serializers.CharField(required=False)
    meter_id = serializers.CharField(
        required=False, help_text="Tally extension: the meter supplying the quantity."
    )
    signal_type = serializers.CharField(required=False)
    billing_frequency = serializers.CharField(required=False)
    billing_frequency_custom_months = serializers.IntegerField(required=False)
    billing_type = serializers.CharField(required=False)
    credits_currency_id = serializers.CharField(required=False)
    credit_cost = _Number(required=False)
    unit_value = _Number(required=False)
    percentage_value = _Number(required=False)
    cost_plus_multiplier = _Number(required=False)
    overage_unit_price = _Number(required=False)
    credit_rollover_amount = _Number(required=False)
    fee_type = serializers.CharField(required=False)
    pricing_input = PricingInputRefOut(required=False)
    credit_unit_brackets = CreditBracketOut(many=True, required=False)
    price_points = PricePointOut(many=True)

    def to_representation(self, instance):
        data = super().to_representation({"price_points": [], **instance})
        return {k: v for k, v in data.items() if v is not None}


class CreditBenefitOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    credits_currency_id = serializers.CharField(source="credits_currency.display_id")
    amount = _Number()
    recipient = serializers.CharField()
    is_infinite_total = serializers.BooleanField()
    allocation_cadence = serializers.CharField()
    credit_grant_timing = serializers.CharField(allow_null=True)
    overage_unit_price = serializers.IntegerField(allow_null=True)
    rollover_amount = _Number(allow_null=True)
    rollover_duration = serializers.IntegerField(allow_null=True)
    rollover_duration_unit = serializers.CharField(allow_null=True)


class CreditCurrencyOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    name = serializers.CharField()
    key = serializers.CharField()
    status = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
