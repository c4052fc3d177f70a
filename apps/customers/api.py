"""Customers (§2.1) and contacts (§2.2) of the Paid v2 API."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import (
    EMPTY_RESPONSE,
    ApiSerializer,
    DateOrDateTimeField,
    ErrorOut,
    JsonObjectField,
    PageParams,
    page_of,
    paginated,
    validated,
)
from apps.common.fields import CurrencyField
from apps.customers import selectors, services
from apps.customers.models import Contact, Customer, CustomerUser

TAGS = ["Customers"]

# --- serializers -------------------------------------------------------------------------------------------


def _text(max_length=255, **kwargs):
    return serializers.CharField(
        max_length=max_length, required=False, allow_blank=True, allow_null=True, **kwargs
    )


class AddressIn(ApiSerializer):
    line1 = _text()
    line2 = _text()
    city = _text()
    state = _text()
    zip_code = _text(32)
    country = _text(64)


class AddressOut(ApiSerializer):
    line1 = serializers.CharField(required=False)
    line2 = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    state = serializers.CharField(required=False)
    zip_code = serializers.CharField(required=False)
    country = serializers.CharField(required=False)

    def to_representation(self, instance):
        return {key: value for key, value in super().to_representation(instance).items() if value is not None}


class CustomerIn(ApiSerializer):
    """Update body: every key optional (partial update); null clears."""

    name = serializers.CharField(max_length=255, required=False)
    legal_name = _text()
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, allow_null=True)
    phone = _text(64)
    website = _text()
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    billing_address = AddressIn(required=False, allow_null=True)
    creation_state = serializers.ChoiceField(
        choices=Customer.CreationState.choices, required=False, allow_null=True
    )
    churn_date = serializers.DateTimeField(required=False, allow_null=True)
    vat_number = _text(64)
    metadata = JsonObjectField(required=False, allow_null=True)


class CustomerCreateIn(CustomerIn):
    name = serializers.CharField(max_length=255)
    churn_date = None
    default_currency = CurrencyField(required=False, allow_null=True)


class CustomerListQuery(ApiSerializer):
    name = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["active", "churned"], required=False)
    creation_state = serializers.ChoiceField(choices=Customer.CreationState.choices, required=False)
    created_at_from = DateOrDateTimeField(required=False)
    created_at_to = DateOrDateTimeField(required=False)
    external_id = serializers.CharField(required=False)


class CustomerOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    name = serializers.CharField()
    legal_name = serializers.CharField(allow_null=True)
    email = serializers.CharField()
    phone = serializers.CharField()
    website = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    billing_address = AddressOut(allow_null=True)
    creation_state = serializers.ChoiceField(choices=Customer.CreationState.choices)
    status = serializers.ChoiceField(choices=["active", "churned"])
    churn_date = serializers.DateTimeField(allow_null=True)
    vat_number = serializers.CharField(allow_null=True)
    metadata = JsonObjectField(allow_null=True)
    default_currency = serializers.CharField()
    connections = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_connections(self, customer: Customer) -> dict:
        return {"stripe": {"customerId": customer.stripe_customer_id}} if customer.stripe_customer_id else {}


class AliasIn(ApiSerializer):
    alias = serializers.CharField(max_length=255)
    name = _text()
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class AliasOut(ApiSerializer):
    alias = serializers.CharField()
    customer_id = serializers.CharField(source="customer.display_id")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ContactAddressIn(ApiSerializer):
    street = _text()
    city = _text()
    state = _text()
    country = _text(64)
    zip_code = _text(32)


class ContactAddressOut(AddressOut):
    line1 = line2 = None
    street = serializers.CharField(required=False)


class ContactIn(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    first_name = _text(150)
    last_name = _text(150)
    email = serializers.EmailField(max_length=254, required=False)
    phone = _text(64)
    billing_address = ContactAddressIn(required=False, allow_null=True)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Contact.Role.choices), required=False, allow_null=True
    )


class ContactCreateIn(ContactIn):
    customer_id = serializers.CharField()
    email = serializers.EmailField(max_length=254)


class ContactOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    customer_id = serializers.CharField(source="customer.display_id")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    billing_address = ContactAddressOut(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CustomerUserIn(ApiSerializer):
    """Upsert body: every key optional; null clears name, email and metadata; a null status keeps it."""

    name = _text()
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, allow_null=True)
    metadata = JsonObjectField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=CustomerUser.Status.values, required=False, allow_null=True)


# Context: `created` (the upsert inserted the row) and `customer_external_id` (the id in the path).
class CustomerUserOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    external_id = serializers.CharField()
    customer_external_id = serializers.SerializerMethodField()
    name = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    metadata = JsonObjectField(allow_null=True)
    # Values as labels, as in CustomerUserIn: the choice set ENUM_NAME_OVERRIDES names CustomerUserStatusEnum.
    status = serializers.ChoiceField(choices=CustomerUser.Status.values)
    created = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_customer_external_id(self, user: CustomerUser) -> str:
        # The customer's own external id; a customer addressed by an alias may have none.
        return user.customer.external_id or self.context["customer_external_id"]

    def get_created(self, user: CustomerUser) -> bool:
        return self.context["created"]


# --- views -------------------------------------------------------------------------------------------------


def _customer(request, *, customer_id: str | None = None, external_id: str | None = None) -> Customer:
    if external_id is not None:
        return selectors.customer_get_by_external_id(
            organization=request.organization, external_id=external_id
        )
    return selectors.customer_get(organization=request.organization, customer_id=customer_id)


class CustomerCollectionApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_customers",
        parameters=[PageParams, CustomerListQuery],
        responses=page_of(CustomerOut),
    )
    def get(self, request):
        filters = validated(CustomerListQuery, request.query_params)
        return paginated(
            request, selectors.customer_list(organization=request.organization, **filters), CustomerOut
        )

    @extend_schema(
        tags=TAGS, operation_id="create_customer", request=CustomerCreateIn, responses={201: CustomerOut}
    )
    def post(self, request):
        data = validated(CustomerCreateIn, request.data)
        customer = services.customer_create(organization=request.organization, **data)
        return Response(CustomerOut(customer).data, status=201)


class CustomerItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="get_customer_by_id", responses=CustomerOut)
    def get(self, request, **ids):
        return Response(CustomerOut(_customer(request, **ids)).data)

    @extend_schema(tags=TAGS, operation_id="update_customer_by_id", request=CustomerIn, responses=CustomerOut)
    def put(self, request, **ids):
        data = validated(CustomerIn, request.data)
        customer = services.customer_update(customer=_customer(request, **ids), **data)
        return Response(CustomerOut(customer).data)

    @extend_schema(tags=TAGS, operation_id="delete_customer_by_id", responses={200: EMPTY_RESPONSE})
    def delete(self, request, **ids):
        services.customer_delete(customer=_customer(request, **ids))
        return Response({})


class CustomerAliasCollectionApi(APIView):
    @extend_schema(
        tags=TAGS, operation_id="list_customer_aliases", parameters=[PageParams], responses=page_of(AliasOut)
    )
    def get(self, request, **ids):
        customer = _customer(request, **ids)
        return paginated(request, selectors.customer_alias_list(customer=customer), AliasOut)

    @extend_schema(
        tags=TAGS,
        operation_id="create_customer_alias",
        request=AliasIn,
        responses={201: AliasOut, 409: ErrorOut},
    )
    def post(self, request, **ids):
        customer = _customer(request, **ids)
        data = validated(AliasIn, request.data)
        alias = services.customer_alias_create(customer=customer, **data)
        return Response(AliasOut(alias).data, status=201)


class CustomerAliasItemApi(APIView):
    @extend_schema(tags=TAGS, operation_id="delete_customer_alias", responses={200: EMPTY_RESPONSE})
    def delete(self, request, alias: str, **ids):
        services.customer_alias_delete(customer=_customer(request, **ids), alias=alias)
        return Response({})


class CustomerUserItemApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="upsert_customer_user_by_external_id",
        request=CustomerUserIn,
        responses=CustomerUserOut,
        description=(
            "Create or update a customer user by the customer's and the user's external ids. Omitted keys are "
            "kept; null clears name, email and metadata. `created` is true when the user was inserted. "
            "Answers 200 either way."
        ),
    )
    def put(self, request, customer_external_id: str, user_external_id: str):
        data = validated(CustomerUserIn, request.data)
        user, created = services.customer_user_upsert(
            organization=request.organization,
            customer_external_id=customer_external_id,
            user_external_id=user_external_id,
            **data,
        )
        context = {"created": created, "customer_external_id": customer_external_id}
        return Response(CustomerUserOut(user, context=context).data)


def _contact(request, *, contact_id: str | None = None, external_id: str | None = None) -> Contact:
    if external_id is not None:
        return selectors.contact_get_by_external_id(
            organization=request.organization, external_id=external_id
        )
    return selectors.contact_get(organization=request.organization, contact_id=contact_id)


CONTACT_TAGS = ["Contacts"]


class ContactCollectionApi(APIView):
    @extend_schema(
        tags=CONTACT_TAGS,
        operation_id="list_contacts",
        parameters=[PageParams],
        responses=page_of(ContactOut),
    )
    def get(self, request):
        return paginated(request, selectors.contact_list(organization=request.organization), ContactOut)

    @extend_schema(
        tags=CONTACT_TAGS, operation_id="create_contact", request=ContactCreateIn, responses={201: ContactOut}
    )
    def post(self, request):
        data = validated(ContactCreateIn, request.data)
        contact = services.contact_create(organization=request.organization, **data)
        return Response(ContactOut(contact).data, status=201)


class ContactItemApi(APIView):
    @extend_schema(tags=CONTACT_TAGS, operation_id="get_contact_by_id", responses=ContactOut)
    def get(self, request, **ids):
        return Response(ContactOut(_contact(request, **ids)).data)

    @extend_schema(
        tags=CONTACT_TAGS, operation_id="update_contact_by_id", request=ContactIn, responses=ContactOut
    )
    def put(self, request, **ids):
        data = validated(ContactIn, request.data)
        contact = services.contact_update(contact=_contact(request, **ids), **data)
        return Response(ContactOut(contact).data)

    @extend_schema(tags=CONTACT_TAGS, operation_id="delete_contact_by_id", responses={200: EMPTY_RESPONSE})
    def delete(self, request, **ids):
        services.contact_delete(contact=_contact(request, **ids))
        return Response({})
