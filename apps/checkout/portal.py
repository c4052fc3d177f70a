"""The customer portal (§3.13, docs/portal.md): `POST customer-portals/` makes a short-lived link; whoever holds it
sees that customer's plan, credit balances, invoices (with PDF links) and saved cards, and can add a card, make one
the default or remove one. No dashboard login: the link's token is the key, until `expires_at`.

`portal_urlpatterns` (pages, mounted at the site root: `/portal/<token>/`) and `portal_api_urlpatterns` (/api/v2)
are included by apps/checkout/urls.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.billing import stripe_services
from apps.billing.selectors import billing_settings_get, invoice_list, invoice_payment_status
from apps.checkout.models import CustomerPortal
from apps.common.api import ApiSerializer, route, validated
from apps.common.exceptions import DomainError, NotFound
from apps.credits.selectors import credit_balance_list
from apps.customers.selectors import customer_get, customer_get_by_external_id
from apps.orders.selectors import customer_orders_state, order_amount

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer

DEFAULT_LIFETIME = timedelta(hours=1)
MAX_LIFETIME = timedelta(hours=24)
DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"
# What the customer sees of their invoices: drafts and invoices still being built stay internal.
CUSTOMER_VISIBLE_INVOICES = ("posted", "voided")
SHOWN_ORDER_STATUSES = ("active", "paused")


# --- services ------------------------------------------------------------------------------------------------


class PortalExpiryInvalid(DomainError):
    def __init__(self, message: str):
        super().__init__(message, code="VALIDATION_ERROR", field="expires_at")


def customer_portal_create(
    *,
    organization: Organization,
    customer: Customer,
    return_url: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> CustomerPortal:
    """A portal link for `customer`, valid until `expires_at` (default: one hour from now; at most 24 hours;
    a time not in the future is refused)."""
    now = now or timezone.now()
    if expires_at is None:
        expires_at = now + DEFAULT_LIFETIME
    elif expires_at <= now:
        raise PortalExpiryInvalid("must be in the future")
    elif expires_at > now + MAX_LIFETIME:
        raise PortalExpiryInvalid("must be at most 24 hours from now")
    with transaction.atomic():
        return CustomerPortal.objects.create(
            organization=organization, customer=customer, return_url=return_url or None, expires_at=expires_at
        )


def customer_portal_status(portal: CustomerPortal, *, now: datetime | None = None) -> str:
    return "active" if portal.expires_at > (now or timezone.now()) else "expired"


def customer_portal_find(*, token: str) -> CustomerPortal | None:
    """The portal a link names (the token alone is the key), whatever its expiry; None for an unknown token or a
    customer deleted since."""
    portal = CustomerPortal.objects.select_related("organization", "customer").filter(token=token).first()
    if portal is None or portal.customer.deleted_at is not None:
        return None
    return portal


@dataclass(frozen=True)
class PortalPlan:
    order: Any
    status: str
    amount: int


def portal_plans(*, customer: Customer, now: datetime | None = None) -> list[PortalPlan]:
    """The customer's active and paused orders, with one billing period's fixed fees (minor units)."""
    now = now or timezone.now()
    plans = []
    for order in customer_orders_state(customer=customer).orders:
        status = order.status_at(now)
        if status in SHOWN_ORDER_STATUSES:
            plans.append(PortalPlan(order=order, status=status, amount=order_amount(order=order)))
    return plans


def portal_invoices(*, portal: CustomerPortal, now: datetime | None = None) -> list[dict[str, Any]]:
    """The customer's posted and voided invoices, newest first, with their payment status and public PDF link."""
    now = now or timezone.now()
    invoices = invoice_list(organization=portal.organization, customer_id=portal.customer.display_id).filter(
        status__in=CUSTOMER_VISIBLE_INVOICES
    )
    return [
        {
            "invoice": invoice,
            "payment_status": invoice_payment_status(invoice, now=now),
            "pdf_url": reverse(
                "billing_public:invoice_public_pdf",
                kwargs={"organization_id": portal.organization.display_id, "token": invoice.public_url_token},
            )
            if invoice.snapshot
            else None,
        }
        for invoice in invoices[:100]
    ]


# --- API -----------------------------------------------------------------------------------------------------


class CustomerPortalCreateIn(ApiSerializer):
    customer_id = serializers.CharField(required=False, allow_null=True, help_text="A customer display id.")
    external_customer_id = serializers.CharField(required=False, allow_null=True)
    return_url = serializers.URLField(
        required=False, allow_null=True, max_length=2000, help_text="Where the portal's return link goes."
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default one hour from now; at most 24 hours from now."
    )

    def validate(self, attrs):
        if not attrs.get("customer_id") and not attrs.get("external_customer_id"):
            raise serializers.ValidationError("customerId or externalCustomerId is required.")
        return attrs


class CustomerPortalOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    customer_id = serializers.CharField(source="customer.display_id")
    url = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    return_url = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_url(self, portal: CustomerPortal) -> str:
        return self.context["request"].build_absolute_uri(portal_path(portal))

    def get_status(self, portal: CustomerPortal) -> str:
        return customer_portal_status(portal)


def portal_path(portal: CustomerPortal) -> str:
    return reverse("checkout:portal", kwargs={"token": portal.token})


class CustomerPortalCollectionApi(APIView):
    @extend_schema(
        tags=["Customer portals"],
        operation_id="create_customer_portal",
        request=CustomerPortalCreateIn,
        responses={201: CustomerPortalOut},
        description="A short-lived link to the customer portal (plan, credit balances, invoices with PDF links, "
        "payment methods). `expiresAt` defaults to one hour from now and may be at most 24 hours away.",
    )
    def post(self, request):
        data = validated(CustomerPortalCreateIn, request.data)
        if data.get("customer_id"):
            customer = customer_get(organization=request.organization, customer_id=data["customer_id"])
        else:
            customer = customer_get_by_external_id(
                organization=request.organization, external_id=data["external_customer_id"]
            )
        portal = customer_portal_create(
            organization=request.organization,
            customer=customer,
            return_url=data.get("return_url"),
            expires_at=data.get("expires_at"),
        )
        return Response(CustomerPortalOut(portal, context={"request": request}).data, status=201)


# --- pages ---------------------------------------------------------------------------------------------------


def _portal(token: str) -> CustomerPortal:
    portal = customer_portal_find(token=token)
    if portal is None:
        raise Http404("No such portal link.")
    return portal


def _expired(request: HttpRequest, portal: CustomerPortal) -> HttpResponse:
    context = {"portal": portal, "organization": portal.organization}
    return render(request, "checkout/portal_expired.html", context, status=410)


def _stripe_context(portal: CustomerPortal) -> dict[str, Any]:
    configured = stripe_services.stripe_configured(organization=portal.organization)
    publishable_key = billing_settings_get(organization=portal.organization).stripe_publishable_key or ""
    return {
        "stripe_configured": configured,
        "stripe_publishable_key": publishable_key if configured else "",
        "stripe_js_url": getattr(settings, "STRIPE_JS_URL", None) or DEFAULT_STRIPE_JS_URL,
    }


@require_GET
def portal_view(request: HttpRequest, token: str) -> HttpResponse:
    portal = _portal(token)
    now = timezone.now()
    if customer_portal_status(portal, now=now) == "expired":
        return _expired(request, portal)
    stripe = _stripe_context(portal)
    methods = (
        list(stripe_services.payment_method_list(organization=portal.organization, customer=portal.customer))
        if stripe["stripe_configured"]
        else []
    )
    context = {
        "portal": portal,
        "organization": portal.organization,
        "customer": portal.customer,
        "plans": portal_plans(customer=portal.customer, now=now),
        "balances": credit_balance_list(customer=portal.customer, now=now),
        "invoices": portal_invoices(portal=portal, now=now),
        "payment_methods": methods,
        "setup_client_secret": request.session.pop(_session_key(portal), None),
        **stripe,
    }
    response = render(request, "checkout/portal.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"  # the token is in the URL: never sent to other sites
    return response


def _session_key(portal: CustomerPortal) -> str:
    return f"portal-setup-{portal.display_id}"


def _payment_method(portal: CustomerPortal, payment_method_id: str):
    """A saved card of the portal's customer; any other id (another customer's too) is a 404."""
    try:
        method = stripe_services.payment_method_get(
            organization=portal.organization, payment_method_id=payment_method_id
        )
    except NotFound:
        raise Http404("No such payment method.") from None
    if method.customer_id != portal.customer_id:
        raise Http404("No such payment method.")
    return method


def _card_label(method) -> str:
    if method.card_last4:
        return f"{(method.card_brand or 'card').title()} ending in {method.card_last4}"
    return "The payment method"


def _card_action(request: HttpRequest, token: str, payment_method_id: str, action, done: str, failed: str):
    portal = _portal(token)
    if customer_portal_status(portal) == "expired":
        return _expired(request, portal)
    method = _payment_method(portal, payment_method_id)
    try:
        action(organization=portal.organization, payment_method=method)
    except DomainError as error:
        messages.error(request, f"{failed}: {error.message}")
    else:
        messages.success(request, f"{_card_label(method)} {done}")
    return redirect(portal_path(portal))


@require_POST
def portal_payment_method_default_view(
    request: HttpRequest, token: str, payment_method_id: str
) -> HttpResponse:
    return _card_action(
        request,
        token,
        payment_method_id,
        stripe_services.payment_method_set_default,
        "is now your default payment method.",
        "Could not change the default card",
    )


@require_POST
def portal_payment_method_remove_view(
    request: HttpRequest, token: str, payment_method_id: str
) -> HttpResponse:
    return _card_action(
        request,
        token,
        payment_method_id,
        stripe_services.payment_method_delete,
        "was removed.",
        "Could not remove the card",
    )


@require_POST
def portal_payment_method_add_view(request: HttpRequest, token: str) -> HttpResponse:
    """The card form posts the PaymentMethod id Stripe.js made (`pm_…`); Tally saves it through a SetupIntent. A
    card that needs 3-D Secure comes back to the page with the SetupIntent's client secret, which Stripe.js
    confirms; the card is then saved when Stripe reports success (webhook)."""
    portal = _portal(token)
    if customer_portal_status(portal) == "expired":
        return _expired(request, portal)
    token_value = (request.POST.get("payment_method") or "").strip()
    if not token_value.startswith("pm_"):
        messages.error(request, "The card details could not be read. Please try again.")
        return redirect(portal_path(portal))
    try:
        result = stripe_services.payment_method_create(
            organization=portal.organization,
            customer=portal.customer,
            token=token_value,
            return_url=request.build_absolute_uri(portal_path(portal)),
        )
    except DomainError as error:
        messages.error(request, f"The card was not saved: {error.message}")
        return redirect(portal_path(portal))
    if result.payment_method is not None:
        messages.success(request, f"{_card_label(result.payment_method)} was saved.")
    elif result.setup.status == "requires_action" and result.setup.client_secret:
        request.session[_session_key(portal)] = result.setup.client_secret
        messages.info(request, "Your bank asks you to confirm this card.")
    else:
        messages.info(request, "The card is being confirmed; it appears here once your bank accepts it.")
    return redirect(portal_path(portal))


# --- routes --------------------------------------------------------------------------------------------------

portal_urlpatterns = [
    path("portal/<str:token>/", portal_view, name="portal"),
    path("portal/<str:token>/payment-methods/", portal_payment_method_add_view, name="portal_card_add"),
    path(
        "portal/<str:token>/payment-methods/<str:payment_method_id>/default/",
        portal_payment_method_default_view,
        name="portal_card_default",
    ),
    path(
        "portal/<str:token>/payment-methods/<str:payment_method_id>/remove/",
        portal_payment_method_remove_view,
        name="portal_card_remove",
    ),
]

portal_api_urlpatterns = [
    route("customer-portals/", CustomerPortalCollectionApi.as_view()),
]
