"""Dashboard pages for billing: invoices (list, detail with post / void / reissue, PDF), payments, settings."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.billing import selectors, services
from apps.billing.forms import BillingSettingsForm, InvoiceFilterForm
from apps.billing.models import Invoice
from apps.billing.pdf import render_invoice_pdf
from apps.common.exceptions import DomainError
from apps.common.views import (
    add_domain_error,
    dashboard_view,
    paginate,
    redirect_after_write,
    vary_on_htmx,
    wants_partial,
)

# --- invoices ------------------------------------------------------------------------------------------------


@dashboard_view
def invoice_list_view(request: HttpRequest) -> HttpResponse:
    """Invoices newest first, filtered by status, payment status, customer or order (ids from links)."""
    search = InvoiceFilterForm(request.GET)
    filters = search.cleaned_data if search.is_valid() else {}
    invoices = selectors.invoice_list(
        organization=request.organization,
        status=filters.get("status") or None,
        payment_status=filters.get("payment_status") or None,
        customer_id=filters.get("customer") or None,
        order_id=filters.get("order") or None,
    )
    page = paginate(request, invoices)
    now = timezone.now()
    rows = [
        {"invoice": invoice, "payment_status": selectors.invoice_payment_status(invoice, now=now)}
        for invoice in page.object_list
    ]
    context = {"search": search, "page": page, "rows": rows, "filtered": any(filters.values())}
    template = "billing/_invoice_table.html" if wants_partial(request) else "billing/invoice_list.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
def invoice_detail_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
    lines = list(selectors.invoice_line_list(invoice=invoice))
    allocations = selectors.payment_allocation_list(
        organization=request.organization, invoice_id=invoice.display_id
    )
    context = {
        "invoice": invoice,
        "lines": lines,
        "allocations": list(allocations),
        "payment_status": selectors.invoice_payment_status(invoice),
        "reissues": list(invoice.reissues.order_by("created_at")),
        "public_pdf_url": settings.PUBLIC_BASE_URL
        + reverse(
            "billing_public:invoice_public_pdf",
            args=[request.organization.display_id, invoice.public_url_token],
        ),
    }
    return render(request, "billing/invoice_detail.html", context)


def _invoice_action(request: HttpRequest, invoice_id: str, action, done: str, failed: str) -> HttpResponse:
    invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
    try:
        result = action(invoice=invoice)
    except DomainError as exc:
        messages.error(request, f"{failed}: {exc.message}.")
        result = invoice
    else:
        messages.success(request, done.format(invoice=result))
    return redirect_after_write(request, reverse("billing:invoice", args=[result.display_id]))


@dashboard_view
@require_POST
def invoice_post_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    return _invoice_action(
        request,
        invoice_id,
        services.invoice_post,
        "Invoice {invoice.display_number} is posted.",
        "Not posted",
    )


@dashboard_view
@require_POST
def invoice_void_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    return _invoice_action(request, invoice_id, services.invoice_void, "The invoice is voided.", "Not voided")


@dashboard_view
@require_POST
def invoice_reissue_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    return _invoice_action(
        request,
        invoice_id,
        services.invoice_reissue,
        "A new draft replaces the voided invoice.",
        "Not reissued",
    )


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    """The PDF of a posted (or voided) invoice, rendered from its frozen snapshot (dashboard, API and public
    link alike). Callers refuse drafts, which have no snapshot."""
    response = HttpResponse(render_invoice_pdf(invoice.snapshot), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice.display_number or invoice.display_id}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@dashboard_view
def invoice_pdf_view(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = selectors.invoice_get(organization=request.organization, invoice_id=invoice_id)
    if not invoice.snapshot:
        raise Http404("Drafts have no PDF: post the invoice first.")
    return invoice_pdf_response(invoice)


@require_GET
def invoice_public_pdf_view(request: HttpRequest, organization_id: str, token: str) -> HttpResponse:
    """The public link a customer is sent (`/invoices/<organization id>/<publicUrlToken>.pdf`): no login; the
    unguessable token is the key. Unknown, draft and mismatched links are all the same 404."""
    invoice = selectors.invoice_find_public(organization_id=organization_id, token=token)
    if invoice is None or not invoice.snapshot:
        raise Http404("No such invoice.")
    return invoice_pdf_response(invoice)


# --- payments ------------------------------------------------------------------------------------------------


@dashboard_view
def payment_list_view(request: HttpRequest) -> HttpResponse:
    page = paginate(request, selectors.payment_list(organization=request.organization))
    template = "billing/_payment_table.html" if wants_partial(request) else "billing/payment_list.html"
    return vary_on_htmx(render(request, template, {"page": page}))


# --- settings ------------------------------------------------------------------------------------------------


@dashboard_view
@require_http_methods(["GET", "POST"])
def billing_settings_view(request: HttpRequest) -> HttpResponse:
    current = selectors.billing_settings_get(organization=request.organization)
    form = BillingSettingsForm(request.POST or None, initial=BillingSettingsForm.initial_for(current))
    if request.method == "POST" and form.is_valid():
        try:
            services.billing_settings_update(organization=request.organization, **form.service_fields())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Billing settings saved.")
            return redirect_after_write(request, reverse("billing:settings"))
    template = "billing/_settings_form.html" if wants_partial(request) else "billing/settings.html"
    return render(request, template, {"form": form})
