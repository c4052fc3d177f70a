"""Payments through Stripe on the API: payment methods (§3.15), and Tally extensions: the Stripe webhook inbox
(`POST stripe/webhooks/{organization id}`, no API key, verified by the organization's webhook secret) and an
invoice's charge attempts (`GET invoices/{id}/charges`, `POST invoices/{id}/charge`). Also the dashboard's Stripe
page (keys, the webhook URL to give Stripe, charge attempts, the inbox).

`stripe_api_urlpatterns` are gathered into /api/v2 and `stripe_dashboard_urlpatterns` under `billing/` by
apps/billing/urls.py."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import organization_get
from apps.billing import gateway, selectors, stripe_services
from apps.billing.models import InvoiceCharge, PaymentMethod, StripeEvent
from apps.billing.services import billing_settings_update
from apps.common.api import (
    EMPTY_RESPONSE,
    ApiSerializer,
    ErrorOut,
    PageParams,
    error_body,
    page_of,
    paginated,
    route,
    validated,
)
from apps.common.exceptions import DomainError, NotFound
from apps.common.openapi import TALLY_EXTENSION
from apps.common.views import add_domain_error, dashboard_view, paginate, redirect_after_write
from apps.customers.selectors import customer_get, customer_get_by_external_id

PAYMENT_METHOD_TAGS = ["Payment methods"]
INVOICE_TAGS = ["Invoices"]


# --- input ---------------------------------------------------------------------------------------------------


class PaymentMethodListQuery(ApiSerializer):
    customer_id = serializers.CharField(required=False)
    external_customer_id = serializers.CharField(required=False)


class PaymentMethodCreateIn(ApiSerializer):
    customer_id = serializers.CharField(required=False, allow_null=True)
    external_customer_id = serializers.CharField(required=False, allow_null=True)
    confirmation_token = serializers.CharField(
        max_length=255,
        help_text="A Stripe ConfirmationToken id (`ctoken_…`, from Stripe.js) or PaymentMethod id (`pm_…`).",
    )
    return_url = serializers.URLField(required=False, allow_null=True, max_length=2000)
    metadata = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )

    def validate(self, attrs):
        if not attrs.get("customer_id") and not attrs.get("external_customer_id"):
            raise serializers.ValidationError("customerId or externalCustomerId is required.")
        return attrs


# --- output --------------------------------------------------------------------------------------------------


class CardOut(ApiSerializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class PaymentMethodOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    customer_id = serializers.CharField(source="customer.display_id")
    external_payment_method_id = serializers.CharField()
    type = serializers.CharField()
    is_default = serializers.BooleanField()
    card = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(CardOut(allow_null=True))
    def get_card(self, method: PaymentMethod) -> dict | None:
        if method.type != "card" or not method.card_last4:
            return None
        return {
            "brand": method.card_brand or "unknown",
            "last4": method.card_last4,
            "expMonth": method.card_exp_month or 0,
            "expYear": method.card_exp_year or 0,
        }


class SetupIntentOut(ApiSerializer):
    id = serializers.CharField()
    client_secret = serializers.CharField(allow_null=True)
    status = serializers.CharField()


class PaymentMethodSetupOut(ApiSerializer):
    setup_intent = SetupIntentOut()
    external_payment_method_id = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField()
    payment_method_id = serializers.CharField(
        allow_null=True, help_text="Tally extension: the saved payment method, once the setup succeeded."
    )


class InvoiceChargeOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    invoice_id = serializers.CharField(source="invoice.display_id")
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=InvoiceCharge.Status.choices)
    amount = serializers.IntegerField(help_text="Minor units (cents).")
    currency = serializers.CharField()
    payment_method_id = serializers.SerializerMethodField()
    external_payment_method_id = serializers.CharField()
    payment_intent_id = serializers.CharField(allow_null=True)
    payment_id = serializers.SerializerMethodField()
    failure_code = serializers.CharField(allow_blank=True)
    failure_message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_payment_method_id(self, charge: InvoiceCharge) -> str | None:
        return charge.payment_method.display_id if charge.payment_method_id else None

    def get_payment_id(self, charge: InvoiceCharge) -> str | None:
        return charge.payment.display_id if charge.payment_id else None


# --- views ---------------------------------------------------------------------------------------------------


def _customer(request, *, customer_id: str | None, external_customer_id: str | None):
    if external_customer_id:
        return customer_get_by_external_id(
            organization=request.organization, external_id=external_customer_id
        )
    return customer_get(organization=request.organization, customer_id=customer_id)


def _payment_method(request, payment_method_id: str) -> PaymentMethod:
    return stripe_services.payment_method_get(
        organization=request.organization, payment_method_id=payment_method_id
    )


class PaymentMethodCollectionApi(APIView):
    @extend_schema(
        tags=PAYMENT_METHOD_TAGS,
        operation_id="list_payment_methods",
        parameters=[PageParams, PaymentMethodListQuery],
        responses=page_of(PaymentMethodOut),
        description="Saved payment methods, the default first. An unknown customer is a 404.",
    )
    def get(self, request):
        filters = validated(PaymentMethodListQuery, request.query_params)
        customer = None
        if filters.get("customer_id") or filters.get("external_customer_id"):
            customer = _customer(
                request,
                customer_id=filters.get("customer_id"),
                external_customer_id=filters.get("external_customer_id"),
            )
        qs = stripe_services.payment_method_list(organization=request.organization, customer=customer)
        return paginated(request, qs, PaymentMethodOut)

    @extend_schema(
        tags=PAYMENT_METHOD_TAGS,
        operation_id="create_payment_method",
        request=PaymentMethodCreateIn,
        responses={201: PaymentMethodSetupOut},
        description="Save a card for off-session charges through a Stripe SetupIntent confirmed with "
        "`confirmationToken`: a Stripe ConfirmationToken (`ctoken_…`) or PaymentMethod (`pm_…`) id. `succeeded`: "
        "the card is saved (the customer's first becomes its default). `requires_action`: finish 3-D Secure "
        "in the browser with `clientSecret`; the card is saved when Stripe reports success. A declined card is a "
        "400 `CARD_DECLINED`; without Stripe keys in the billing settings, a 400 `STRIPE_NOT_CONFIGURED`.",
    )
    def post(self, request):
        data = validated(PaymentMethodCreateIn, request.data)
        customer = _customer(
            request,
            customer_id=data.get("customer_id"),
            external_customer_id=data.get("external_customer_id"),
        )
        result = stripe_services.payment_method_create(
            organization=request.organization,
            customer=customer,
            token=data["confirmation_token"],
            return_url=data.get("return_url"),
            metadata=data.get("metadata"),
        )
        body = {
            "setup_intent": {
                "id": result.setup.setup_intent_id,
                "client_secret": result.setup.client_secret,
                "status": result.setup.status,
            },
            "external_payment_method_id": (
                result.setup.payment_method.id if result.setup.payment_method is not None else None
            ),
            "customer_id": customer.display_id,
            "payment_method_id": result.payment_method.display_id
            if result.payment_method is not None
            else None,
        }
        return Response(PaymentMethodSetupOut(body).data, status=201)


class PaymentMethodItemApi(APIView):
    @extend_schema(tags=PAYMENT_METHOD_TAGS, operation_id="get_payment_method", responses=PaymentMethodOut)
    def get(self, request, payment_method_id: str):
        return Response(PaymentMethodOut(_payment_method(request, payment_method_id)).data)

    @extend_schema(
        tags=PAYMENT_METHOD_TAGS,
        operation_id="delete_payment_method",
        responses={200: EMPTY_RESPONSE, 400: ErrorOut},
        description="Detach the card at Stripe and forget it. Deleting the default leaves the customer without "
        "one until another is set (no card is promoted).",
    )
    def delete(self, request, payment_method_id: str):
        method = _payment_method(request, payment_method_id)
        stripe_services.payment_method_delete(organization=request.organization, payment_method=method)
        return Response({})


class PaymentMethodSetDefaultApi(APIView):
    @extend_schema(
        tags=PAYMENT_METHOD_TAGS,
        operation_id="update_default_payment_method",
        request=None,
        responses={200: PaymentMethodOut, 400: ErrorOut},
        description="Make this the customer's default payment method (at Stripe too): invoices are charged "
        "from it.",
    )
    def post(self, request, payment_method_id: str):
        method = _payment_method(request, payment_method_id)
        method = stripe_services.payment_method_set_default(
            organization=request.organization, payment_method=method
        )
        return Response(PaymentMethodOut(_payment_method(request, method.display_id)).data)


class InvoiceChargesApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="get_invoice_charges",
        parameters=[PageParams],
        responses=page_of(InvoiceChargeOut),
        description="The invoice's Stripe charge attempts, newest first: status, amount, the PaymentIntent, the "
        "Payment a success recorded, and why a failure failed.",
    )
    def get(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
        qs = stripe_services.invoice_charges(invoice=invoice).select_related(
            "invoice", "payment_method", "payment"
        )
        return paginated(request, qs, InvoiceChargeOut)


class InvoiceChargeApi(APIView):
    @extend_schema(
        tags=[*INVOICE_TAGS, TALLY_EXTENSION],
        operation_id="charge_invoice",
        request=None,
        responses={200: InvoiceChargeOut, 400: ErrorOut},
        description="Charge a posted invoice now from the customer's default payment method (off-session). "
        "Answers the attempt that stands: a new one, or the one already succeeded or processing (an invoice is "
        "never charged twice). A decline is `status: failed` with the reason. 400 when Stripe is not "
        "configured, the invoice is not posted or owes nothing, or the customer has no default payment method.",
    )
    def post(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
        charge = stripe_services.invoice_charge_now(invoice=invoice)
        charge = (
            stripe_services.invoice_charges(invoice=invoice)
            .select_related("invoice", "payment_method", "payment")
            .get(pk=charge.pk)
        )
        return Response(InvoiceChargeOut(charge).data)


@csrf_exempt
@require_POST
def stripe_webhook_view(request: HttpRequest, organization_id: str) -> JsonResponse:
    """Stripe posts its events here (Tally extension): `POST /api/v2/stripe/webhooks/{org_…}`. No API key: the
    signature made with the organization's webhook secret is the authentication. A plain Django view, so it stays
    out of the OpenAPI schema of the API key-authenticated API. Answers 200 `{received, duplicate}`; 400 in the
    error envelope for a missing, stale or wrong `Stripe-Signature` (nothing is stored); 404 for an unknown
    organization."""
    try:
        if not organization_id.startswith("org_"):
            raise NotFound("Organization", organization_id)
        organization = organization_get(organization_id=organization_id)
        receipt = stripe_services.stripe_event_receive(
            organization=organization,
            payload=request.body,
            signature_header=request.headers.get("Stripe-Signature"),
        )
    except DomainError as error:
        return JsonResponse(error_body(error.message, code=error.code), status=error.status_code)
    return JsonResponse({"received": True, "duplicate": not receipt.created})


# --- dashboard -----------------------------------------------------------------------------------------------

# The events the webhook endpoint should receive at Stripe (others are stored and ignored).
STRIPE_EVENT_TYPES = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.canceled",
    "setup_intent.succeeded",
)


class StripeKeysForm(forms.Form):
    secret_key = forms.CharField(
        label="Secret key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "sk_live_… or rk_live_…"}),
        help_text="A secret or restricted key with write access to Customers, PaymentMethods, SetupIntents and "
        "PaymentIntents. Leave empty to keep the saved one.",
    )
    webhook_secret = forms.CharField(
        label="Webhook signing secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "whsec_…"}),
        help_text="Shown by Stripe when you add the endpoint below. Leave empty to keep the saved one.",
    )

    def clean_secret_key(self):
        key = self.cleaned_data["secret_key"]
        if key and not key.startswith(("sk_", "rk_")):
            raise forms.ValidationError("A Stripe secret key starts with sk_ (or rk_ for a restricted key).")
        return key

    def clean_webhook_secret(self):
        secret = self.cleaned_data["webhook_secret"]
        if secret and not secret.startswith("whsec_"):
            raise forms.ValidationError("A Stripe webhook signing secret starts with whsec_.")
        return secret


def _masked(key: str | None) -> str | None:
    return f"{key[:8]}…{key[-4:]}" if key else None


def _stripe_page_context(request: HttpRequest, form: StripeKeysForm | None = None) -> dict:
    organization = request.organization
    billing = selectors.billing_settings_get(organization=organization)
    charges = (
        InvoiceCharge.objects.filter(organization=organization)
        .select_related("invoice", "invoice__customer", "payment_method", "payment")
        .order_by("-created_at", "-pk")
    )
    events = StripeEvent.objects.filter(organization=organization).order_by("-received_at", "-pk")
    key = billing.stripe_secret_key or None
    return {
        "form": form or StripeKeysForm(),
        "configured": key is not None,
        "secret_key_masked": _masked(key),
        "live_mode": bool(key and "_live_" in key),
        "webhook_secret_set": bool(billing.stripe_webhook_secret),
        "webhook_url": f"{settings.PUBLIC_BASE_URL}/api/v2/stripe/webhooks/{organization.display_id}",
        "event_types": STRIPE_EVENT_TYPES,
        "charges": paginate(request, charges, per_page=10),
        "events": events[:10],
        "events_unprocessed": events.filter(processed_at__isnull=True).count(),
    }


@dashboard_view
def stripe_page_view(request: HttpRequest) -> HttpResponse:
    """Stripe: connection (keys, the webhook endpoint to add at Stripe), charge attempts, the webhook inbox."""
    return render(request, "billing/stripe_page.html", _stripe_page_context(request))


@dashboard_view
@require_POST
def stripe_keys_view(request: HttpRequest) -> HttpResponse:
    form = StripeKeysForm(request.POST)
    if "disconnect" in request.POST:
        billing_settings_update(
            organization=request.organization, stripe_secret_key=None, stripe_webhook_secret=None
        )
        messages.success(request, "Stripe disconnected: invoices are no longer charged automatically.")
        return redirect_after_write(request, reverse("billing:stripe"))
    if form.is_valid():
        changes = {
            name: value
            for name, value in (
                ("stripe_secret_key", form.cleaned_data["secret_key"]),
                ("stripe_webhook_secret", form.cleaned_data["webhook_secret"]),
            )
            if value
        }
        if not changes:
            form.add_error(None, "Enter a key or a secret to save.")
        else:
            try:
                billing_settings_update(organization=request.organization, **changes)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, "Stripe settings saved.")
                return redirect_after_write(request, reverse("billing:stripe"))
    return render(request, "billing/stripe_page.html", _stripe_page_context(request, form=form))


@dashboard_view
@require_POST
def stripe_invoice_charge_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """Charge an invoice again now (the button next to a failed attempt)."""
    invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
    try:
        charge = stripe_services.invoice_charge_now(invoice=invoice)
    except (DomainError, gateway.GatewayError) as error:
        messages.error(request, error.message)
    else:
        label = invoice.display_number or invoice.display_id
        if charge.status == InvoiceCharge.Status.SUCCEEDED:
            messages.success(request, f"{label} is paid.")
        elif charge.status in (InvoiceCharge.Status.PENDING, InvoiceCharge.Status.PROCESSING):
            messages.info(request, f"{label}: the charge is {charge.status}.")
        else:
            messages.error(request, f"{label}: {charge.failure_message or charge.status}")
    return redirect_after_write(request, reverse("billing:stripe"))


@dashboard_view
@require_POST
def stripe_sweep_view(request: HttpRequest) -> HttpResponse:
    """Run collection for this organization now (what the schedule does every 10 minutes)."""
    if not stripe_services.stripe_configured(organization=request.organization):
        messages.error(request, "Connect Stripe first.")
    else:
        counts = stripe_services.stripe_sweep_organization(organization=request.organization)
        messages.success(
            request,
            f"Collection ran: {counts['charged']} invoice(s) charged, {counts['refreshed']} attempt(s) "
            f"brought up to date, {counts['events']} event(s) processed.",
        )
    return redirect_after_write(request, reverse("billing:stripe"))


# Dashboard pages (under `billing/`, namespace `billing`).
stripe_dashboard_urlpatterns = [
    path("stripe/", stripe_page_view, name="stripe"),
    path("stripe/keys/", stripe_keys_view, name="stripe_keys"),
    path("stripe/collect/", stripe_sweep_view, name="stripe_sweep"),
    path(
        "stripe/invoices/<str:invoice_id>/charge/", stripe_invoice_charge_view, name="stripe_invoice_charge"
    ),
]

stripe_api_urlpatterns = [
    route("stripe/webhooks/{organization_id}", stripe_webhook_view),
    route("payment-methods/", PaymentMethodCollectionApi.as_view()),
    route("payment-methods/{payment_method_id}/set-default", PaymentMethodSetDefaultApi.as_view()),
    route("payment-methods/{payment_method_id}", PaymentMethodItemApi.as_view()),
    route("invoices/{invoice_id}/charges", InvoiceChargesApi.as_view()),
    route("invoices/{invoice_id}/charge", InvoiceChargeApi.as_view()),
]
