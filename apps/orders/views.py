"""Dashboard pages for orders: list, detail (lines, seats and their assignment), create, activate, delete."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.describe import benefit_words, pricing_words
from apps.catalog.selectors import credit_currency_list, product_list
from apps.common.exceptions import DomainError, NotFound
from apps.common.views import (
    dashboard_view,
    paginate,
    redirect_after_write,
    vary_on_htmx,
    wants_partial,
)
from apps.customers.selectors import customer_get, customer_list, customer_user_list
from apps.orders.forms import OrderCreateForm, OrderFilterForm, SeatAssignForm
from apps.orders.selectors import (
    order_amount,
    order_get,
    order_line_attribute_amount,
    order_line_list,
    order_list,
    order_seat_get,
    order_seat_list,
)
from apps.orders.services import (
    order_activate,
    order_create,
    order_delete,
    order_pause,
    order_resume,
    order_seat_assign,
)

# --- list ----------------------------------------------------------------------------------------------------


@dashboard_view
def order_list_view(request: HttpRequest) -> HttpResponse:
    """All orders, newest first, filtered by status and a customer search. `?customer=<id>&partial=card` is the
    small read-only card the customer page loads with htmx."""
    search = OrderFilterForm(request.GET)
    filters = search.cleaned_data if search.is_valid() else {}
    orders = order_list(
        organization=request.organization,
        customer_id=filters.get("customer") or None,
        status=filters.get("status") or None,
    )
    if filters.get("q"):
        # Composed from the two selectors until order_list takes a customer search itself.
        matching = customer_list(organization=request.organization, search=filters["q"])
        orders = orders.filter(customer__in=matching.values("pk"))
    if request.GET.get("partial") == "card" and filters.get("customer"):
        return vary_on_htmx(
            render(
                request,
                "orders/_customer_card.html",
                {"orders": list(orders[:10]), "total": orders.count(), "customer_id": filters["customer"]},
            )
        )
    page = paginate(request, orders)
    rows = [{"order": order, "amount": order_amount(order=order)} for order in page.object_list]
    context = {
        "search": search,
        "page": page,
        "rows": rows,
        "filtered": any(filters.values()),
    }
    template = "orders/_table.html" if wants_partial(request) else "orders/list.html"
    return vary_on_htmx(render(request, template, context))


# --- create --------------------------------------------------------------------------------------------------


@dashboard_view
@require_http_methods(["GET", "POST"])
def order_create_view(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    customers = list(customer_list(organization=organization).order_by("name", "pk"))
    products = list(
        product_list(organization=organization, active=True, archived=False).order_by("name", "pk")
    )
    initial = {}
    if customer_id := request.GET.get("customer"):
        customer = next((c for c in customers if c.display_id == customer_id), None)
        if customer is not None:
            initial = {"customer": customer.display_id, "currency": customer.default_currency}
    form = OrderCreateForm(request.POST or None, customers=customers, products=products, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            order = order_create(organization=organization, **form.service_fields())
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            verb = "created and activated" if order.creation_state == "active" else "created as a draft"
            messages.success(request, f"Order #{order.number} {verb}.")
            return redirect_after_write(request, reverse("orders:detail", args=[order.display_id]))
    template = "orders/_form.html" if wants_partial(request) else "orders/form.html"
    return render(request, template, {"form": form, "has_products": bool(products)})


# --- detail --------------------------------------------------------------------------------------------------


@dashboard_view
def order_detail_view(request: HttpRequest, order_id: str) -> HttpResponse:
    order = order_get(organization=request.organization, order_id=order_id)
    return render(request, "orders/detail.html", _detail_context(request, order))


@dashboard_view
@require_POST
def order_activate_view(request: HttpRequest, order_id: str) -> HttpResponse:
    order = order_get(organization=request.organization, order_id=order_id)
    try:
        order_activate(order=order)
    except DomainError as exc:
        messages.error(request, f"The order can't be activated: {exc.message}.")
    else:
        messages.success(request, f"Order #{order.number} is active.")
    return redirect_after_write(request, reverse("orders:detail", args=[order.display_id]))


@dashboard_view
@require_POST
def order_pause_view(request: HttpRequest, order_id: str) -> HttpResponse:
    order = order_get(organization=request.organization, order_id=order_id)
    try:
        order_pause(order=order)
    except DomainError as exc:
        messages.error(request, f"The order can't be paused: {exc.message}.")
    else:
        messages.success(request, f"Order #{order.number} is paused.")
    return redirect_after_write(request, reverse("orders:detail", args=[order.display_id]))


@dashboard_view
@require_POST
def order_resume_view(request: HttpRequest, order_id: str) -> HttpResponse:
    order = order_get(organization=request.organization, order_id=order_id)
    order_resume(order=order)
    messages.success(request, f"Order #{order.number} is active again.")
    return redirect_after_write(request, reverse("orders:detail", args=[order.display_id]))


@dashboard_view
@require_http_methods(["GET", "POST"])
def order_delete_view(request: HttpRequest, order_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes. Only drafts can be deleted."""
    order = order_get(organization=request.organization, order_id=order_id)
    detail_url = reverse("orders:detail", args=[order.display_id])
    if order.creation_state != order.CreationState.DRAFT:
        messages.error(request, "Only draft orders can be deleted; this one is active.")
        return redirect_after_write(request, detail_url)
    if request.method == "POST":
        try:
            order_delete(order=order)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect_after_write(request, detail_url)
        messages.success(request, f"Draft order #{order.number} deleted.")
        return redirect_after_write(request, reverse("orders:list"))
    return render(request, "orders/confirm_delete.html", {"order": order})


# --- seats ---------------------------------------------------------------------------------------------------


@dashboard_view
@require_POST
def order_seat_assign_view(request: HttpRequest, order_id: str, seat_id: str) -> HttpResponse:
    """Assign one seat (or clear it). A refusal (seat taken, user already seated, unknown user) is shown on the
    seat's row; the response is the seats card for htmx, else the page."""
    order = order_get(organization=request.organization, order_id=order_id)
    seat = order_seat_get(order=order, seat_id=seat_id)
    users = list(customer_user_list(customer=order.customer))
    form = SeatAssignForm(request.POST, users=users)
    seat_error = None
    if form.is_valid():
        try:
            order_seat_assign(order=order, seat_id=str(seat.pk), user_external_id=form.user_external_id())
        except DomainError as exc:  # includes an unknown user (ReferenceNotFound): the seat itself exists
            seat_error = exc.message
        else:
            if not wants_partial(request):
                messages.success(request, "Seat saved.")
                return redirect_after_write(request, reverse("orders:detail", args=[order.display_id]))
    else:
        seat_error = "; ".join(form.errors.get("user", [])) or "Choose a user of this customer."
    context = _detail_context(request, order, seat_errors={seat.pk: seat_error} if seat_error else {})
    if seat_error is None:
        context["seat_saved"] = seat.pk
    template = "orders/_seats.html" if wants_partial(request) else "orders/detail.html"
    return render(request, template, context)


# --- shared --------------------------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, order, *, seat_errors: dict | None = None) -> dict:
    currencies = {c.display_id: c for c in credit_currency_list(organization=request.organization)}
    lines = [
        {
            "line": line,
            "attributes": [_attribute_display(a, order, currencies) for a in line.attributes.all()],
        }
        for line in order_line_list(order=order).prefetch_related("attributes")
    ]
    seats = list(order_seat_list(order=order))
    users = list(customer_user_list(customer=order.customer)) if seats else []
    seat_errors = seat_errors or {}
    return {
        "order": order,
        "status": order.status,
        "amount": order_amount(order=order),
        "lines": lines,
        "seat_rows": [{"seat": seat, "error": seat_errors.get(seat.pk)} for seat in seats],
        "seat_count": len(seats),
        "assigned_count": sum(1 for seat in seats if seat.assignee_id is not None),
        "users": users,
        "customer_live": _customer_live(request, order),
    }


def _customer_live(request: HttpRequest, order) -> bool:
    try:
        customer_get(organization=request.organization, customer_id=order.customer.display_id)
    except NotFound:
        return False
    return True


# --- pricing shown to people ---------------------------------------------------------------------------------


def _attribute_display(attribute, order, currencies: dict) -> dict:
    """One priced attribute of a line in plain words, priced in the order's currency."""
    words = pricing_words(attribute.pricing or {})
    point = next((p for p in words["prices"] if p["currency"] == order.currency), None)
    try:
        amount = order_line_attribute_amount(attribute=attribute, currency=order.currency)
    except DomainError:
        amount = None
    return {
        **words,
        "attribute": attribute,
        "point": point,
        "tiers": point["tiers"] if point else [],
        "other_currencies": sorted(p["currency"] for p in words["prices"] if p is not point),
        "credits_currency": attribute.credits_currency,
        "amount": amount,
        "benefits": [_benefit_words(benefit, currencies) for benefit in attribute.credit_benefits or []],
    }


def _benefit_words(benefit: dict, currencies: dict) -> str:
    currency = currencies.get(benefit.get("credits_currency"))
    return benefit_words(
        amount=benefit.get("amount"),
        currency_name=currency.name if currency is not None else benefit.get("credits_currency") or "credits",
        allocation_cadence=benefit.get("allocation_cadence"),
        recipient=benefit.get("recipient"),
        credit_grant_timing=benefit.get("credit_grant_timing"),
        rollover_amount=benefit.get("rollover_amount"),
        rollover_duration=benefit.get("rollover_duration"),
        rollover_duration_unit=benefit.get("rollover_duration_unit"),
        is_infinite_total=bool(benefit.get("is_infinite_total")),
    )
