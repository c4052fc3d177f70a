"""Dashboard pages for outbound webhooks: the settings page (the 11 webhooks, each with its switch, URL and a
test button; the signing secret and its rotation) and the delivery log with each delivery's attempts."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.common.exceptions import DomainError, NotFound
from apps.common.views import (
    add_domain_error,
    dashboard_view,
    paginate,
    redirect_after_write,
    vary_on_htmx,
    wants_partial,
)
from apps.webhooks.forms import DeliveryFilterForm, EndpointForm
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.selectors import (
    webhook_delivery_get,
    webhook_delivery_list,
    webhook_description,
    webhook_endpoint_get,
    webhook_endpoint_list,
    webhook_secret_status,
)
from apps.webhooks.services import (
    MAX_ATTEMPTS,
    payload_body,
    webhook_endpoint_update,
    webhook_endpoints_ensure,
    webhook_secret_rotate,
    webhook_test_send,
)

# --- settings --------------------------------------------------------------------------------------------


def _endpoint_context(endpoint: WebhookEndpoint, form: EndpointForm | None = None, **extra) -> dict:
    if form is None:
        form = EndpointForm(
            name=endpoint.name, initial={"enabled": endpoint.enabled, "url": endpoint.url or ""}
        )
    return {
        "endpoint": endpoint,
        "description": webhook_description(endpoint.name),
        "form": form,
        **extra,
    }


def _settings_context(request: HttpRequest, **extra) -> dict:
    webhook_endpoints_ensure(organization=request.organization)
    endpoints = webhook_endpoint_list(organization=request.organization)
    return {
        "endpoints": [_endpoint_context(endpoint) for endpoint in endpoints],
        "secret": webhook_secret_status(organization=request.organization),
        "enabled_count": sum(endpoint.enabled for endpoint in endpoints),
        **extra,
    }


@dashboard_view
def webhook_settings_view(request: HttpRequest) -> HttpResponse:
    """The 11 webhooks with their switches and URLs, the signing secret, and a link to the delivery log."""
    return render(request, "webhooks/settings.html", _settings_context(request))


def _endpoint(request: HttpRequest, name: str) -> WebhookEndpoint:
    """The `name` endpoint (an unknown name is a 404), its row created if it was never listed."""
    endpoint = webhook_endpoint_get(organization=request.organization, name=name)
    if endpoint is None:
        webhook_endpoints_ensure(organization=request.organization)
        endpoint = webhook_endpoint_get(organization=request.organization, name=name)
    if endpoint is None:
        raise NotFound("Webhook", name)
    return endpoint


@dashboard_view
@require_POST
def webhook_endpoint_view(request: HttpRequest, name: str) -> HttpResponse:
    """Save one webhook's switch and URL; the first URL saved shows the new signing secret, once."""
    endpoint = _endpoint(request, name)
    form = EndpointForm(request.POST, name=name)
    minted = None
    saved = False
    if form.is_valid():
        try:
            result = webhook_endpoint_update(
                organization=request.organization, name=name, changes=form.changes()
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            endpoint, minted, saved = result.endpoint, result.signing_secret, True
            form = None  # show what was saved
    if not wants_partial(request):
        if saved:
            messages.success(request, f"Webhook {name} saved.")
            if minted:
                # Without htmx the secret can only travel in the notice: it is shown this once.
                messages.info(request, f"Your signing secret (shown only now): {minted}")
            return redirect_after_write(request, reverse("webhooks:settings"))
        context = _settings_context(request)
        context["endpoints"] = [
            _endpoint_context(row["endpoint"], form) if row["endpoint"].name == name else row
            for row in context["endpoints"]
        ]
        return render(request, "webhooks/settings.html", context)
    context = _endpoint_context(endpoint, form, minted_secret=minted, saved=saved)
    response = render(request, "webhooks/_endpoint.html", context)
    if minted:
        # The secret card elsewhere on the page now has a secret to describe.
        response.write(
            render(
                request,
                "webhooks/_secret.html",
                {"secret": webhook_secret_status(organization=request.organization), "oob": True},
            ).content
        )
    return response


@dashboard_view
@require_POST
def webhook_test_view(request: HttpRequest, name: str) -> HttpResponse:
    """Send a test delivery to the saved URL now and show what came back."""
    endpoint = _endpoint(request, name)
    error, delivery, attempt = None, None, None
    try:
        delivery = webhook_test_send(organization=request.organization, name=name)
    except DomainError as exc:
        error = exc.message
    else:
        attempt = delivery.attempts.order_by("-number").first()
        endpoint.refresh_from_db()
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        elif delivery.status == WebhookDelivery.Status.SUCCESS:
            messages.success(request, f"Test delivered: {endpoint.url} answered {attempt.response_code}.")
        else:
            detail = f"answered {attempt.response_code}" if attempt.response_code else attempt.error
            messages.error(request, f"Test failed: {endpoint.url} {detail}")
        return redirect_after_write(request, reverse("webhooks:settings"))
    return render(
        request,
        "webhooks/_test_result.html",
        {"endpoint": endpoint, "error": error, "delivery": delivery, "attempt": attempt},
    )


@dashboard_view
@require_POST
def webhook_rotate_secret_view(request: HttpRequest) -> HttpResponse:
    """Mint a new signing secret and show it once (the previous one keeps signing for 24 hours)."""
    new_secret = webhook_secret_rotate(organization=request.organization)
    secret = webhook_secret_status(organization=request.organization)
    if wants_partial(request):
        return render(request, "webhooks/_secret.html", {"secret": secret, "new_secret": new_secret})
    # Not a redirect: the secret is on this response only.
    return render(request, "webhooks/settings.html", _settings_context(request, new_secret=new_secret))


# --- deliveries ------------------------------------------------------------------------------------------


@dashboard_view
def webhook_delivery_list_view(request: HttpRequest) -> HttpResponse:
    """Every delivery, newest first, filtered by webhook and status."""
    filters = DeliveryFilterForm(request.GET)
    deliveries = webhook_delivery_list(organization=request.organization, **filters.selector_filters())
    page = paginate(request, deliveries)
    context = {
        "filters": filters,
        "page": page,
        "deliveries": page.object_list,
        "max_attempts": MAX_ATTEMPTS,
        "filtered": any(filters.selector_filters().values()),
    }
    template = "webhooks/_deliveries.html" if wants_partial(request) else "webhooks/deliveries.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
def webhook_delivery_detail_view(request: HttpRequest, message_id: str) -> HttpResponse:
    """One delivery: its event and payload, and every attempt with what the receiver answered."""
    delivery = webhook_delivery_get(organization=request.organization, message_id=message_id)
    return render(
        request,
        "webhooks/delivery.html",
        {
            "delivery": delivery,
            "attempts": delivery.attempts.order_by("number"),
            "max_attempts": 1 if delivery.event.is_test else MAX_ATTEMPTS,
            # The body as sent (the same bytes on every attempt), indented for reading.
            "payload_json": json.dumps(
                json.loads(payload_body(delivery.event)), indent=2, ensure_ascii=False
            ),
        },
    )
