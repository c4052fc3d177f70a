"""Dashboard helpers shared by every app's views: tenancy, 404s, pagination and htmx responses."""

import json
from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.common.exceptions import DomainError, NotFound

PAGE_SIZE = 25


def dashboard_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A logged-in member's view of their current organization. Another organization's id is a 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if getattr(request, "organization", None) is None:
            # A login without a membership (e.g. a bare superuser) has nothing to look at.
            raise PermissionDenied("This login is not a member of any organization.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


def paginate(request: HttpRequest, items, *, per_page: int = PAGE_SIZE) -> Page:
    """The page named by `?page=`; out-of-range or junk values fall back to the nearest valid page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def wants_partial(request: HttpRequest) -> bool:
    """An htmx swap asks for a fragment; a history restore (cache miss) needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """One URL answers with a page or a fragment; caches must keep them apart."""
    patch_vary_headers(response, ("HX-Request",))
    return response


def redirect_after_write(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful write: a full navigation for htmx (HX-Redirect), a 302 otherwise."""
    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def pretty_json(value) -> str:
    """Free-form JSON (metadata) indented for a <pre>; "" when there is none."""
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""
