"""The hosted checkout page at `/c/<token>/` (public: the token is the key; docs/checkout.md).

GET shows the plans side by side and the buyer's form. The page's script posts the form to `start/`, confirms the
card with Stripe.js (`confirmCardSetup`) when the plan costs something, posts `complete/`, and follows the
`redirectUrl` it gets back. Without JavaScript the form posts to the page itself, which completes free plans."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from apps.billing import stripe_services
from apps.checkout import selectors, services
from apps.checkout.models import Checkout, CheckoutAttempt
from apps.common.exceptions import DomainError, NotFound
from apps.common.naming import to_camel

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "zip_code", "country")


def _checkout(token: str) -> Checkout:
    try:
        return selectors.checkout_get_by_token(token=token)
    except NotFound as exc:
        raise Http404("No such checkout") from exc


def _session_key(checkout: Checkout) -> str:
    return f"checkout:{checkout.token}"


def _closed(request: HttpRequest, checkout: Checkout, reason: str) -> HttpResponse:
    return render(
        request,
        "checkout/closed.html",
        {"checkout": checkout, "organization": checkout.organization, "reason": reason},
        status=410,
    )


def _form_values(post) -> dict[str, Any]:
    address = {key: post.get(f"address_{key}", "").strip() for key in ADDRESS_FIELDS}
    return {
        "client_key": (post.get("client_key") or "").strip()[:64] or secrets.token_urlsafe(16),
        "plan_id": post.get("plan", ""),
        "currency": post.get("currency", ""),
        "name": post.get("name", ""),
        "email": post.get("email", ""),
        "phone": post.get("phone", ""),
        "address": {key: value for key, value in address.items() if value} or None,
    }


def _previous_attempt(request: HttpRequest, checkout: Checkout) -> CheckoutAttempt | None:
    attempt_id = request.session.get(_session_key(checkout))
    if not attempt_id:
        return None
    try:
        return selectors.attempt_get(checkout=checkout, attempt_id=attempt_id)
    except NotFound:
        return None


def _page(request: HttpRequest, checkout: Checkout, *, values=None, error=None, status=200) -> HttpResponse:
    offered = selectors.checkout_offer(checkout=checkout)
    currencies = [c for c in checkout.allowed_currencies if any(c in plan.currencies for plan in offered)]
    wanted = (values or {}).get("currency") or request.GET.get("currency", "")
    # First shown: the currency most of the plans are priced in (the customer's own, when the link names one).
    preferred = checkout.customer.default_currency if checkout.customer_id else "USD"
    ranked = sorted(
        currencies, key=lambda c: (-sum(c in plan.currencies for plan in offered), c != preferred, c)
    )
    currency = wanted if wanted in currencies else (ranked[0] if ranked else "")
    plans = [plan for plan in offered if currency in plan.currencies]
    chosen = (values or {}).get("plan_id") or request.GET.get("plan", "")
    if chosen not in {plan.id for plan in plans}:
        chosen = plans[0].id if len(plans) == 1 else ""
    organization = checkout.organization
    return render(
        request,
        "checkout/page.html",
        {
            "checkout": checkout,
            "organization": organization,
            "plans": [
                {
                    "offer": plan,
                    "prices": plan.prices.get(currency, []),
                    "free": plan.is_free(currency),
                    "total": plan.fixed_amount(currency),
                }
                for plan in plans
            ],
            "several_products": len(checkout.products) > 1,
            "currency": currency,
            "currencies": currencies,
            "chosen": chosen,
            "custom_cards": checkout.custom_cards or [],
            "values": values or {},
            "address": (values or {}).get("address") or {},
            "error": error,
            "client_key": secrets.token_urlsafe(16),
            "stripe_js_url": settings.STRIPE_JS_URL,
            "publishable_key": stripe_services.stripe_publishable_key(organization=organization) or "",
        },
        status=status,
    )


@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest, token: str) -> HttpResponse:
    checkout = _checkout(token)
    previous = _previous_attempt(request, checkout)
    if previous is not None and previous.status != CheckoutAttempt.Status.FAILED and request.method == "GET":
        # A reload after paying: finish what the browser started (once), then go where the seller said.
        try:
            services.checkout_attempt_complete(attempt=previous)
            return HttpResponseRedirect(services.checkout_success_url(checkout))
        except DomainError:
            pass  # not confirmed yet, or refused: show the page as it is
    if request.method == "POST":
        return _submit_without_script(request, checkout)
    reason = services.checkout_closed_reason(checkout)
    if reason is not None:
        return _closed(request, checkout, reason)
    return _page(request, checkout)


def _submit_without_script(request: HttpRequest, checkout: Checkout) -> HttpResponse:
    values = _form_values(request.POST)
    try:
        attempt = services.checkout_attempt_start(checkout=checkout, **values)
    except services.CheckoutClosed as error:
        return _closed(request, checkout, error.reason)
    except DomainError as error:
        return _page(request, checkout, values=values, error=error, status=400)
    request.session[_session_key(checkout)] = attempt.display_id
    if attempt.status == CheckoutAttempt.Status.COMPLETED:
        return HttpResponseRedirect(services.checkout_success_url(checkout))
    error = DomainError("Paying by card needs JavaScript turned on in your browser.")
    return _page(request, checkout, values=values, error=error, status=400)


def _json_error(error: DomainError, *, status: int = 400) -> JsonResponse:
    body = {"error": error.message, "code": error.code}
    if error.field:
        body["field"] = to_camel(error.field)
    return JsonResponse(body, status=status)


def _answer(checkout: Checkout, attempt: CheckoutAttempt) -> dict[str, Any]:
    body: dict[str, Any] = {"attemptId": attempt.display_id, "status": attempt.status}
    if attempt.status == CheckoutAttempt.Status.COMPLETED:
        body["redirectUrl"] = services.checkout_success_url(checkout)
    elif attempt.status == CheckoutAttempt.Status.OPEN and attempt.client_secret:
        body["clientSecret"] = attempt.client_secret
    return body


@require_POST
def checkout_start(request: HttpRequest, token: str) -> JsonResponse:
    checkout = _checkout(token)
    values = _form_values(request.POST)
    try:
        attempt = services.checkout_attempt_start(checkout=checkout, **values)
    except services.CheckoutClosed as error:
        return _json_error(error, status=409)
    except DomainError as error:
        return _json_error(error)
    request.session[_session_key(checkout)] = attempt.display_id
    if attempt.status == CheckoutAttempt.Status.FAILED:
        return _json_error(DomainError(attempt.failure_message or "this attempt failed"), status=409)
    return JsonResponse(_answer(checkout, attempt))


@require_POST
def checkout_complete(request: HttpRequest, token: str) -> JsonResponse:
    checkout = _checkout(token)
    try:
        attempt = selectors.attempt_get(checkout=checkout, attempt_id=request.POST.get("attempt", ""))
        attempt = services.checkout_attempt_complete(attempt=attempt)
    except NotFound as error:
        return _json_error(error, status=404)
    except services.CheckoutClosed as error:
        return _json_error(error, status=409)
    except DomainError as error:
        return _json_error(error)
    return JsonResponse(_answer(checkout, attempt))
