"""Dashboard pages for the organization's API keys and settings."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import ApiKeyCreateForm, OrganizationSettingsForm
from apps.accounts.selectors import api_key_get, api_key_list
from apps.accounts.services import api_key_create, api_key_revoke, organization_settings_update
from apps.common.views import dashboard_view, redirect_after_write, wants_partial


@dashboard_view
@require_http_methods(["GET", "POST"])
def api_key_list_view(request: HttpRequest) -> HttpResponse:
    """GET lists the keys; POST mints one and shows its plaintext in this response only (it is never stored)."""
    form = ApiKeyCreateForm(request.POST or None)
    new_key = raw_key = None
    if request.method == "POST" and form.is_valid():
        new_key, raw_key = api_key_create(
            organization=request.organization, name=form.cleaned_data["name"], created_by=request.user
        )
        form = ApiKeyCreateForm()
    context = {
        "form": form,
        "api_keys": api_key_list(organization=request.organization).select_related("created_by"),
        "new_key": new_key,
        "raw_key": raw_key,
    }
    template = "accounts/_api_keys_panel.html" if wants_partial(request) else "accounts/api_keys.html"
    response = render(request, template, context)
    if raw_key:
        add_never_cache_headers(response)  # the secret must not linger in a cache or the back button
    return response


@dashboard_view
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    """GET asks for confirmation; POST revokes (the key stops authenticating on its next request)."""
    if request.method == "POST":
        api_key = api_key_revoke(organization=request.organization, key_id=key_id)
        messages.success(request, f"API key “{api_key.name}” revoked.")
        return redirect_after_write(request, reverse("accounts:api_keys"))
    api_key = api_key_get(organization=request.organization, key_id=key_id)
    return render(request, "accounts/api_key_revoke.html", {"api_key": api_key})


@dashboard_view
@require_http_methods(["GET", "POST"])
def organization_settings_view(request: HttpRequest) -> HttpResponse:
    """The organization's settings; POST saves them (an htmx post gets a redirect to this page)."""
    organization = request.organization
    # Not `request.POST or None`: an unchecked box is not sent, so turning the setting off posts nothing.
    form = OrganizationSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={"auto_create_customers": organization.auto_create_customers},
    )
    if request.method == "POST" and form.is_valid():
        organization_settings_update(
            organization=organization, auto_create_customers=form.cleaned_data["auto_create_customers"]
        )
        messages.success(request, "Settings saved.")
        return redirect_after_write(request, reverse("accounts:settings"))
    template = "accounts/_settings_form.html" if wants_partial(request) else "accounts/settings.html"
    return render(request, template, {"form": form})
