"""Checkouts (§3.7): create, list by status, get (with the order and plan once completed), archive."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.checkout import selectors, services
from apps.checkout.models import Checkout
from apps.common.api import (
    EMPTY_RESPONSE,
    ApiSerializer,
    JsonObjectField,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.common.fields import CurrencyField

TAGS = ["Checkouts"]


# --- input ---------------------------------------------------------------------------------------------------


class CheckoutPlanIn(ApiSerializer):
    id = serializers.CharField(max_length=64)
    features = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=20, required=False, allow_null=True
    )


class CheckoutProductIn(ApiSerializer):
    id = serializers.CharField(max_length=64)
    plans = CheckoutPlanIn(many=True, required=False, allow_null=True)


class CustomCardIn(ApiSerializer):
    label = serializers.CharField(max_length=120)
    price_text = serializers.CharField(max_length=120, required=False, allow_null=True)
    button_text = serializers.CharField(max_length=60, required=False, allow_null=True)
    button_url = serializers.URLField(max_length=2000, required=False, allow_null=True)


class CheckoutCreateIn(ApiSerializer):
    products = CheckoutProductIn(many=True, allow_empty=False)
    customer_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    external_customer_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    success_url = serializers.URLField(max_length=2000)
    cancel_url = serializers.URLField(max_length=2000, required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    metadata = JsonObjectField(required=False, allow_null=True)
    collect_address = serializers.BooleanField(required=False, allow_null=True)
    collect_phone = serializers.BooleanField(required=False, allow_null=True)
    single_use = serializers.BooleanField(required=False, allow_null=True)
    currency = CurrencyField(required=False, allow_null=True)
    custom_cards = CustomCardIn(many=True, required=False, allow_null=True, max_length=6)


class CheckoutListQuery(ApiSerializer):
    status = serializers.ChoiceField(choices=Checkout.Status.values, required=False)


def _cards(cards: list[dict] | None) -> list[dict] | None:
    """Custom cards as the wire spells them (camelCase), unset keys left out."""
    if cards is None:
        return None
    wire = {
        "label": "label",
        "price_text": "priceText",
        "button_text": "buttonText",
        "button_url": "buttonUrl",
    }
    return [{wire[key]: value for key, value in card.items() if value is not None} for card in cards]


# --- output --------------------------------------------------------------------------------------------------


class CheckoutPlanOut(ApiSerializer):
    id = serializers.CharField()
    features = serializers.ListField(child=serializers.CharField(), required=False)


class CheckoutProductOut(ApiSerializer):
    id = serializers.CharField()
    plans = CheckoutPlanOut(many=True, required=False)


class CustomCardOut(ApiSerializer):
    label = serializers.CharField()
    price_text = serializers.CharField(required=False)
    button_text = serializers.CharField(required=False)
    button_url = serializers.CharField(required=False)


class CheckoutOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    url = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    products = serializers.SerializerMethodField()
    customer_id = serializers.CharField(source="customer.display_id", allow_null=True, default=None)
    external_customer_id = serializers.CharField(allow_null=True)
    success_url = serializers.CharField()
    cancel_url = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    metadata = JsonObjectField(allow_null=True)
    collect_address = serializers.BooleanField()
    collect_phone = serializers.BooleanField()
    single_use = serializers.BooleanField()
    allowed_currencies = serializers.ListField(child=serializers.CharField())
    custom_cards = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_url(self, checkout: Checkout) -> str:
        return selectors.checkout_url(checkout)

    def get_status(self, checkout: Checkout) -> str:
        return selectors.checkout_status(checkout)

    def get_products(self, checkout: Checkout) -> list[dict]:
        return CheckoutProductOut(checkout.products, many=True).data

    def get_custom_cards(self, checkout: Checkout) -> list[dict] | None:
        return checkout.custom_cards


class PlanRefOut(ApiSerializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)


class SelectedProductOut(ApiSerializer):
    id = serializers.CharField()
    plan = PlanRefOut()


class CheckoutDetailsOut(CheckoutOut):
    order_id = serializers.SerializerMethodField()
    selected_product = serializers.SerializerMethodField()

    def _completion(self, checkout: Checkout):
        if not hasattr(checkout, "_completion"):
            checkout._completion = selectors.checkout_latest_completion(checkout=checkout)
        return checkout._completion

    def get_order_id(self, checkout: Checkout) -> str | None:
        attempt = self._completion(checkout)
        return attempt.order.display_id if attempt is not None and attempt.order_id else None

    def get_selected_product(self, checkout: Checkout) -> dict | None:
        attempt = self._completion(checkout)
        if attempt is None:
            return None
        plan = attempt.plan
        return {
            "id": plan.product.display_id,
            "plan": {"id": plan.display_id, "name": plan.name, "externalId": plan.external_id},
        }


# --- views ---------------------------------------------------------------------------------------------------


def _checkout(request, checkout_id: str) -> Checkout:
    return selectors.checkout_get(organization=request.organization, checkout_id=checkout_id)


class CheckoutCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_checkouts",
        parameters=[PageParams, CheckoutListQuery],
        responses=page_of(CheckoutOut),
    )
    def get(self, request):
        filters = validated(CheckoutListQuery, request.query_params)
        return paginated(
            request, selectors.checkout_list(organization=request.organization, **filters), CheckoutOut
        )

    @extend_schema(
        tags=TAGS, operation_id="create_checkout", request=CheckoutCreateIn, responses={201: CheckoutOut}
    )
    def post(self, request):
        data = validated(CheckoutCreateIn, request.data)
        data["custom_cards"] = _cards(data.get("custom_cards"))
        checkout = services.checkout_create(organization=request.organization, **data)
        return Response(CheckoutOut(checkout).data, status=201)


class CheckoutItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_checkout", responses=CheckoutDetailsOut)
    def get(self, request, checkout_id: str):
        return Response(CheckoutDetailsOut(_checkout(request, checkout_id)).data)

    @extend_schema(tags=TAGS, operation_id="archive_checkout", responses={200: EMPTY_RESPONSE})
    def delete(self, request, checkout_id: str):
        services.checkout_archive(checkout=_checkout(request, checkout_id))
        return Response({})
