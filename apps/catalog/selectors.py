from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import F, Lookup, Prefetch, QuerySet
from django.db.models.lookups import In

from apps.catalog.models import CreditBenefit, CreditCurrency, Plan, PlanAttribute, Product, ProductAttribute
from apps.common.exceptions import DomainError, NotFound, ReferenceNotFound

if TYPE_CHECKING:  # accounts' models are private to it; the type is all we need
    from apps.accounts.models import Organization


def product_list(
    *,
    organization: Organization,
    name: str | None = None,
    active: bool | None = None,
    archived: bool | None = None,
) -> QuerySet[Product]:
    qs = Product.objects.filter(organization=organization)
    if name:
        qs = qs.filter(name__icontains=name)
    if active is not None:
        qs = qs.filter(active=active)
    if archived is not None:
        qs = qs.filter(archived_at__isnull=not archived)
    return qs.order_by("-created_at", "-pk")


def product_get(*, organization: Organization, product_id: str) -> Product:
    product = Product.objects.filter(organization=organization, display_id=product_id).first()
    if product is None:
        raise NotFound("Product", product_id)
    return product


def product_get_by_external_id(*, organization: Organization, external_id: str) -> Product:
    product = Product.objects.filter(organization=organization, external_id=external_id).first()
    if product is None:
        raise NotFound("Product with external id", external_id)
    return product


def product_get_for_update(*, organization: Organization, product_id: str) -> Product:
    """The product row, locked until the end of the transaction (the lock that serializes changes to its
    plans: default switching, upgrade path). Caller: services, inside `transaction.atomic`."""
    product = (
        Product.objects.select_for_update().filter(organization=organization, display_id=product_id).first()
    )
    if product is None:
        raise NotFound("Product", product_id)
    return product


def credit_currency_list(
    *, organization: Organization, status: str | None = None
) -> QuerySet[CreditCurrency]:
    qs = CreditCurrency.objects.filter(organization=organization)
    if status in (CreditCurrency.Status.ACTIVE, CreditCurrency.Status.ARCHIVED):
        qs = qs.filter(status=status)
    return qs.order_by("created_at", "pk")


def credit_currency_get(*, organization: Organization, currency_id: str) -> CreditCurrency:
    currency = CreditCurrency.objects.filter(organization=organization, display_id=currency_id).first()
    if currency is None:
        raise NotFound("Credit currency", currency_id)
    return currency


def product_attribute_list(*, product: Product) -> QuerySet[ProductAttribute]:
    return (
        product.attributes.select_related("credits_currency")
        .prefetch_related("credit_benefits__credits_currency")
        .order_by("created_at", "pk")
    )


def product_attribute_get(*, organization: Organization, attribute_id: str) -> ProductAttribute:
    attribute = (
        ProductAttribute.objects.filter(organization=organization, display_id=attribute_id)
        .select_related("product")
        .prefetch_related("credit_benefits__credits_currency")
        .first()
    )
    if attribute is None:
        raise NotFound("Product attribute", attribute_id)
    return attribute


# --- plans ------------------------------------------------------------------------------------------------


def _plans() -> QuerySet[Plan]:
    """Plans with what PlanOut renders, in a fixed number of queries."""
    return Plan.objects.select_related("product").prefetch_related(
        Prefetch("attributes", queryset=_plan_attributes())
    )


def _plan_attributes() -> QuerySet[PlanAttribute]:
    return (
        PlanAttribute.objects.select_related("product_attribute", "credits_currency")
        .prefetch_related(
            Prefetch(
                "credit_benefits",
                queryset=CreditBenefit.objects.select_related("credits_currency").order_by("pk"),
            )
        )
        .order_by("created_at", "pk")
    )


def plan_list(
    *,
    organization: Organization,
    product_id: str | None = None,
    external_product_id: str | None = None,
    include_archived: bool = True,
) -> QuerySet[Plan]:
    """The organization's plans, newest first (as every paginated list), optionally of one product (by id and/or external id: a product
    the organization does not have is a NotFound); `include_archived=False` keeps active plans only."""
    qs = _plans().filter(organization=organization)
    if product_id:
        qs = qs.filter(product=product_get(organization=organization, product_id=product_id))
    if external_product_id:
        product = product_get_by_external_id(organization=organization, external_id=external_product_id)
        qs = qs.filter(product=product)
    if not include_archived:
        qs = qs.filter(status=Plan.Status.ACTIVE)
    return qs.order_by("-created_at", "-pk")


def plans_for_output(*, organization: Organization, plans: list[Plan]) -> list[Plan]:
    """The same plans (same order), freshly read with their product and attributes, ready to render."""
    by_pk = _plans().filter(organization=organization).in_bulk([plan.pk for plan in plans])
    return [by_pk[plan.pk] for plan in plans]


def plan_get(*, organization: Organization, plan_id: str) -> Plan:
    plan = _plans().filter(organization=organization, display_id=plan_id).first()
    if plan is None:
        raise NotFound("Plan", plan_id)
    return plan


def plan_get_by_external_id(*, organization: Organization, external_id: str) -> Plan:
    plan = _plans().filter(organization=organization, external_id=external_id).first()
    if plan is None:
        raise NotFound("Plan with external id", external_id)
    return plan


def plan_get_for_update(*, organization: Organization, plan_id: str) -> Plan:
    """The plan row, locked. Take the product's lock first (product_get_for_update): product, then plan."""
    plan = Plan.objects.select_for_update().filter(organization=organization, display_id=plan_id).first()
    if plan is None:
        raise NotFound("Plan", plan_id)
    return plan


# --- what an order copies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributePricing:
    """The pricing an order line copies for one product attribute (from the product or one of its plans)."""

    product_attribute: ProductAttribute
    name: str
    pricing: dict[str, Any]  # stored PricingInput form (see services.pricing_clean)
    credit_benefits: list[CreditBenefit]
    credits_currency: CreditCurrency | None = None
    plan_id: str | None = None


def catalog_pricing_for_order(*, product: Product, plan_id: str | None = None) -> list[AttributePricing]:
    """What a new order line on `product` bills: the given plan's attributes (each with the plan's pricing and
    credit benefits instead of the product attribute's), else the product's default plan, else the product's
    own active priced attributes. Attributes made inactive on the product are left out either way.

    Raises ReferenceNotFound (`planId`) for a plan the organization does not have, DomainError (`planId`) for
    a plan of another product or an archived one."""
    if plan_id is not None:
        plan = _plans().filter(organization_id=product.organization_id, display_id=plan_id).first()
        if plan is None:
            raise ReferenceNotFound("Plan", plan_id, field="planId")
        if plan.product_id != product.pk:
            raise DomainError(
                f"plan {plan_id!r} is not a plan of product {product.display_id!r}", field="planId"
            )
        if plan.status != Plan.Status.ACTIVE:
            raise DomainError(f"plan {plan_id!r} is archived", field="planId")
    else:
        plan = (
            _plans()
            .filter(
                organization_id=product.organization_id,
                product=product,
                is_default=True,
                status=Plan.Status.ACTIVE,
            )
            .first()
        )
    if plan is not None:
        return [
            AttributePricing(
                product_attribute=line.product_attribute,
                name=line.product_attribute.name,
                pricing=line.pricing,
                credit_benefits=list(line.credit_benefits.all()),
                credits_currency=line.credits_currency,
                plan_id=plan.display_id,
            )
            for line in plan.attributes.all()
            if line.product_attribute.active
        ]
    return [
        AttributePricing(
            product_attribute=attribute,
            name=attribute.name,
            pricing=attribute.pricing,
            credit_benefits=list(attribute.credit_benefits.all()),
            credits_currency=attribute.credits_currency,
        )
        for attribute in product_attribute_list(product=product).filter(active=True)
    ]


class _AnyOf(Lookup):
    """`column = ANY(%s)`: the values as one array parameter on PostgreSQL, where `__in` would make one parameter
    each (~630 for an ingest batch) for Django to compile and psycopg to quote; `IN (…)` elsewhere.
    Used as `.filter(_AnyOf(F("field"), values))`."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        return compiler.compile(In(self.lhs, list(self.rhs)))

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def product_pks_by_reference(
    *, organization: Organization, display_ids: set[str], external_ids: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Bulk resolution for ingestion: ({display id: pk}, {external id: pk}); at most two queries."""
    products = Product.objects.filter(organization=organization)
    by_display = (
        dict(products.filter(_AnyOf(F("display_id"), display_ids)).values_list("display_id", "pk"))
        if display_ids
        else {}
    )
    by_external = (
        dict(products.filter(_AnyOf(F("external_id"), external_ids)).values_list("external_id", "pk"))
        if external_ids
        else {}
    )
    return by_display, by_external


def meterable_pricing_lines(*, product: Product) -> list[ProductAttribute]:
    """The product's active usage lines that may take their quantity from a meter (not cost-plus)."""
    lines = ProductAttribute.objects.filter(
        organization_id=product.organization_id, product=product, active=True
    )
    return [
        line
        for line in lines.order_by("pk")
        if line.pricing_type.startswith("Usage") and line.pricing_type != "UsageCostPlus"
    ]


def pricing_lines_using_meter(*, organization: Organization, meter_id: str) -> list[str]:
    """Names of the product and plan pricing lines whose quantity comes from the meter (`pricing["meter_id"]`),
    for a message that says what uses it."""
    attributes = ProductAttribute.objects.filter(organization=organization, pricing__meter_id=meter_id)
    plan_lines = PlanAttribute.objects.filter(organization=organization, pricing__meter_id=meter_id)
    return [
        *(f"{a.name} ({a.display_id})" for a in attributes.order_by("pk")),
        *(f"{p.plan.name}: {p.product_attribute.name} ({p.display_id})" for p in plan_lines.order_by("pk")),
    ]
