from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import CreditBenefit, CreditCurrency, Plan, PlanAttribute, Product, ProductAttribute
from apps.catalog.pricing import (
    CreditBracket,
    PricePoint,
    PricingError,
    Tier,
    validate_brackets,
    validate_price_point,
)
from apps.catalog.selectors import plan_get_for_update, product_get_for_update
from apps.common.currencies import normalize_currency
from apps.common.db import unique_or_error
from apps.common.exceptions import DomainError, NotFound, ReferenceNotFound
from apps.common.naming import to_camel

if TYPE_CHECKING:  # accounts' models are private to it; the type is all we need
    from apps.accounts.models import Organization


def _external_id_taken(external_id: str | None) -> str:
    return f"externalId {external_id!r} is already used by another product"


@transaction.atomic
def product_create(*, organization: Organization, name: str, **fields: Any) -> Product:
    """Create a product, without pricing (pricing is set on its attributes by a product update)."""
    if fields.get("description") is None:
        fields.pop("description", None)
    if fields.get("active") is None:
        fields.pop("active", None)
    with unique_or_error(_external_id_taken(fields.get("external_id")), field="external_id"):
        return Product.objects.create(organization=organization, name=name, **fields)


@transaction.atomic
def product_update(
    *, product: Product, product_attributes: list[dict[str, Any]] | None = None, **changes: Any
) -> Product:
    """Partial update; None clears optional fields. `product_attributes` creates or updates priced attributes
    (see product_attributes_upsert); all of it lands or none of it does."""
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    if "active" in changes and changes["active"] is None:
        del changes["active"]
    for key, value in changes.items():
        setattr(product, key, value)
    with unique_or_error(_external_id_taken(changes.get("external_id")), field="external_id"):
        product.save()
    if product_attributes:
        product_attributes_upsert(product=product, attributes=product_attributes)
    return product


@transaction.atomic
def product_archive(*, product: Product) -> Product:
    """Archive: the product stays on existing orders and invoices but is no longer offered."""
    if product.archived_at is None:
        product.archived_at = timezone.now()
        product.active = False
        product.save(update_fields=["archived_at", "active", "updated_at"])
    return product


@transaction.atomic
def product_unarchive(*, product: Product) -> Product:
    if product.archived_at is not None:
        product.archived_at = None
        product.active = True
        product.save(update_fields=["archived_at", "active", "updated_at"])
    return product


# --- credit currencies -------------------------------------------------------------------------------------

_CURRENCY_KEY = re.compile(r"^[a-z0-9_-]{1,64}$")


@transaction.atomic
def credit_currency_create(
    *, organization: Organization, name: str, key: str, description: str | None = None
) -> CreditCurrency:
    """Create a credit currency; `key` ([a-z0-9_-]) is unique in the organization."""
    if not _CURRENCY_KEY.match(key):
        raise DomainError("key must be 1-64 characters of a-z, 0-9, '_' or '-'", field="key")
    with unique_or_error(f"key {key!r} is already used by another credit currency", field="key"):
        return CreditCurrency.objects.create(
            organization=organization, name=name, key=key, description=description
        )


@transaction.atomic
def credit_currency_update(*, currency: CreditCurrency, **changes: Any) -> CreditCurrency:
    """Change the description or archive/unarchive (an archived currency can't be used by new pricing)."""
    if "description" in changes:
        currency.description = changes["description"]
    status = changes.get("status")
    if status and status != currency.status:
        currency.status = status
        currency.archived_at = timezone.now() if status == CreditCurrency.Status.ARCHIVED else None
    currency.save()
    return currency


# --- pricing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricingRule:
    """What a `pricingType` means and which PricingInput fields it takes."""

    charge_type: str
    pricing_model: str
    price_points: str  # "simple" | "tiered" (required) | "optional" (simple, may be empty)
    billing_frequency: str  # "required" | "optional" | "forbidden"
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


_USAGE = ("signal_type",)
_METERED = (*_USAGE, "meter_id")  # usage lines whose quantity may come from a meter instead of an event name
PRICING_RULES: dict[str, PricingRule] = {
    "RecurringPerUnit": PricingRule("recurring", "PerUnit", "simple", "required"),
    "RecurringGraduated": PricingRule("recurring", "GraduatedPricing", "tiered", "required"),
    "RecurringVolume": PricingRule("recurring", "VolumePricing", "tiered", "required"),
    "RecurringPercentOfTotal": PricingRule(
        "recurring", "PercentOfTotal", "optional", "required", required=("percentage_value",)
    ),
    "UsagePerUnit": PricingRule("usage", "PerUnit", "simple", "optional", ("event_name",), _METERED),
    "UsageGraduated": PricingRule(
        "usage", "GraduatedPricing", "tiered", "optional", ("event_name",), _METERED
    ),
    "UsageVolume": PricingRule("usage", "VolumePricing", "tiered", "optional", ("event_name",), _METERED),
    "UsagePrepaidCredits": PricingRule(
        "usage",
        "PrepaidCredits",
        "optional",
        "optional",
        required=("event_name", "credits_currency_id", "credit_cost"),
        optional=(*_METERED, "unit_value", "pricing_input"),
    ),
    "UsageBracketedPrepaidCredits": PricingRule(
        "usage",
        "BracketedPrepaidCredits",
        "optional",
        "optional",
        required=("event_name", "pricing_input", "credit_unit_brackets"),
        optional=(
            *_METERED,
            "credits_currency_id",
            "unit_value",
            "overage_unit_price",
            "credit_rollover_amount",
        ),
    ),
    "UsageCostPlus": PricingRule(
        "usage", "CostPlus", "optional", "optional", required=("cost_plus_multiplier",), optional=_USAGE
    ),
    "OneTimePerUnit": PricingRule("oneTime", "PerUnit", "simple", "forbidden", optional=("fee_type",)),
    "SeatBasedPerUnit": PricingRule("seatBased", "PerUnit", "simple", "required"),
    "SeatBasedGraduated": PricingRule("seatBased", "GraduatedPricing", "tiered", "required"),
    "SeatBasedVolume": PricingRule("seatBased", "VolumePricing", "tiered", "required"),
    "SeatBasedPrepaidCredits": PricingRule(
        "seatBased",
        "PrepaidCredits",
        "optional",
        "required",
        required=("credits_currency_id", "credit_cost"),
        optional=("unit_value",),
    ),
}
_ALWAYS = {
    "pricing_type",
    "price_points",
    "billing_frequency",
    "billing_frequency_custom_months",
    "billing_type",
}


def _compact(value: Any) -> Any:
    """Drop null keys at every depth (stored pricing holds only what was set) and write decimals one way:
    an int when whole (`7900`, whether it arrived as 7900 or "7900.000000"), else an exact string ("0.5")."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")
    return value


# A check of a reference that catalog cannot resolve itself because its owner sits above catalog in the layers
# (a meter): `check(organization=, product=, value=, field=)` raises a DomainError naming `field`. The owning
# app registers it from its AppConfig.ready(), so catalog never imports it.
PricingReferenceCheck = Callable[..., None]
_reference_checks: dict[str, PricingReferenceCheck] = {}


def pricing_reference_check_register(*, key: str, check: PricingReferenceCheck) -> None:
    _reference_checks[key] = check


def _metered_clean(pricing: dict[str, Any], *, at: Callable[[str], str]) -> None:
    """A meter supplies the quantity of a usage line: it replaces the event name and the quantity mapping."""
    if "meter_id" not in pricing:
        return
    for name in ("event_name", "pricing_input"):
        if name in pricing:
            raise PricingError(
                "is not used with meterId: the meter chooses the signals and supplies the quantity",
                field=at(name),
            )


def pricing_clean(
    *,
    organization: Organization,
    pricing: dict[str, Any],
    field: str = "pricing",
    product: Product | None = None,
) -> tuple[dict[str, Any], CreditCurrency | None]:
    """Check a shape-validated PricingInput against its type's rules (required and foreign fields, billing
    frequency, price points, tiers, brackets, credit currency, the meter of a metered line, which must measure
    `product`). Returns the dict to store and the currency. Raises PricingError/ReferenceNotFound naming the
    wire field. Reads only."""
    pricing = _compact(pricing)
    kind = pricing["pricing_type"]
    rule = PRICING_RULES[kind]
    at = lambda name: f"{field}.{to_camel(name)}"  # noqa: E731
    for name in sorted(set(pricing) - _ALWAYS - set(rule.required) - set(rule.optional)):
        raise PricingError(f"is not used by pricingType {kind}", field=at(name))
    _metered_clean(pricing, at=at)
    metered = {"event_name", "pricing_input"} if "meter_id" in pricing else set()
    for name in rule.required:
        if name not in pricing and name not in metered:
            raise PricingError(f"is required for pricingType {kind}", field=at(name))

    frequency = pricing.get("billing_frequency")
    if rule.billing_frequency == "required" and frequency is None:
        raise PricingError(f"is required for pricingType {kind}", field=at("billing_frequency"))
    if rule.billing_frequency == "forbidden":
        for name in ("billing_frequency", "billing_frequency_custom_months", "billing_type"):
            if name in pricing:
                raise PricingError(f"is not used by pricingType {kind} (a one-time fee)", field=at(name))
    if frequency == "Custom" and "billing_frequency_custom_months" not in pricing:
        raise PricingError(
            "is required when billingFrequency is Custom", field=at("billing_frequency_custom_months")
        )
    if "billing_frequency_custom_months" in pricing and frequency != "Custom":
        raise PricingError(
            "is only used with billingFrequency Custom", field=at("billing_frequency_custom_months")
        )
    if rule.charge_type == "usage" and pricing.get("billing_type") == "Advance":
        raise PricingError("usage is billed in arrears; use Arrears or omit it", field=at("billing_type"))

    points = pricing.get("price_points", [])
    if rule.price_points != "optional" and not points:
        raise PricingError(f"at least one price point is required for {kind}", field=at("price_points"))
    seen: set[str] = set()
    for index, point in enumerate(points):
        where = f"{at('price_points')}[{index}]"
        currency = normalize_currency(point["currency"])
        if currency is None:
            raise PricingError(
                f"{point['currency']!r} is not an ISO 4217 currency code", field=f"{where}.currency"
            )
        if currency in seen:
            raise PricingError(f"a second price point for {currency}", field=f"{where}.currency")
        seen.add(currency)
        point["currency"] = currency
        if rule.price_points != "tiered" and point.get("tiers"):
            raise PricingError(f"tiers are not used by pricingType {kind}", field=f"{where}.tiers")
        validate_price_point(
            price_point=price_point_of(point), field=where, tiered=rule.price_points == "tiered"
        )

    if "credit_unit_brackets" in pricing:
        brackets = [credit_bracket_of(bracket) for bracket in pricing["credit_unit_brackets"]]
        validate_brackets(brackets=brackets, field=at("credit_unit_brackets"))

    for key, check in _reference_checks.items():
        if key in pricing:
            check(organization=organization, product=product, value=pricing[key], field=at(key))

    currency = None
    if "credits_currency_id" in pricing:
        currency = _active_credit_currency(
            organization=organization,
            currency_id=pricing["credits_currency_id"],
            field=at("credits_currency_id"),
        )
    return {**pricing, "charge_type": rule.charge_type, "pricing_model": rule.pricing_model}, currency


def price_point_of(point: dict[str, Any]) -> PricePoint:
    """A stored (or validated) price point as the pricing math's PricePoint."""
    return PricePoint(
        currency=point["currency"],
        unit_price=Decimal(str(point.get("unit_price", 0))),
        tiers=tuple(
            Tier(
                **{k: Decimal(str(v)) if k in ("unit_amount", "flat_amount") else v for k, v in tier.items()}
            )
            for tier in point.get("tiers", ())
        ),
        min_quantity=point.get("min_quantity"),
        max_quantity=point.get("max_quantity"),
        included_quantity=point.get("included_quantity"),
    )


def credit_bracket_of(bracket: dict[str, Any]) -> CreditBracket:
    """A stored credit bracket as the pricing math's CreditBracket."""
    per_unit = bracket.get("credit_units_per_unit")
    return CreditBracket(
        up_to=bracket.get("up_to"),
        credit_units=Decimal(str(bracket["credit_units"])),
        credit_units_per_unit=None if per_unit is None else Decimal(str(per_unit)),
    )


def _active_credit_currency(*, organization: Organization, currency_id: str, field: str) -> CreditCurrency:
    currency = CreditCurrency.objects.filter(organization=organization, display_id=currency_id).first()
    if currency is None:
        raise ReferenceNotFound("Credit currency", currency_id, field=field)
    if currency.status != CreditCurrency.Status.ACTIVE:
        raise DomainError(f"credit currency {currency_id!r} is archived", field=field)
    return currency


def _benefits_clean(
    *, organization: Organization, benefits: list[dict[str, Any]], field: str
) -> list[tuple[dict[str, Any], CreditCurrency]]:
    cleaned = []
    for index, benefit in enumerate(benefits):
        where = f"{field}[{index}]"
        benefit = _compact(benefit)
        currency = _active_credit_currency(
            organization=organization,
            currency_id=benefit.pop("credits_currency_id"),
            field=f"{where}.creditsCurrencyId",
        )
        if ("rollover_duration" in benefit) != ("rollover_duration_unit" in benefit):
            raise DomainError(
                "rolloverDuration and rolloverDurationUnit go together", field=f"{where}.rolloverDuration"
            )
        if "rollover_duration" in benefit and "rollover_amount" not in benefit:
            raise DomainError("a rollover duration needs a rolloverAmount", field=f"{where}.rolloverAmount")
        cleaned.append((benefit, currency))
    return cleaned


def _benefits_replace(
    *, attribute: ProductAttribute, cleaned: list[tuple[dict[str, Any], CreditCurrency]]
) -> None:
    attribute.credit_benefits.all().delete()
    CreditBenefit.objects.bulk_create(
        CreditBenefit(
            organization_id=attribute.organization_id,
            product_attribute=attribute,
            credits_currency=currency,
            **benefit,
        )
        for benefit, currency in cleaned
    )


@transaction.atomic
def product_attributes_upsert(*, product: Product, attributes: list[dict[str, Any]]) -> None:
    """Create or update priced attributes of a product (`productAttributeId` present ⇒ update). Attributes not
    listed are kept. Everything is checked before anything is written."""
    organization = product.organization
    plan = []
    for index, attribute in enumerate(attributes):
        where = f"productAttributes[{index}]"
        existing = None
        if attribute.get("product_attribute_id"):
            existing = product.attributes.filter(display_id=attribute["product_attribute_id"]).first()
            if existing is None:
                raise ReferenceNotFound(
                    "Product attribute",
                    attribute["product_attribute_id"],
                    field=f"{where}.productAttributeId",
                )
        pricing, currency = pricing_clean(
            organization=organization, pricing=attribute["pricing"], field=f"{where}.pricing", product=product
        )
        benefits = attribute.get("credit_benefits")
        cleaned = (
            None
            if benefits is None
            else _benefits_clean(
                organization=organization, benefits=benefits, field=f"{where}.creditBenefits"
            )
        )
        plan.append((existing, attribute, pricing, currency, cleaned))

    for existing, attribute, pricing, currency, cleaned in plan:
        target = existing or ProductAttribute(organization=organization, product=product)
        target.name = attribute["name"]
        if attribute.get("active") is not None:
            target.active = attribute["active"]
        if "tax_code" in attribute:
            target.tax_code = attribute["tax_code"]
        _set_pricing(target, pricing, currency)
        target.save()
        if cleaned is not None:
            _benefits_replace(attribute=target, cleaned=cleaned)


def _set_pricing(
    attribute: ProductAttribute, pricing: dict[str, Any], currency: CreditCurrency | None
) -> None:
    attribute.pricing = pricing
    attribute.pricing_type = pricing["pricing_type"]
    attribute.event_name = pricing.get("event_name")
    attribute.credits_currency = currency


@transaction.atomic
def pricing_update(
    *,
    attribute: ProductAttribute,
    pricing: dict[str, Any],
    credit_benefits: list[dict[str, Any]] | None = None,
) -> ProductAttribute:
    """Replace an attribute's pricing; `credit_benefits` given ⇒ replaces its benefits, None ⇒ keeps them."""
    organization = attribute.organization
    cleaned_pricing, currency = pricing_clean(
        organization=organization, pricing=pricing, product=attribute.product
    )
    cleaned = None
    if credit_benefits is not None:
        cleaned = _benefits_clean(organization=organization, benefits=credit_benefits, field="creditBenefits")
    _set_pricing(attribute, cleaned_pricing, currency)
    attribute.save()
    if cleaned is not None:
        _benefits_replace(attribute=attribute, cleaned=cleaned)
    return attribute


@transaction.atomic
def pricing_meter_set(*, attribute: ProductAttribute, meter_id: str | None, event_name: str | None = None):
    """Point a usage line at a meter (it then takes no eventName nor pricingInput), or, with `meter_id=None`,
    back at an event name. Everything else in the pricing stays; the result is checked as any pricing is."""
    kept = {
        key: value
        for key, value in attribute.pricing.items()
        if key not in ("meter_id", "event_name", "pricing_input", "charge_type", "pricing_model")
    }
    wanted = kept | ({"meter_id": meter_id} if meter_id else {"event_name": event_name})
    cleaned, currency = pricing_clean(
        organization=attribute.organization, pricing=wanted, product=attribute.product
    )
    _set_pricing(attribute, cleaned, currency)
    attribute.save()
    return attribute


# --- plans (§3.2) ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlanLine:
    """One validated plan attribute, ready to write."""

    product_attribute: ProductAttribute
    pricing: dict[str, Any]
    credits_currency: CreditCurrency | None
    benefits: list[tuple[dict[str, Any], CreditCurrency]]


def _plan_external_id_taken(external_id: str | None) -> str:
    return f"externalId {external_id!r} is already used by another plan"


def _external_id_guard(external_id: str | None) -> AbstractContextManager[None]:
    """A clash on the plan's external id is a 400 naming `externalId`; any other constraint failure (none is
    expected under the product lock) stays an error."""
    if external_id is None:
        return nullcontext()
    return unique_or_error(_plan_external_id_taken(external_id), field="external_id")


def _plan_lines_clean(*, product: Product, attributes: list[dict[str, Any]]) -> list[_PlanLine]:
    """Check a plan's `attributes` (each an attribute of `product`, at most once, its pricing valid and of the
    attribute's charge type). Reads only."""
    if not attributes:
        raise DomainError("a plan needs at least one attribute", field="attributes")
    organization = product.organization
    lines: list[_PlanLine] = []
    for index, attribute in enumerate(attributes):
        where = f"attributes[{index}]"
        attribute_id = attribute["product_attribute_id"]
        target = ProductAttribute.objects.filter(organization=organization, display_id=attribute_id).first()
        if target is None:
            raise ReferenceNotFound("Product attribute", attribute_id, field=f"{where}.productAttributeId")
        if target.product_id != product.pk:
            raise DomainError(
                f"product attribute {attribute_id!r} belongs to another product",
                field=f"{where}.productAttributeId",
            )
        if any(line.product_attribute.pk == target.pk for line in lines):
            raise DomainError(
                f"product attribute {attribute_id!r} is listed twice", field=f"{where}.productAttributeId"
            )
        pricing, currency = pricing_clean(
            organization=organization, pricing=attribute["pricing"], field=f"{where}.pricing", product=product
        )
        expected = PRICING_RULES[target.pricing_type].charge_type
        if pricing["charge_type"] != expected:
            raise DomainError(
                f"product attribute {attribute_id!r} is a {expected} charge; a plan may change its price, "
                f"not its charge type",
                field=f"{where}.pricing.pricingType",
            )
        benefits = _benefits_clean(
            organization=organization,
            benefits=attribute.get("credit_benefits") or [],
            field=f"{where}.creditBenefits",
        )
        lines.append(_PlanLine(target, pricing, currency, benefits))
    return lines


def _currencies_clean(
    *, requested: list[str] | None, priced: list[tuple[str, str, dict[str, Any]]]
) -> list[str]:
    """The plan's supported currencies: `requested` (ISO 4217, upper-cased, no repeats) or, when None, the
    currencies of its price points in order of appearance. Every attribute with price points must price exactly
    these currencies; attributes without any (credits, percent of total, cost-plus) are currency-free.
    `priced` holds (wire field to name, what to call it, pricing) per attribute. Reads only."""
    if requested is None:
        currencies = list(
            dict.fromkeys(
                point["currency"] for *_, pricing in priced for point in pricing.get("price_points", [])
            )
        )
    else:
        currencies = []
        for index, code in enumerate(requested):
            currency = normalize_currency(code)
            if currency is None:
                raise DomainError(
                    f"{code!r} is not an ISO 4217 currency code", field=f"supportedCurrencies[{index}]"
                )
            if currency in currencies:
                raise DomainError(f"{currency} is listed twice", field=f"supportedCurrencies[{index}]")
            currencies.append(currency)
    for field, who, pricing in priced:
        points = [point["currency"] for point in pricing.get("price_points", [])]
        if not points:
            continue
        if missing := [c for c in currencies if c not in points]:
            raise DomainError(
                f"{who} has no price point in {', '.join(missing)} (each supported currency needs one)",
                field=field,
            )
        if extra := [c for c in points if c not in currencies]:
            raise DomainError(
                f"{who} is priced in {', '.join(extra)}, which is not one of the plan's supportedCurrencies",
                field=field,
            )
    return currencies


def _priced_lines(lines: list[_PlanLine]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"attributes[{index}].pricing.pricePoints", "this attribute", line.pricing)
        for index, line in enumerate(lines)
    ]


def _plan_lines_replace(*, plan: Plan, lines: list[_PlanLine]) -> None:
    plan.attributes.all().delete()  # cascades to their credit benefits
    for line in lines:
        attribute = PlanAttribute.objects.create(
            organization_id=plan.organization_id,
            plan=plan,
            product_attribute=line.product_attribute,
            pricing=line.pricing,
            pricing_type=line.pricing["pricing_type"],
            credits_currency=line.credits_currency,
        )
        CreditBenefit.objects.bulk_create(
            CreditBenefit(
                organization_id=plan.organization_id,
                plan_attribute=attribute,
                credits_currency=currency,
                **benefit,
            )
            for benefit, currency in line.benefits
        )


def _product_of_plans(*, organization: Organization, product_id: str) -> Product:
    """The product a request body names, locked (plans of one product change one request at a time)."""
    try:
        return product_get_for_update(organization=organization, product_id=product_id)
    except NotFound:
        raise ReferenceNotFound("Product", product_id, field="productId") from None


def _defaults_clear(*, product: Product, keep: Plan | None = None) -> None:
    """Unset the product's default plan(s). Callers hold the product row lock (product_get_for_update)."""
    others = Plan.objects.filter(organization_id=product.organization_id, product=product, is_default=True)
    if keep is not None and keep.pk is not None:
        others = others.exclude(pk=keep.pk)
    others.update(is_default=False, updated_at=timezone.now())


@transaction.atomic
def plan_create(
    *,
    organization: Organization,
    product_id: str,
    attributes: list[dict[str, Any]],
    name: str | None = None,
    external_id: str | None = None,
    supported_currencies: list[str] | None = None,
    is_default: bool | None = None,
) -> Plan:
    """Create a plan of an active product. Locks the product row (plans of one product change one at a time,
    so two concurrent `isDefault` calls cannot leave two defaults). All checks run before the first write."""
    product = _product_of_plans(organization=organization, product_id=product_id)
    if product.archived_at is not None:
        raise DomainError(f"product {product_id!r} is archived; it cannot get new plans", field="productId")
    lines = _plan_lines_clean(product=product, attributes=attributes)
    currencies = _currencies_clean(requested=supported_currencies, priced=_priced_lines(lines))
    if is_default:
        _defaults_clear(product=product)
    with _external_id_guard(external_id):
        plan = Plan.objects.create(
            organization=organization,
            product=product,
            name=name,
            external_id=external_id,
            supported_currencies=currencies,
            is_default=bool(is_default),
        )
    _plan_lines_replace(plan=plan, lines=lines)
    return plan


_UNSET: Any = object()


@transaction.atomic
def plan_update(
    *,
    plan: Plan,
    attributes: list[dict[str, Any]] | None = None,
    supported_currencies: list[str] | None = _UNSET,
    is_default: bool | None = None,
    status: str | None = None,
    **changes: Any,
) -> Plan:
    """Partial update (`name`, `external_id`: None clears). `attributes` given ⇒ replaces all of the plan's
    attributes; `supported_currencies` None ⇒ taken from the price points, omitted ⇒ kept. `status` archived
    archives (and drops the default), active restores. Locks the product row, then re-reads the plan."""
    product = product_get_for_update(organization=plan.organization, product_id=plan.product.display_id)
    plan = plan_get_for_update(organization=plan.organization, plan_id=plan.display_id)  # as of the lock

    lines = None
    if attributes is not None:
        lines = _plan_lines_clean(product=product, attributes=attributes)
    if lines is not None or supported_currencies is not _UNSET:
        requested = plan.supported_currencies if supported_currencies is _UNSET else supported_currencies
        if lines is not None:
            priced = _priced_lines(lines)
        else:
            priced = [
                (
                    "supportedCurrencies",
                    f"product attribute {attribute.product_attribute.display_id!r} in this plan",
                    attribute.pricing,
                )
                for attribute in plan.attributes.select_related("product_attribute")
            ]
        plan.supported_currencies = _currencies_clean(requested=requested, priced=priced)

    if status is not None and status != plan.status:
        plan.status = status
        plan.archived_at = timezone.now() if status == Plan.Status.ARCHIVED else None
    if plan.status == Plan.Status.ARCHIVED:
        if is_default:
            raise DomainError("an archived plan cannot be the default", field="isDefault")
        plan.is_default = False
    elif is_default is not None:
        if is_default:
            _defaults_clear(product=product, keep=plan)
        plan.is_default = is_default

    for key, value in changes.items():
        setattr(plan, key, value)
    with _external_id_guard(changes.get("external_id")):
        plan.save()
    if lines is not None:
        _plan_lines_replace(plan=plan, lines=lines)
    return plan


@transaction.atomic
def plan_upgrade_path_update(
    *, organization: Organization, product_id: str, groups: list[dict[str, Any]]
) -> list[Plan]:
    """Set the product's upgrade path: within each group (one per billing `frequency`), plans get
    `upgrade_path_order` 0, 1, … in the order listed; the product's other plans get none. Locks the product
    row. Returns the product's plans, those on the path first, in path order."""
    product = _product_of_plans(organization=organization, product_id=product_id)
    plans = {
        plan.display_id: plan for plan in Plan.objects.filter(organization=organization, product=product)
    }
    frequencies: set[str | None] = set()
    path: list[tuple[Plan, int, str | None]] = []
    for group_index, group in enumerate(groups):
        frequency = group.get("frequency")
        if frequency in frequencies:
            raise DomainError("two groups for the same frequency", field=f"groups[{group_index}].frequency")
        frequencies.add(frequency)
        for order, plan_id in enumerate(group["plan_ids"]):
            where = f"groups[{group_index}].planIds[{order}]"
            plan = plans.get(plan_id)
            if plan is None:
                if Plan.objects.filter(organization=organization, display_id=plan_id).exists():
                    raise DomainError(f"plan {plan_id!r} belongs to another product", field=where)
                raise ReferenceNotFound("Plan", plan_id, field=where)
            if any(listed is plan for listed, _, _ in path):
                raise DomainError(f"plan {plan_id!r} is listed twice", field=where)
            if plan.status == Plan.Status.ARCHIVED:
                raise DomainError(f"plan {plan_id!r} is archived", field=where)
            path.append((plan, order, frequency))

    now = timezone.now()
    for plan in plans.values():
        plan.upgrade_path_order, plan.upgrade_path_frequency = None, None
    for plan, order, frequency in path:
        plan.upgrade_path_order, plan.upgrade_path_frequency = order, frequency
    for plan in plans.values():
        plan.updated_at = now
    Plan.objects.bulk_update(plans.values(), ["upgrade_path_order", "upgrade_path_frequency", "updated_at"])
    on_path = [plan for plan, _, _ in path]
    return on_path + sorted(
        (plan for plan in plans.values() if plan not in on_path), key=lambda plan: (plan.created_at, plan.pk)
    )
