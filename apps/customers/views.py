"""Dashboard pages for customers and their contacts."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.common.exceptions import DomainError, NotFound
from apps.common.views import (
    add_domain_error,
    dashboard_view,
    paginate,
    pretty_json,
    redirect_after_write,
    vary_on_htmx,
    wants_partial,
)
from apps.customers.forms import ContactForm, CustomerCreateForm, CustomerForm, CustomerSearchForm
from apps.customers.selectors import (
    contact_get,
    contact_list,
    customer_alias_list,
    customer_get,
    customer_list,
    customer_user_list,
)
from apps.customers.services import (
    contact_create,
    contact_delete,
    customer_create,
    customer_delete,
    customer_update,
)


@dashboard_view
def customer_list_view(request: HttpRequest) -> HttpResponse:
    search = CustomerSearchForm(request.GET)
    filters = search.cleaned_data if search.is_valid() else {}
    customers = customer_list(
        organization=request.organization,
        search=filters.get("q") or None,
        status=filters.get("status") or None,
    )
    context = {"search": search, "page": paginate(request, customers), "filtered": any(filters.values())}
    template = "customers/_table.html" if wants_partial(request) else "customers/list.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
@require_http_methods(["GET", "POST"])
def customer_create_view(request: HttpRequest) -> HttpResponse:
    form = CustomerCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = customer_create(organization=request.organization, **form.service_fields())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Customer “{customer.name}” created.")
            return redirect_after_write(request, reverse("customers:detail", args=[customer.display_id]))
    return _form_response(request, form, customer=None)


@dashboard_view
def customer_detail_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    return render(
        request, "customers/detail.html", _detail_context(request, customer, contact_form=ContactForm())
    )


@dashboard_view
@require_http_methods(["GET", "POST"])
def customer_edit_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    form = CustomerForm(request.POST or None, initial=CustomerForm.initial_for(customer))
    if request.method == "POST" and form.is_valid():
        try:
            customer_update(customer=customer, **form.service_fields())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Customer saved.")
            return redirect_after_write(request, reverse("customers:detail", args=[customer.display_id]))
    return _form_response(request, form, customer=customer)


@dashboard_view
@require_http_methods(["GET", "POST"])
def customer_delete_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes (soft: invoices and usage keep their reference)."""
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    if request.method == "POST":
        customer_delete(customer=customer)
        messages.success(request, f"Customer “{customer.name}” deleted.")
        return redirect_after_write(request, reverse("customers:list"))
    return render(request, "customers/confirm_delete.html", {"customer": customer})


@dashboard_view
@require_POST
def contact_create_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    form = ContactForm(request.POST)
    if form.is_valid():
        try:
            contact_create(
                organization=request.organization, customer_id=customer.display_id, **form.cleaned_data
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            form = ContactForm()
            if not wants_partial(request):
                messages.success(request, "Contact added.")
                return redirect("customers:detail", customer.display_id)
    return _contacts_response(request, customer, contact_form=form)


@dashboard_view
@require_POST
def contact_delete_view(request: HttpRequest, customer_id: str, contact_id: str) -> HttpResponse:
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    contact = contact_get(organization=request.organization, contact_id=contact_id)
    if contact.customer_id != customer.pk:
        raise NotFound("Contact", contact_id)
    contact_delete(contact=contact)
    if not wants_partial(request):
        messages.success(request, "Contact removed.")
        return redirect("customers:detail", customer.display_id)
    return _contacts_response(request, customer, contact_form=ContactForm())


def _detail_context(request: HttpRequest, customer, *, contact_form: ContactForm) -> dict:
    return {
        "customer": customer,
        "metadata_json": pretty_json(customer.metadata),
        "aliases": customer_alias_list(customer=customer),
        "contacts": contact_list(organization=request.organization, customer=customer),
        "contact_form": contact_form,
        "customer_users": customer_user_list(customer=customer),
    }


def _form_response(request: HttpRequest, form: CustomerForm, *, customer) -> HttpResponse:
    """Errors come back as 200 with the form re-rendered: just the form for htmx, else the page."""
    template = "customers/_form.html" if wants_partial(request) else "customers/form.html"
    return render(request, template, {"form": form, "customer": customer})


def _contacts_response(request: HttpRequest, customer, *, contact_form: ContactForm) -> HttpResponse:
    """The contacts panel for an htmx swap, else the whole page (a form posted without JavaScript)."""
    context = _detail_context(request, customer, contact_form=contact_form)
    template = "customers/_contacts.html" if wants_partial(request) else "customers/detail.html"
    return render(request, template, context)
