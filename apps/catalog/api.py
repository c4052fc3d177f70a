"""Products (§3.1), plans (§3.2), pricing (§3.3) and credit currencies (§3.6) of the Paid v2 API."""

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog import selectors, services
from apps.catalog.models import CreditCurrency, Plan, Product
from apps.catalog.serializers import (
    CreditBenefitIn,
    CreditBenefitOut,
    CreditCurrencyOut,
    PricingIn,
    PricingOut,
)
from apps.common.api import ApiSerializer, JsonObjectField, PageParams, page_of, paginated, validated

TAGS = ["Products"]


class ProductAttributeIn(ApiSerializer):
    product_attribute_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    name = serializers.CharField(max_length=255)
    active = serializers.BooleanField(required=False, allow_null=True)
    pricing = PricingIn()
    credit_benefits = CreditBenefitIn(many=True, required=False, allow_null=True)
    tax_code = serializers.CharField(max_length=64, required=False, allow_null=True)


class ProductAttributeOut(ApiSerializer):
    product_attribute_id = serializers.CharField(source="display_id")
    name = serializers.CharField()
    active = serializers.BooleanField()
    pricing = PricingOut()
    credit_benefits = CreditBenefitOut(many=True, source="credit_benefits.all")
    tax_code = serializers.CharField(allow_null=True)


class ProductIn(ApiSerializer):
    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    active = serializers.BooleanField(required=False, allow_null=True)
    product_code = serializers.CharField(max_length=255, required=False, allow_null=True)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    metadata = JsonObjectField(required=False, allow_null=True)
    product_attributes = serializers.ListField(child=ProductAttributeIn(), required=False, allow_null=True)


class ProductCreateIn(ProductIn):
    name = serializers.CharField(max_length=255)
    product_attributes = None


class ProductListQuery(ApiSerializer):
    name = serializers.CharField(required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    archived = serializers.BooleanField(required=False, allow_null=True, default=None)


class ProductOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    active = serializers.BooleanField()
    product_code = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    metadata = JsonObjectField(allow_null=True)


class ProductDetailOut(ProductOut):
    product_attributes = serializers.SerializerMethodField()

    @extend_schema_field(ProductAttributeOut(many=True))
    def get_product_attributes(self, product: Product) -> list:
        return ProductAttributeOut(selectors.product_attribute_list(product=product), many=True).data


def _product(request, *, product_id: str | None = None, external_id: str | None = None) -> Product:
    if external_id is not None:
        return selectors.product_get_by_external_id(
            organization=request.organization, external_id=external_id
        )
    return selectors.product_get(organization=request.organization, product_id=product_id)


class ProductCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_products",
        parameters=[PageParams, ProductListQuery],
        responses=page_of(ProductOut),
    )
    def get(self, request):
        filters = validated(ProductListQuery, request.query_params)
        return paginated(
            request, selectors.product_list(organization=request.organization, **filters), ProductOut
        )

    @extend_schema(
        tags=TAGS, operation_id="create_product", request=ProductCreateIn, responses={201: ProductOut}
    )
    def post(self, request):
        data = validated(ProductCreateIn, request.data)
        product = services.product_create(organization=request.organization, **data)
        return Response(ProductOut(product).data, status=201)


class ProductItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_product_by_id", responses=ProductDetailOut)
    def get(self, request, **ids):
        return Response(ProductDetailOut(_product(request, **ids)).data)

    @extend_schema(
        tags=TAGS, operation_id="update_product_by_id", request=ProductIn, responses=ProductDetailOut
    )
    def put(self, request, **ids):
        data = validated(ProductIn, request.data)
        product = services.product_update(product=_product(request, **ids), **data)
        return Response(ProductDetailOut(product).data)


# --- plans (§3.2) ------------------------------------------------------------------------------------------

PLAN_TAGS = ["Plans"]


class PlanAttributeIn(ApiSerializer):
    product_attribute_id = serializers.CharField(max_length=64)
    pricing = PricingIn()
    credit_benefits = CreditBenefitIn(many=True, required=False, allow_null=True)


class PlanUpdateIn(ApiSerializer):
    name = serializers.CharField(max_length=255, required=False, allow_null=True)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    supported_currencies = serializers.ListField(
        child=serializers.CharField(max_length=16), required=False, allow_null=True
    )
    is_default = serializers.BooleanField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Plan.Status.values, required=False, allow_null=True)
    attributes = serializers.ListField(child=PlanAttributeIn(), required=False, allow_null=True)


class PlanCreateIn(PlanUpdateIn):
    product_id = serializers.CharField(max_length=64)
    status = None
    attributes = serializers.ListField(child=PlanAttributeIn())


class PlanListQuery(ApiSerializer):
    product_id = serializers.CharField(required=False)
    external_product_id = serializers.CharField(required=False)
    include_archived = serializers.BooleanField(required=False, default=True)


class UpgradePathGroupIn(ApiSerializer):
    frequency = serializers.CharField(max_length=32, required=False, allow_null=True)
    plan_ids = serializers.ListField(child=serializers.CharField(max_length=64))


class UpgradePathIn(ApiSerializer):
    product_id = serializers.CharField(max_length=64)
    groups = UpgradePathGroupIn(many=True)


class PlanAttributeOut(ApiSerializer):
    """`PlanAttribute`: the product attribute's id, name and state with the plan's pricing and benefits."""

    product_attribute_id = serializers.CharField(source="product_attribute.display_id")
    name = serializers.CharField(source="product_attribute.name")
    active = serializers.BooleanField(source="product_attribute.active")
    pricing = PricingOut()
    credit_benefits = CreditBenefitOut(many=True, source="credit_benefits.all")


class PlanOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    product_id = serializers.CharField(source="product.display_id")
    name = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    supported_currencies = serializers.ListField(child=serializers.CharField())
    is_default = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Plan.Status.values)
    upgrade_path_order = serializers.IntegerField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    attributes = PlanAttributeOut(many=True, source="attributes.all")


def _plan(request, *, plan_id: str | None = None, external_id: str | None = None) -> Plan:
    if external_id is not None:
        return selectors.plan_get_by_external_id(organization=request.organization, external_id=external_id)
    return selectors.plan_get(organization=request.organization, plan_id=plan_id)


def _plan_out(request, plan: Plan) -> dict:
    """A plan a service just wrote, read back with its attributes."""
    return PlanOut(selectors.plans_for_output(organization=request.organization, plans=[plan])[0]).data


class PlanCollectionApi(APIView):
    @extend_schema(
        tags=PLAN_TAGS,
        operation_id="list_plans",
        parameters=[PageParams, PlanListQuery],
        responses=page_of(PlanOut),
    )
    def get(self, request):
        query = validated(PlanListQuery, request.query_params)
        return paginated(request, selectors.plan_list(organization=request.organization, **query), PlanOut)

    @extend_schema(tags=PLAN_TAGS, operation_id="create_plan", request=PlanCreateIn, responses={201: PlanOut})
    def post(self, request):
        data = validated(PlanCreateIn, request.data)
        plan = services.plan_create(organization=request.organization, **data)
        return Response(_plan_out(request, plan), status=201)


class PlanUpgradePathApi(APIView):
    @extend_schema(
        tags=PLAN_TAGS,
        operation_id="update_plan_upgrade_path",
        request=UpgradePathIn,
        responses=inline_serializer("PlanUpgradePath", {"data": PlanOut(many=True)}),
    )
    def put(self, request):
        data = validated(UpgradePathIn, request.data)
        plans = services.plan_upgrade_path_update(organization=request.organization, **data)
        plans = selectors.plans_for_output(organization=request.organization, plans=plans)
        return Response({"data": PlanOut(plans, many=True).data})


class PlanItemApi(APIView):
    @extend_schema(tags=PLAN_TAGS, operation_id="get_plan_by_id", responses=PlanOut)
    def get(self, request, **ids):
        return Response(PlanOut(_plan(request, **ids)).data)

    @extend_schema(tags=PLAN_TAGS, operation_id="update_plan_by_id", request=PlanUpdateIn, responses=PlanOut)
    def put(self, request, **ids):
        plan = _plan(request, **ids)
        data = validated(PlanUpdateIn, request.data)
        plan = services.plan_update(plan=plan, **data)
        return Response(_plan_out(request, plan))


# --- pricing (§3.3) ----------------------------------------------------------------------------------------

PRICING_TAGS = ["Pricing"]


class PricingResponseOut(ApiSerializer):
    product_attribute_id = serializers.CharField(source="display_id")
    name = serializers.CharField()
    pricing = PricingOut()
    credit_benefits = CreditBenefitOut(many=True, source="credit_benefits.all")


class PricingListQuery(ApiSerializer):
    product_id = serializers.CharField()


class PricingUpdateIn(ApiSerializer):
    pricing = PricingIn()
    credit_benefits = CreditBenefitIn(many=True, required=False, allow_null=True)


class PricingCollectionApi(APIView):
    @extend_schema(
        tags=PRICING_TAGS,
        operation_id="list_pricing",
        parameters=[PricingListQuery],
        responses=inline_serializer("PricingList", {"data": PricingResponseOut(many=True)}),
    )
    def get(self, request):
        query = validated(PricingListQuery, request.query_params)
        product = selectors.product_get(organization=request.organization, product_id=query["product_id"])
        attributes = selectors.product_attribute_list(product=product)
        return Response({"data": PricingResponseOut(attributes, many=True).data})


class PricingItemApi(APIView):
    @extend_schema(tags=PRICING_TAGS, operation_id="get_pricing", responses=PricingResponseOut)
    def get(self, request, attribute_id: str):
        attribute = selectors.product_attribute_get(
            organization=request.organization, attribute_id=attribute_id
        )
        return Response(PricingResponseOut(attribute).data)

    @extend_schema(
        tags=PRICING_TAGS,
        operation_id="update_pricing",
        request=PricingUpdateIn,
        responses=PricingResponseOut,
    )
    def put(self, request, attribute_id: str):
        attribute = selectors.product_attribute_get(
            organization=request.organization, attribute_id=attribute_id
        )
        data = validated(PricingUpdateIn, request.data)
        attribute = services.pricing_update(attribute=attribute, **data)
        return Response(
            PricingResponseOut(
                selectors.product_attribute_get(
                    organization=request.organization, attribute_id=attribute.display_id
                )
            ).data
        )


# --- credit currencies (§3.6) ------------------------------------------------------------------------------

CREDIT_TAGS = ["Credits"]


class CreditCurrencyCreateIn(ApiSerializer):
    name = serializers.CharField(max_length=255)
    key = serializers.CharField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class CreditCurrencyUpdateIn(ApiSerializer):
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    status = serializers.ChoiceField(choices=CreditCurrency.Status.choices, required=False, allow_null=True)


class CreditCurrencyListQuery(ApiSerializer):
    status = serializers.ChoiceField(choices=["active", "archived", "all"], required=False)


class CreditCurrencyCollectionApi(APIView):
    @extend_schema(
        tags=CREDIT_TAGS,
        operation_id="list_credit_currencies",
        parameters=[CreditCurrencyListQuery],
        responses=inline_serializer("CreditCurrencyList", {"data": CreditCurrencyOut(many=True)}),
    )
    def get(self, request):
        query = validated(CreditCurrencyListQuery, request.query_params)
        currencies = selectors.credit_currency_list(
            organization=request.organization, status=query.get("status")
        )
        return Response({"data": CreditCurrencyOut(currencies, many=True).data})

    @extend_schema(
        tags=CREDIT_TAGS,
        operation_id="create_credit_currency",
        request=CreditCurrencyCreateIn,
        responses={201: CreditCurrencyOut},
    )
    def post(self, request):
        data = validated(CreditCurrencyCreateIn, request.data)
        currency = services.credit_currency_create(organization=request.organization, **data)
        return Response(CreditCurrencyOut(currency).data, status=201)


class CreditCurrencyItemApi(APIView):
    @extend_schema(
        tags=CREDIT_TAGS,
        operation_id="update_credit_currency_by_id",
        request=CreditCurrencyUpdateIn,
        responses=CreditCurrencyOut,
    )
    def put(self, request, currency_id: str):
        currency = selectors.credit_currency_get(organization=request.organization, currency_id=currency_id)
        data = validated(CreditCurrencyUpdateIn, request.data)
        return Response(CreditCurrencyOut(services.credit_currency_update(currency=currency, **data)).data)
