"""Dashboard pages for the product catalog."""

import re

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.describe import api_only_settings, benefit_words, frequency_words, pricing_words
from apps.catalog.forms import (
    CreditCurrencyEditForm,
    CreditCurrencyForm,
    PlanForm,
    PlanLineForm,
    PricingLineForm,
    ProductFilterForm,
    ProductForm,
)
from apps.catalog.selectors import (
    credit_currency_get,
    credit_currency_list,
    plan_get,
    plan_list,
    product_attribute_get,
    product_attribute_list,
    product_get,
    product_list,
)
from apps.catalog.serializers import CreditBenefitIn, PricingIn
from apps.catalog.services import (
    credit_currency_create,
    credit_currency_update,
    plan_create,
    plan_update,
    plan_upgrade_path_update,
    product_archive,
    product_attributes_upsert,
    product_create,
    product_unarchive,
    product_update,
)
from apps.common.api import to_camel
from apps.common.exceptions import DomainError, NotFound
from apps.common.templatetags.money import format_number
from apps.common.views import (
    add_domain_error,
    dashboard_view,
    paginate,
    pretty_json,
    redirect_after_write,
    vary_on_htmx,
    wants_partial,
)


@dashboard_view
def product_list_view(request: HttpRequest) -> HttpResponse:
    filters = ProductFilterForm(request.GET)
    products = product_list(organization=request.organization, **filters.selector_filters())
    status = filters.cleaned_data.get("status") or "active"
    context = {
        "filters": filters,
        "status": status,
        "page": paginate(request, products),
        "filtered": bool(filters.cleaned_data.get("q")),
    }
    template = "catalog/_table.html" if wants_partial(request) else "catalog/list.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
@require_http_methods(["GET", "POST"])
def product_create_view(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = product_create(organization=request.organization, **form.service_fields())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Product “{product.name}” created.")
            return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))
    return _form_response(request, form, product=None)


@dashboard_view
def product_detail_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    attributes = list(product_attribute_list(product=product))
    lines = [pricing_line_display(attribute) for attribute in attributes]
    context = {
        "product": product,
        "metadata_json": pretty_json(product.metadata),
        "pricing_lines": lines,
        **_plans_context(request, product=product, attributes=attributes),
    }
    return render(request, "catalog/detail.html", context)


@dashboard_view
@require_http_methods(["GET", "POST"])
def product_edit_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    form = ProductForm(request.POST or None, initial=ProductForm.initial_for(product))
    if request.method == "POST" and form.is_valid():
        try:
            product_update(product=product, **form.service_fields())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Product saved.")
            return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))
    return _form_response(request, form, product=product)


@dashboard_view
@require_POST
def product_archive_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_archive(product=product_get(organization=request.organization, product_id=product_id))
    messages.success(request, f"“{product.name}” archived. It stays on existing orders and invoices.")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))


@dashboard_view
@require_POST
def product_unarchive_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_unarchive(product=product_get(organization=request.organization, product_id=product_id))
    messages.success(request, f"“{product.name}” restored.")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))


def _form_response(request: HttpRequest, form: ProductForm, *, product) -> HttpResponse:
    """Errors come back as 200 with the form re-rendered: just the form for htmx, else the page."""
    template = "catalog/_form.html" if wants_partial(request) else "catalog/form.html"
    return render(request, template, {"form": form, "product": product})


# --- pricing lines (product attributes) --------------------------------------------------------------------


@dashboard_view
@require_http_methods(["GET", "POST"])
def pricing_create_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    return _pricing_form_view(request, product=product, attribute=None)


@dashboard_view
@require_http_methods(["GET", "POST"])
def pricing_edit_view(request: HttpRequest, product_id: str, attribute_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    attribute = product_attribute_get(organization=request.organization, attribute_id=attribute_id)
    if attribute.product_id != product.pk:
        raise NotFound("Product attribute", attribute_id)
    api_only = api_only_settings(
        pricing=attribute.pricing, benefits=list(attribute.credit_benefits.all()), tax_code=attribute.tax_code
    )
    if api_only:
        return _api_only_response(request, product=product, name=attribute.name, settings=api_only)
    return _pricing_form_view(request, product=product, attribute=attribute)


def _api_only_response(request: HttpRequest, *, product, name: str, settings: list[str]) -> HttpResponse:
    """Editing here would drop settings the editor can't show, so say so instead of showing the form."""
    template = "catalog/_api_only.html" if wants_partial(request) else "catalog/api_only.html"
    context = {"product": product, "name": name, "settings": settings}
    return vary_on_htmx(render(request, template, context, status=200 if request.method == "GET" else 409))


def _pricing_form_view(request: HttpRequest, *, product, attribute) -> HttpResponse:
    """GET: the form. POST with `_refresh` (type changed, "Add tier"): the form again with what was typed, no
    errors yet. POST: shape check, then the service's rules; any refusal re-renders the form (200) with the
    error on the input it came from, and nothing is written."""
    currencies = _currency_choices(request, keep=attribute)
    refresh = request.POST.get("_refresh") if request.method == "POST" else None
    if request.method == "POST" and not refresh:
        form = PricingLineForm(request.POST, credit_currencies=currencies)
        if form.is_valid() and _pricing_save(form, product=product, attribute=attribute):
            verb = "saved" if attribute else "added"
            messages.success(request, f"Pricing line “{form.cleaned_data['name']}” {verb}.")
            # No "#pricing": from the product page itself, a hash-only change would not reload it.
            return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))
    else:
        if refresh:
            initial, rows = PricingLineForm.initial_from_data(request.POST)
        elif attribute is not None:
            initial, rows = PricingLineForm.initial_for(attribute, attribute.credit_benefits.all())
        else:
            initial, rows = {"active": True, "price_0_currency": "USD", "tier_0_currency": "USD"}, None
        form = PricingLineForm(
            initial=initial, rows=rows, credit_currencies=currencies, add_row=refresh if refresh else None
        )
    form.refresh_on_change(request.path)
    if request.method == "GET":
        form.fields["name"].widget.attrs["autofocus"] = True
    template = "catalog/_pricing_form.html" if wants_partial(request) else "catalog/pricing_form.html"
    context = {"form": form, "product": product, "attribute": attribute, "has_currencies": bool(currencies)}
    return vary_on_htmx(render(request, template, context))


def _pricing_shape(form: PricingLineForm) -> tuple[dict, list] | None:
    """The form's pricing and credit benefits through the API's shape check (snake_case, validated), or None
    with the errors put on the form's inputs."""
    pricing, benefits = form.wire()
    checks = [
        ("pricing", PricingIn(data=pricing)),
        ("creditBenefits", CreditBenefitIn(data=benefits, many=True)),
    ]
    for prefix, serializer in checks:
        if not serializer.is_valid():
            for path, message in _flatten_errors(serializer.errors, prefix):
                form.add_wire_error(path, message)
    if form.errors:
        return None
    return checks[0][1].validated_data, checks[1][1].validated_data


def _pricing_save(form: PricingLineForm, *, product, attribute) -> bool:
    shaped = _pricing_shape(form)
    if shaped is None:
        return False
    line = {
        "product_attribute_id": attribute.display_id if attribute else None,
        "name": form.cleaned_data["name"],
        "active": form.cleaned_data["active"],
        "pricing": shaped[0],
        "credit_benefits": shaped[1],
    }
    try:
        product_attributes_upsert(product=product, attributes=[line])
    except DomainError as exc:
        form.add_wire_error(exc.field, exc.message)
        return False
    return True


def _flatten_errors(errors, prefix: str):
    """DRF's nested errors as (wire path, message) pairs: {"price_points": [{}, {"unit_price": [..]}]} →
    ("pricing.pricePoints[1].unitPrice", ...)."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = prefix if key == "non_field_errors" else f"{prefix}.{to_camel(key)}"
            yield from _flatten_errors(value, path)
    elif isinstance(errors, list) and errors and all(isinstance(item, dict) for item in errors):
        for index, item in enumerate(errors):
            yield from _flatten_errors(item, f"{prefix}[{index}]")
    elif isinstance(errors, list):
        for item in errors:
            yield from _flatten_errors(item, prefix)
    else:
        yield prefix, str(errors)


def _currency_choices(request: HttpRequest, *, keep=None) -> list[tuple[str, str]]:
    """Active credit currencies for a select; an archived one the line (or lines) already uses stays listed
    (the service refuses it in new pricing, and says so on the field)."""
    choices = [
        (currency.display_id, f"{currency.name} ({currency.key})")
        for currency in credit_currency_list(organization=request.organization, status="active")
    ]
    used = []
    for line in keep if isinstance(keep, list) else [keep] if keep is not None else []:
        used += [line.credits_currency] + [benefit.credits_currency for benefit in line.credit_benefits.all()]
    known = {value for value, _ in choices}
    for currency in used:
        if currency is not None and currency.display_id not in known:
            choices.append((currency.display_id, f"{currency.name} ({currency.key}) · archived"))
            known.add(currency.display_id)
    return choices


# --- pricing shown to people ---------------------------------------------------------------------------------


def pricing_line_display(attribute) -> dict:
    """One priced attribute (of a product or a plan) in plain words for the product page."""
    return {
        **pricing_words(attribute.pricing or {}),
        "attribute": attribute,
        "credits_currency": attribute.credits_currency,
        "benefits": [_benefit_words(benefit) for benefit in attribute.credit_benefits.all()],
    }


def _benefit_words(benefit) -> str:
    return benefit_words(
        amount=benefit.amount,
        currency_name=benefit.credits_currency.name,
        allocation_cadence=benefit.allocation_cadence,
        recipient=benefit.recipient,
        credit_grant_timing=benefit.credit_grant_timing,
        rollover_amount=benefit.rollover_amount,
        rollover_duration=benefit.rollover_duration,
        rollover_duration_unit=benefit.rollover_duration_unit,
        is_infinite_total=benefit.is_infinite_total,
    )


# --- credit currencies ----------------------------------------------------------------------------------------


@dashboard_view
@require_http_methods(["GET", "POST"])
def credit_currency_list_view(request: HttpRequest) -> HttpResponse:
    """GET lists the organization's credit currencies; POST creates one."""
    form = CreditCurrencyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            currency = credit_currency_create(organization=request.organization, **form.service_fields())
        except DomainError as exc:
            exc.message = exc.message[:1].upper() + exc.message[1:]  # "key 'x' is already used…" on the field
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Credit currency “{currency.name}” created.")
            return redirect_after_write(request, reverse("catalog:currency_list"))
    context = {"form": form, "currencies": credit_currency_list(organization=request.organization)}
    template = "catalog/_currencies_panel.html" if wants_partial(request) else "catalog/currencies.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
@require_http_methods(["GET", "POST"])
def credit_currency_edit_view(request: HttpRequest, currency_id: str) -> HttpResponse:
    currency = credit_currency_get(organization=request.organization, currency_id=currency_id)
    form = CreditCurrencyEditForm(request.POST or None, initial={"description": currency.description or ""})
    if request.method == "POST" and form.is_valid():
        credit_currency_update(currency=currency, **form.service_fields())
        messages.success(request, f"“{currency.name}” saved.")
        return redirect_after_write(request, reverse("catalog:currency_list"))
    template = "catalog/_currency_form.html" if wants_partial(request) else "catalog/currency_form.html"
    return render(request, template, {"form": form, "currency": currency})


@dashboard_view
@require_POST
def credit_currency_archive_view(request: HttpRequest, currency_id: str) -> HttpResponse:
    currency = credit_currency_get(organization=request.organization, currency_id=currency_id)
    credit_currency_update(currency=currency, status="archived")
    messages.success(
        request,
        f"“{currency.name}” archived. Existing pricing and balances keep working; new pricing can't use it.",
    )
    return redirect_after_write(request, reverse("catalog:currency_list"))


@dashboard_view
@require_POST
def credit_currency_unarchive_view(request: HttpRequest, currency_id: str) -> HttpResponse:
    currency = credit_currency_get(organization=request.organization, currency_id=currency_id)
    credit_currency_update(currency=currency, status="active")
    messages.success(request, f"“{currency.name}” restored.")
    return redirect_after_write(request, reverse("catalog:currency_list"))


# --- plans -----------------------------------------------------------------------------------------------------


def _path_sorted(plans):
    """Plans in upgrade-path order (by frequency group, then position), then the ones off the path, oldest
    first."""
    return sorted(
        plans,
        key=lambda plan: (
            plan.upgrade_path_order is None,
            plan.upgrade_path_frequency or "",
            plan.upgrade_path_order or 0,
            plan.created_at,
            plan.pk,
        ),
    )


def _plans_context(request: HttpRequest, *, product, attributes) -> dict:
    """The Plans card: each plan with its lines in plain words, and the upgrade-path editor's starting order."""
    plans = _path_sorted(plan_list(organization=request.organization, product_id=product.display_id))
    frequencies = {plan.upgrade_path_frequency for plan in plans if plan.upgrade_path_order is not None}
    path_counts = {
        frequency: sum(
            1
            for plan in plans
            if plan.upgrade_path_order is not None and plan.upgrade_path_frequency == frequency
        )
        for frequency in frequencies
    }
    shown = []
    for plan in plans:
        by_attribute = {line.product_attribute_id: line for line in plan.attributes.all()}
        lines = []
        for attribute in attributes:
            line = by_attribute.get(attribute.pk)
            words = pricing_line_display(line) if line is not None else None
            allowances = [_allowance_words(b) for b in line.credit_benefits.all()] if line is not None else []
            lines.append({"attribute": attribute, "display": words, "allowances": allowances})
        position = None
        if plan.upgrade_path_order is not None:
            position = {
                "step": plan.upgrade_path_order + 1,
                "of": path_counts[plan.upgrade_path_frequency],
                "frequency": frequency_words({"billing_frequency": plan.upgrade_path_frequency}),
            }
        shown.append({"plan": plan, "lines": lines, "position": position})
    active = [plan for plan in plans if plan.status == "active"]
    return {
        "plans": shown,
        "path_plans": active,
        "path_editable": len(frequencies) <= 1,
        "path_incomplete": any(plan.upgrade_path_order is None for plan in active),
    }


def _allowance_words(benefit) -> dict:
    """A credit benefit, short: {"main": "2,000 Chat Credits each month", "detail": "to each seat, …"}."""
    cadence = "each month" if benefit.allocation_cadence == "monthly" else "each billing period"
    detail = ["to each seat"] if benefit.recipient == "seat" else []
    if benefit.rollover_amount is not None:
        detail.append(f"up to {format_number(benefit.rollover_amount)} roll over")
    return {
        "main": f"{format_number(benefit.amount)} {benefit.credits_currency.name} {cadence}",
        "detail": ", ".join(detail),
    }


@dashboard_view
@require_http_methods(["GET", "POST"])
def plan_create_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    return _plan_form_view(request, product=product, plan=None)


@dashboard_view
@require_http_methods(["GET", "POST"])
def plan_edit_view(request: HttpRequest, product_id: str, plan_id: str) -> HttpResponse:
    product, plan = _product_plan(request, product_id=product_id, plan_id=plan_id)
    api_only = sorted(
        {
            setting
            for line in plan.attributes.all()
            for setting in api_only_settings(pricing=line.pricing, benefits=list(line.credit_benefits.all()))
        }
    )
    if api_only:
        return _api_only_response(
            request, product=product, name=plan.name or plan.display_id, settings=api_only
        )
    return _plan_form_view(request, product=product, plan=plan)


def _product_plan(request: HttpRequest, *, product_id: str, plan_id: str):
    """The product and one of its plans; another organization's (or another product's) plan is a 404."""
    product = product_get(organization=request.organization, product_id=product_id)
    plan = plan_get(organization=request.organization, plan_id=plan_id)
    if plan.product_id != product.pk:
        raise NotFound("Plan", plan_id)
    return product, plan


def _plan_form_view(request: HttpRequest, *, product, plan) -> HttpResponse:
    """GET: the plan form, one section per attribute of the product (pre-filled from the product's pricing on
    create, from the plan's on edit). POST with `_refresh` ("a0:tier"): the form again with what was typed and
    one more row, no errors yet. POST: every check, then the service; any refusal re-renders the form (200)
    with the error on its input, and nothing is written."""
    attributes = list(product_attribute_list(product=product))
    plan_lines = {line.product_attribute_id: line for line in plan.attributes.all()} if plan else {}
    keep = [*attributes, *plan_lines.values()]
    currencies = _currency_choices(request, keep=keep)
    refresh = request.POST.get("_refresh") if request.method == "POST" else None
    prefixes = [f"a{index}" for index in range(len(attributes))]

    if request.method == "POST" and not refresh:
        form = PlanForm(request.POST)
        lines = [
            PlanLineForm(request.POST, prefix=prefix, attribute=attribute, credit_currencies=currencies)
            for prefix, attribute in zip(prefixes, attributes, strict=True)
        ]
        if _plan_save(request, form, lines, product=product, plan=plan):
            messages.success(request, f"Plan “{form.cleaned_data['name']}” {'saved' if plan else 'created'}.")
            return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]))
    else:
        refresh_prefix, _, add_row = (refresh or "").partition(":")
        if refresh:
            form = PlanForm(initial={key: request.POST.get(key) for key in PlanForm.base_fields})
            form.initial["is_default"] = bool(request.POST.get("is_default"))
        else:
            form = PlanForm(initial=PlanForm.initial_for(plan) if plan else {})
        lines = []
        for prefix, attribute in zip(prefixes, attributes, strict=True):
            if refresh:
                initial, rows = PlanLineForm.initial_from_data(request.POST, prefix)
                initial["included"] = bool(request.POST.get(f"{prefix}-included"))
            elif plan is not None and attribute.pk in plan_lines:
                line = plan_lines[attribute.pk]
                initial, rows = PlanLineForm.initial_for_line(line, line.credit_benefits.all(), included=True)
            else:
                included = plan is None and attribute.active
                initial, rows = PlanLineForm.initial_for_line(
                    attribute, attribute.credit_benefits.all(), included=included
                )
            lines.append(
                PlanLineForm(
                    initial=initial,
                    rows=rows,
                    prefix=prefix,
                    attribute=attribute,
                    credit_currencies=currencies,
                    add_row=add_row if prefix == refresh_prefix and add_row != "type" else None,
                )
            )
    for line in lines:
        line.refresh_on_change(request.path, target="#plan-form")
    if request.method == "GET":
        form.fields["name"].widget.attrs["autofocus"] = True
    context = {
        "form": form,
        "lines": lines,
        "product": product,
        "plan": plan,
        "has_currencies": bool(currencies),
        "lines_with_errors": [line for line in lines if line.is_bound and line.errors],
    }
    template = "catalog/_plan_form.html" if wants_partial(request) else "catalog/plan_form.html"
    return vary_on_htmx(render(request, template, context))


_LINE_PATH = re.compile(r"^attributes\[(\d+)\]\.?")


def _plan_save(request: HttpRequest, form: PlanForm, lines: list[PlanLineForm], *, product, plan) -> bool:
    valid = form.is_valid()
    valid = all([line.is_valid() for line in lines]) and valid  # a list: check every line, show every error
    included = [line for line in lines if line.is_included]
    if not included:
        form.add_error(None, "Include at least one of the product's pricing lines in the plan.")
    attributes = []
    for line in included:
        if line.errors:
            continue
        shaped = _pricing_shape(line)
        if shaped is not None:
            pricing, benefits = shaped
            attributes.append(
                {
                    "product_attribute_id": line.attribute.display_id,
                    "pricing": pricing,
                    "credit_benefits": benefits,
                }
            )
    if not valid or form.errors or any(line.errors for line in included):
        return False
    fields = form.service_fields()
    try:
        if plan is None:
            plan_create(
                organization=request.organization,
                product_id=product.display_id,
                attributes=attributes,
                **fields,
            )
        else:
            plan_update(plan=plan, attributes=attributes, **fields)
    except DomainError as exc:
        match = _LINE_PATH.match(exc.field or "")
        if match and int(match.group(1)) < len(included):
            line = included[int(match.group(1))]
            line.add_wire_error(exc.field[match.end() :], _LINE_PATH.sub("", exc.message))
        else:
            form.add_service_error(exc.field, exc.message)
        return False
    return True


@dashboard_view
@require_POST
def plan_default_view(request: HttpRequest, product_id: str, plan_id: str) -> HttpResponse:
    product, plan = _product_plan(request, product_id=product_id, plan_id=plan_id)
    try:
        plan_update(plan=plan, is_default=True)
    except DomainError as exc:
        messages.error(request, exc.message[:1].upper() + exc.message[1:] + ".")
    else:
        messages.success(request, f"“{plan}” is now the default plan: new orders that name no plan get it.")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]) + "#plans")


@dashboard_view
@require_POST
def plan_archive_view(request: HttpRequest, product_id: str, plan_id: str) -> HttpResponse:
    product, plan = _product_plan(request, product_id=product_id, plan_id=plan_id)
    was_default = plan.is_default
    plan_update(plan=plan, status="archived")
    note = " The product has no default plan now." if was_default else ""
    messages.success(request, f"“{plan}” archived. Existing orders keep it; new orders can't use it.{note}")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]) + "#plans")


@dashboard_view
@require_POST
def plan_unarchive_view(request: HttpRequest, product_id: str, plan_id: str) -> HttpResponse:
    product, plan = _product_plan(request, product_id=product_id, plan_id=plan_id)
    plan_update(plan=plan, status="active")
    messages.success(request, f"“{plan}” restored.")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]) + "#plans")


@dashboard_view
@require_POST
def plan_upgrade_path_view(request: HttpRequest, product_id: str) -> HttpResponse:
    """POST `plan_ids` (the list in its current order) with `move` ("plan_…:up"): the editor again with that
    plan moved, not saved yet. Without `move`: saves the order with plan_upgrade_path_update."""
    product = product_get(organization=request.organization, product_id=product_id)
    plans = {
        plan.display_id: plan
        for plan in plan_list(organization=request.organization, product_id=product.display_id)
        if plan.status == "active"
    }
    posted = [plan_id for plan_id in request.POST.getlist("plan_ids") if plan_id in plans]
    order = list(dict.fromkeys(posted)) + [
        plan.display_id for plan in _path_sorted(plans.values()) if plan.display_id not in posted
    ]
    move = request.POST.get("move", "")
    if move:
        plan_id, _, direction = move.partition(":")
        if plan_id in order:
            at = order.index(plan_id)
            to = at - 1 if direction == "up" else at + 1
            if 0 <= to < len(order):
                order[at], order[to] = order[to], order[at]
                # Keep the focus on the plan that moved; at either end, on the arrow that still works.
                if to in (0, len(order) - 1):
                    move = f"{plan_id}:{'down' if direction == 'up' else 'up'}"
        context = {
            "product": product,
            "path_plans": [plans[plan_id] for plan_id in order],
            "path_editable": True,
            "path_changed": True,
            "focus": move,
        }
        template = "catalog/_upgrade_path.html" if wants_partial(request) else "catalog/upgrade_path.html"
        return vary_on_htmx(render(request, template, context))
    frequency = next(
        (plan.upgrade_path_frequency for plan in plans.values() if plan.upgrade_path_frequency), None
    )
    plan_upgrade_path_update(
        organization=request.organization,
        product_id=product.display_id,
        groups=[{"frequency": frequency, "plan_ids": order}] if order else [],
    )
    messages.success(request, "Upgrade path saved.")
    return redirect_after_write(request, reverse("catalog:detail", args=[product.display_id]) + "#plans")
