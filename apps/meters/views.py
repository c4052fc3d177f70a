"""Dashboard pages for meters: the list (per product), the meter builder (create, edit) with its live preview and
field discovery, and the read-only page of a locked or archived meter."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.selectors import meterable_pricing_lines, product_attribute_get, product_list
from apps.catalog.services import pricing_meter_set
from apps.common.exceptions import DomainError, NotFound
from apps.common.views import dashboard_view, paginate, redirect_after_write, vary_on_htmx, wants_partial
from apps.meters.forms import (
    OP_LABELS,
    VALUE_HINTS,
    VALUE_TYPES,
    WINDOW_CHOICES,
    FilterRow,
    MeterForm,
    MeterListFilterForm,
    MeterRenameForm,
    describe_definition,
    describe_filter,
    initial_for,
    new_row_key,
    sentence,
)
from apps.meters.selectors import meter_definition, meter_get, meter_list, meter_preview_compute
from apps.meters.services import (
    MeterLocked,
    meter_archive,
    meter_create,
    meter_is_locked,
    meter_product,
    meter_update,
)
from apps.signals.selectors import signal_metadata

HINTS_JSON = json.dumps(VALUE_HINTS)


def _products(request: HttpRequest, *, keep=None) -> list:
    """Products a meter can be built on: live ones, plus `keep` (an edited meter's product) whatever its state."""
    products = list(product_list(organization=request.organization, archived=False).order_by("name", "pk"))
    if keep is not None and all(product.pk != keep.pk for product in products):
        products.append(keep)
    return products


def _builder_context(form: MeterForm, *, meter=None) -> dict:
    return {
        "form": form,
        "rows": form.rows,
        "meter": meter,
        "op_labels": OP_LABELS,
        "value_types": VALUE_TYPES,
        "value_hints": VALUE_HINTS,
        "hints_json": HINTS_JSON,
        "has_products": len(form.fields["product"].choices) > 1,
    }


# --- list ------------------------------------------------------------------------------------------------


@dashboard_view
def meter_list_view(request: HttpRequest) -> HttpResponse:
    """Meters grouped by product, each with what it measures in plain words and whether it is locked."""
    products = list(product_list(organization=request.organization).order_by("name", "pk"))
    filters = MeterListFilterForm(request.GET, products=products)
    meters = meter_list(organization=request.organization, **filters.selector_filters())
    page = paginate(request, meters.order_by("product__name", "product_id", "-created_at", "-pk"))
    rows = [
        {
            "meter": meter,
            "words": describe_definition(meter_definition(meter=meter)),
            # One query per row (at most a page of 25); a bulk "locked meter ids" selector would make it one.
            "locked": meter.archived_at is None and meter_is_locked(meter),
        }
        for meter in page.object_list
    ]
    context = {
        "filters": filters,
        "page": page,
        "rows": rows,
        "filtered": bool(filters.is_valid() and any(filters.cleaned_data.values())),
        "has_products": bool(products),
    }
    template = "meters/_table.html" if wants_partial(request) else "meters/list.html"
    return vary_on_htmx(render(request, template, context))


# --- builder ---------------------------------------------------------------------------------------------


@dashboard_view
@require_http_methods(["GET", "POST"])
def meter_create_view(request: HttpRequest) -> HttpResponse:
    """The builder for a new meter; `?product=` preselects a product, `?from=<meter id>` copies a meter (how a
    locked meter's logic changes: a new meter)."""
    if request.method == "POST":
        form = MeterForm(request.POST, products=_products(request))
        definition = form.definition()
        if definition is not None:
            try:
                meter = meter_create(organization=request.organization, **form.service_fields(definition))
            except DomainError as exc:
                _add_save_error(form, exc)
            else:
                messages.success(request, f"Meter “{meter.name}” created.")
                return redirect_after_write(request, _list_url(meter))
        return render(request, "meters/builder.html", _builder_context(form))
    initial, rows, source = {"operation": "count", "rounding": "up", "window": "30"}, [], None
    if source_id := request.GET.get("from"):
        source = meter_get(organization=request.organization, meter_id=source_id)
        source_initial, rows = initial_for(source, copy=True)
        initial |= source_initial
    elif product_id := request.GET.get("product"):
        initial["product"] = product_id
    form = MeterForm(initial=initial, rows=rows, products=_products(request, keep=source and source.product))
    return render(request, "meters/builder.html", _builder_context(form) | {"source": source})


@dashboard_view
@require_http_methods(["GET", "POST"])
def meter_edit_view(request: HttpRequest, meter_id: str) -> HttpResponse:
    """The builder for a saved meter. A locked meter (an active order prices from it) or an archived one gets a
    read-only page instead: it can be renamed, previewed and copied into a new meter."""
    meter = meter_get(organization=request.organization, meter_id=meter_id)
    locked = meter.archived_at is None and meter_is_locked(meter)
    if locked or meter.archived_at is not None:
        return _read_only(request, meter, locked=locked)
    products = _products(request, keep=meter.product)
    if request.method == "POST":
        form = MeterForm(request.POST, products=products)
        definition = form.definition()
        if definition is not None:
            try:
                meter = meter_update(meter=meter, **form.service_fields(definition))
            except MeterLocked:
                messages.error(
                    request,
                    "An active order started using this meter, so it can no longer change. "
                    "Create a new meter from this one instead.",
                )
                return redirect_after_write(request, reverse("meters:edit", args=[meter.display_id]))
            except DomainError as exc:
                _add_save_error(form, exc)
            else:
                messages.success(request, f"Meter “{meter.name}” saved.")
                return redirect_after_write(request, _list_url(meter))
    else:
        initial, rows = initial_for(meter)
        form = MeterForm(initial=initial | {"window": "30"}, rows=rows, products=products)
    return render(
        request, "meters/builder.html", _builder_context(form, meter=meter) | _pricing_context(meter)
    )


def _pricing_context(meter) -> dict:
    """The product's usage lines, split into those priced from this meter and those that could be."""
    lines = meterable_pricing_lines(product=meter.product)
    using = [line for line in lines if line.pricing.get("meter_id") == meter.display_id]
    return {"priced_lines": using, "pricable_lines": [line for line in lines if line not in using]}


@dashboard_view
@require_POST
def meter_pricing_view(request: HttpRequest, meter_id: str) -> HttpResponse:
    """Make one of the product's usage lines take its quantity from this meter (`use`), or count the meter's
    event name again (`stop`)."""
    meter = meter_get(organization=request.organization, meter_id=meter_id)
    back = reverse("meters:edit", args=[meter.display_id])
    try:
        line = product_attribute_get(
            organization=request.organization, attribute_id=request.POST.get("line", "")
        )
    except NotFound:
        messages.error(request, "Choose one of the product's usage lines.")
        return redirect_after_write(request, back)
    use = request.POST.get("action") == "use"
    try:
        if line.product_id != meter.product_id:
            raise DomainError("That line belongs to another product.")
        pricing_meter_set(
            attribute=line, meter_id=meter.display_id if use else None, event_name=meter.event_name
        )
    except DomainError as exc:
        detail = f"{exc.field} {exc.message}" if exc.field else exc.message
        messages.error(request, f"“{line.name}” was not changed: {detail}")
    else:
        if use:
            messages.success(request, f"“{line.name}” now takes its quantity from this meter.")
        else:
            messages.success(request, f"“{line.name}” counts {meter.event_name} signals again.")
    return redirect_after_write(request, back)


def _read_only(request: HttpRequest, meter, *, locked: bool, rename: MeterRenameForm | None = None):
    context = {
        "meter": meter,
        "locked": locked,
        "words": describe_definition(meter_definition(meter=meter)),
        "filter_words": [describe_filter(item) for item in meter.filters],
        "rename": rename or MeterRenameForm(initial={"name": meter.name}),
        "window_choices": WINDOW_CHOICES,
    }
    return render(request, "meters/read_only.html", context | _pricing_context(meter))


@dashboard_view
@require_POST
def meter_rename_view(request: HttpRequest, meter_id: str) -> HttpResponse:
    """Renaming changes no bill, so a locked meter may be renamed."""
    meter = meter_get(organization=request.organization, meter_id=meter_id)
    form = MeterRenameForm(request.POST)
    if form.is_valid():
        try:
            meter_update(meter=meter, name=form.cleaned_data["name"])
        except DomainError as exc:
            form.add_error("name" if exc.field == "name" else None, exc.message)
        else:
            messages.success(request, "Meter renamed.")
            return redirect_after_write(request, reverse("meters:edit", args=[meter.display_id]))
    locked = meter.archived_at is None and meter_is_locked(meter)
    return _read_only(request, meter, locked=locked, rename=form)


@dashboard_view
@require_POST
def meter_archive_view(request: HttpRequest, meter_id: str) -> HttpResponse:
    meter = meter_get(organization=request.organization, meter_id=meter_id)
    try:
        meter_archive(meter=meter)
    except MeterLocked:
        messages.error(request, "This meter is used by an active order, so it can't be archived.")
        return redirect_after_write(request, reverse("meters:edit", args=[meter.display_id]))
    messages.success(request, f"Meter “{meter.name}” archived. Its history stays readable.")
    return redirect_after_write(request, reverse("meters:list"))


def _list_url(meter) -> str:
    return f"{reverse('meters:list')}?product={meter.product.display_id}"


def _add_save_error(form: MeterForm, error: DomainError) -> None:
    """A refusal from the service on saving: on the input it names, else above the form."""
    if error.field == "name":
        form.add_error("name", sentence(error.message))
    elif error.field == "productId":
        form.add_error("product", sentence(error.message))
    else:
        form.add_definition_error(error, [row for row in form.rows if not row.blank])


# --- builder fragments (htmx) ----------------------------------------------------------------------------


@dashboard_view
@require_POST
def meter_preview_view(request: HttpRequest) -> HttpResponse:
    """The preview of the definition typed so far, without saving: quantity and signal count per customer over
    the chosen window. The errors next to the builder's inputs are refreshed out of band with it."""
    products = list(product_list(organization=request.organization))
    form = MeterForm(request.POST, products=products)
    context = {"form": form, "preview": None, "waiting": None}
    if not request.POST.get("product"):
        context["waiting"] = "Choose a product to see a preview."
    elif not request.POST.get("event_name", "").strip():
        context["waiting"] = "Choose an event name to see a preview."
    else:
        definition = form.definition()
        if definition is not None:
            now = timezone.now()
            product = meter_product(
                organization=request.organization, product_id=form.cleaned_data["product"]
            )
            preview = meter_preview_compute(
                organization=request.organization,
                product=product,
                definition=definition,
                window_from=now - timedelta(days=form.window_days),
                window_to=now,
            )
            context |= _preview_context(preview, definition)
    slots = form.error_slots()
    # Before a product and an event name are chosen, nothing is wrong yet: the error slots are cleared.
    context["slots"] = slots if context["waiting"] is None else dict.fromkeys(slots, "")
    context["window_label"] = dict(WINDOW_CHOICES)[str(form.window_days)]
    return render(request, "meters/_preview.html", context)


@dashboard_view
@require_GET
def meter_saved_preview_view(request: HttpRequest, meter_id: str) -> HttpResponse:
    """The preview of a saved meter (the read-only page of a locked or archived meter)."""
    meter = meter_get(organization=request.organization, meter_id=meter_id)
    days = request.GET.get("window") if request.GET.get("window") in dict(WINDOW_CHOICES) else "30"
    now = timezone.now()
    definition = meter_definition(meter=meter)
    preview = meter_preview_compute(
        organization=request.organization,
        product=meter.product,
        definition=definition,
        window_from=now - timedelta(days=int(days)),
        window_to=now,
        meter=meter,
    )
    context = _preview_context(preview, definition) | {"window_label": dict(WINDOW_CHOICES)[days]}
    return render(request, "meters/_preview.html", context)


def _exact(exact, quantity: int) -> str:
    """The exact count or sum as a plain decimal, or "" when it is the quantity itself."""
    if exact == quantity:
        return ""
    text = format(exact, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _preview_context(preview, definition) -> dict:
    return {
        "preview": preview,
        "definition": definition,
        "definition_words": describe_definition(definition),
        "preview_rows": [
            {**vars(row), "exact": _exact(row.exact_quantity, row.quantity)} for row in preview.rows
        ],
        "exact_total": _exact(preview.exact_quantity, preview.quantity),
    }


@dashboard_view
@require_GET
def meter_fields_view(request: HttpRequest) -> HttpResponse:
    """The product's event names (with how many signals were read) and the data fields of the chosen one, with
    the JSON types seen, from its recent signals (signals.selectors.signal_metadata)."""
    product_id = request.GET.get("product") or ""
    event_name = request.GET.get("event_name", "").strip()
    days = request.GET.get("window") if request.GET.get("window") in dict(WINDOW_CHOICES) else "30"
    context = {"product": None, "event_name": event_name, "window_label": dict(WINDOW_CHOICES)[days]}
    if product_id:
        try:
            product = meter_product(organization=request.organization, product_id=product_id)
        except NotFound:
            product = None
        if product is not None:
            now = timezone.now()
            metadata = signal_metadata(
                organization=request.organization,
                product=product,
                window_from=now - timedelta(days=int(days)),
                window_to=now,
            )
            chosen = next((item for item in metadata.signals if item.signal_name == event_name), None)
            context |= {
                "product": product,
                "events": [
                    {
                        "name": item.signal_name,
                        "sampled": item.sampled,
                        "complete": item.complete,
                        "fill": json.dumps({"event_name": item.signal_name}),
                    }
                    for item in metadata.signals
                ],
                "chosen": chosen,
                "paths": [_path_row(path) for path in chosen.paths] if chosen else [],
            }
    return render(request, "meters/_fields.html", context)


def _path_row(path) -> dict:
    """One discovered field with what its buttons do: "Filter" adds a row of the type seen most (objects and
    arrays can only be tested for presence), "Sum" (numbers only) makes the meter sum it. Mixed types show how
    often each was seen: a string "12" among numbers is worth noticing before billing from the field."""
    # The type most signals had, preferring a value over null: a row for the common case.
    seen = [t for t, _ in path.type_counts]
    scalar = [t for t in seen if t in VALUE_TYPES and t != "null"] or [t for t in seen if t == "null"]
    return {
        "path": path.path,
        "types": path.types,
        "type_counts": path.type_counts if len(path.type_counts) > 1 else (),
        "signal_count": path.signal_count,
        "filter_query": urlencode(
            {"field": path.path, "type": scalar[0] if scalar else "string", "op": "=" if scalar else "exists"}
        ),
        "sum_fill": json.dumps({"operation": "sum", "field": path.path}) if "number" in path.types else None,
    }


@dashboard_view
@require_GET
def meter_filter_row_view(request: HttpRequest) -> HttpResponse:
    """One new filter row (`?field=…&type=…` prefills it, from a field of the list); `?remove=1` answers
    nothing and tells the preview to refresh (the row is deleted by htmx: `hx-swap="delete"`)."""
    if request.GET.get("remove"):
        response = HttpResponse("")
        response["HX-Trigger"] = "meter-changed"
        return response
    type_, op = request.GET.get("type", "string"), request.GET.get("op", "=")
    row = FilterRow(
        key=new_row_key(),
        field=request.GET.get("field", "")[:255],
        op=op if op in OP_LABELS else "=",
        type=type_ if type_ in VALUE_TYPES else "string",
    )
    context = {
        "row": row,
        "op_labels": OP_LABELS,
        "value_types": VALUE_TYPES,
        "value_hints": VALUE_HINTS,
        "hints_json": HINTS_JSON,
    }
    return render(request, "meters/_filter_row.html", context)
