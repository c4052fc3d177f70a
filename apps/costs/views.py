"""Dashboard pages for margins (docs/costs.md, "Margins"): the overview for a period (totals, most and least
profitable customers, margins by customer, product or event name), a customer's and a product's margin with a
cost-over-time chart (inline SVG built here, no JS), and a signal's margin with its cost breakdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.catalog.selectors import product_get
from apps.common.currencies import MINOR_UNITS
from apps.common.exceptions import DomainError
from apps.common.views import add_domain_error, dashboard_view, redirect_after_write
from apps.costs import selectors, services
from apps.costs.margins import (
    GROUPS,
    MarginReport,
    MarginRow,
    cost_over_time,
    margin_period,
    margin_report,
    signal_margin,
)
from apps.customers.selectors import customer_get
from apps.signals.selectors import signal_get

RANKED = 5  # most / least profitable customers shown
GROUP_LABELS = {"customer": "Customer", "product": "Product", "eventName": "Event name"}


def money(amount: Decimal | None, currency: str | None) -> str:
    """Major units for people: the currency's decimals, two more (up to 4 extra) for sub-cent costs."""
    if amount is None:
        return "—"
    currency = currency or "USD"
    places = MINOR_UNITS.get(currency, 2)
    if amount and abs(amount) < Decimal(1).scaleb(-places):
        places += 4  # $0.000123 is a real LLM call's cost; $0.00 would hide it
    shown = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{abs(shown):,.{places}f}"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(currency)
    text = f"{symbol}{text}" if symbol else f"{currency} {text}"
    return f"-{text}" if shown < 0 else text


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


class PeriodForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label="To (exclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    group = forms.ChoiceField(
        label="Group by", required=False, choices=[(g, GROUP_LABELS[g]) for g in GROUPS]
    )


def _day(value) -> datetime | None:
    return None if value is None else datetime(value.year, value.month, value.day, tzinfo=UTC)


def _period(request: HttpRequest) -> tuple[PeriodForm, datetime, datetime, str | None]:
    """The period asked for in the query (dates, UTC midnights), else the last 30 days up to tomorrow."""
    form = PeriodForm(request.GET or None)
    today = timezone.now().astimezone(UTC).date()
    default_end = _day(today + timedelta(days=1))
    start = end = None
    error = None
    if form.is_bound and form.is_valid():
        start, end = _day(form.cleaned_data["start"]), _day(form.cleaned_data["end"])
    try:
        start, end = margin_period(start=start, end=end or default_end, now=timezone.now())
    except DomainError as exc:
        error = exc.message
        start, end = margin_period(start=None, end=default_end, now=timezone.now())
    return form, start, end, error


@dataclass
class RowView:
    row: MarginRow
    url: str | None

    def __getattr__(self, name):
        return getattr(self.row, name)

    @property
    def revenue_text(self) -> str:
        return money(self.row.revenue, self.row.currency)

    @property
    def fee_text(self) -> str:
        return money(self.row.fee_revenue, self.row.currency)

    @property
    def usage_text(self) -> str:
        return money(self.row.usage_revenue, self.row.currency)

    @property
    def cost_text(self) -> str:
        return money(self.row.cost, self.row.currency)

    @property
    def margin_text(self) -> str:
        return money(self.row.margin, self.row.currency)

    @property
    def credits_value_text(self) -> str:
        return money(self.row.credits_value, self.row.currency)

    @property
    def percent_text(self) -> str:
        return percent(self.row.margin_percent)

    @property
    def losing(self) -> bool:
        return self.row.margin < 0


def _url(report: MarginReport, row: MarginRow, query: str) -> str | None:
    if row.key is None or report.group_by == "eventName":
        return None
    kind = "customers" if report.group_by == "customer" else "products"
    return f"/costs/margins/{kind}/{row.key}/?{query}" if query else f"/costs/margins/{kind}/{row.key}/"


def _query(start: datetime, end: datetime) -> str:
    return f"start={start.date().isoformat()}&end={end.date().isoformat()}"


@dashboard_view
def margins_view(request: HttpRequest) -> HttpResponse:
    form, start, end, error = _period(request)
    group = request.GET.get("group") if request.GET.get("group") in GROUPS else "customer"
    query = _query(start, end)
    report = margin_report(organization=request.organization, start=start, end=end, group_by=group)
    by_customer = (
        report
        if group == "customer"
        else margin_report(organization=request.organization, start=start, end=end, group_by="customer")
    )
    ranked = [RowView(r, _url(by_customer, r, query)) for r in by_customer.ranked()]
    most = [r for r in ranked if r.row.revenue or r.row.cost][:RANKED]
    least = list(reversed([r for r in ranked if r.row.revenue or r.row.cost]))[:RANKED]
    context = {
        "form": form,
        "error": error,
        "start": start,
        "end": end,
        "last_day": end - timedelta(days=1),
        "group": group,
        "group_label": GROUP_LABELS[group],
        "groups": [(g, GROUP_LABELS[g], f"?{query}&group={g}") for g in GROUPS],
        "rows": [RowView(r, _url(report, r, query)) for r in report.rows],
        "totals": [RowView(r, None) for r in report.totals()],
        "most": most,
        "least": least,
    }
    return render(request, "costs/margins.html", context)


# --- a customer or a product -----------------------------------------------------------------------------------

CHART_W, CHART_H, CHART_PAD = 720, 180, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


def cost_chart(*, points, start: datetime, end: datetime, currency: str) -> dict:
    """Geometry of a daily bar chart of one currency's cost over `[start, end)`, for an inline SVG."""
    days = max(1, (end - start).days)
    totals: dict[datetime, Decimal] = {}
    for point in points:
        if point.currency == currency:
            day = point.day if point.day.tzinfo else point.day.replace(tzinfo=UTC)
            totals[day] = totals.get(day, Decimal(0)) + point.cost
    peak = max(totals.values(), default=Decimal(0))
    slot = (CHART_W - CHART_PAD) / days
    bars = []
    for i in range(days):
        day = start + timedelta(days=i)
        value = totals.get(day, Decimal(0))
        height = float(value / peak) * (CHART_H - CHART_PAD) if peak else 0.0
        bars.append(
            Bar(
                x=round(CHART_PAD + i * slot + slot * 0.1, 2),
                y=round(CHART_H - CHART_PAD / 2 - height, 2),
                width=round(max(slot * 0.8, 1), 2),
                height=round(height, 2),
                label=f"{day.date().isoformat()}: {money(value, currency)}",
            )
        )
    return {
        "currency": currency,
        "bars": bars,
        "peak": money(peak, currency),
        "width": CHART_W,
        "height": CHART_H,
        "baseline": CHART_H - CHART_PAD / 2,
        "top": CHART_PAD / 2,
        "first": start.date().isoformat(),
        "last": (end - timedelta(days=1)).date().isoformat(),
        "empty": not peak,
    }


def _subject_page(request: HttpRequest, *, kind: str, subject, pk: int) -> HttpResponse:
    form, start, end, error = _period(request)
    report = margin_report(organization=request.organization, start=start, end=end, group_by=kind)
    rows = [RowView(r, None) for r in report.rows if r.key == subject.display_id]
    points = cost_over_time(
        organization=request.organization,
        start=start,
        end=end,
        **({"customer_id": pk} if kind == "customer" else {"product_id": pk}),
    )
    currencies = sorted({p.currency for p in points}) or ["USD"]
    charts = [cost_chart(points=points, start=start, end=end, currency=c) for c in currencies]
    context = {
        "form": form,
        "error": error,
        "kind": kind,
        "subject": subject,
        "start": start,
        "end": end,
        "last_day": end - timedelta(days=1),
        "query": _query(start, end),
        "rows": rows,
        "charts": charts,
    }
    return render(request, "costs/margin_subject.html", context)


@dashboard_view
def margin_customer_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    return _subject_page(request, kind="customer", subject=customer, pk=customer.pk)


@dashboard_view
def margin_product_view(request: HttpRequest, product_id: str) -> HttpResponse:
    product = product_get(organization=request.organization, product_id=product_id)
    return _subject_page(request, kind="product", subject=product, pk=product.pk)


# --- a signal ----------------------------------------------------------------------------------------------------


@dashboard_view
def margin_signal_view(request: HttpRequest, signal_id: str) -> HttpResponse:
    signal = signal_get(organization=request.organization, signal_id=signal_id)
    result = signal_margin(organization=request.organization, signal_pk=signal.pk)
    currency = result.currency or "USD"
    breakdown = [
        {**item, "amount_text": money(item["amount"], item["currency"])} for item in result.breakdown
    ]
    records = [{"record": rec, "amount_text": money(rec.amount, rec.currency)} for rec in result.records]
    other_costs = [money(amount, code) for code, amount in sorted(result.costs.items()) if code != currency]
    context = {
        "signal": signal,
        "result": result,
        "revenue": money(result.revenue, currency),
        "usage_revenue": money(result.usage_revenue, currency),
        "credit_revenue": money(result.credit_revenue, currency),
        "cost": money(result.cost, currency),
        "margin": money(result.margin, currency),
        "percent": percent(result.margin_percent),
        "losing": result.margin < 0,
        "other_costs": other_costs,
        "breakdown": breakdown,
        "records": records,
    }
    return render(request, "costs/margin_signal.html", context)


# --- model prices ------------------------------------------------------------------------------------------


class ModelPriceForm(forms.Form):
    vendor = forms.CharField(max_length=100, help_text='As your traces report it, e.g. "openai".')
    model = forms.CharField(max_length=255, help_text="The exact model id, e.g. gpt-4o-mini-2024-07-18.")
    currency = forms.CharField(max_length=3, initial="USD")
    input_per_million = forms.DecimalField(label="Input, per million tokens", min_value=0, decimal_places=9)
    output_per_million = forms.DecimalField(label="Output, per million tokens", min_value=0, decimal_places=9)
    cache_read_per_million = forms.DecimalField(
        label="Cached input, per million", required=False, min_value=0, decimal_places=9
    )
    cache_creation_per_million = forms.DecimalField(
        label="Cache writes, per million", required=False, min_value=0, decimal_places=9
    )


@dashboard_view
def model_prices_view(request: HttpRequest) -> HttpResponse:
    """The organization's own model prices (they win over the price table) and the models waiting for one."""
    organization = request.organization
    form = ModelPriceForm(request.POST or None, initial=request.GET or None)
    if request.method == "POST" and form.is_valid():
        try:
            price, priced = services.model_price_set(organization=organization, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request,
                f"Saved the price of {price.vendor} {price.model}"
                + (f"; priced {priced} record(s) that were waiting for it." if priced else "."),
            )
            return redirect_after_write(request, reverse("costs:model_prices"))
    context = {
        "form": form,
        "prices": selectors.model_price_list(organization=organization),
        "unknown": selectors.unknown_models(organization=organization),
    }
    return render(request, "costs/model_prices.html", context)


@dashboard_view
@require_POST
def model_price_delete_view(request: HttpRequest, price_id: int) -> HttpResponse:
    services.model_price_delete(organization=request.organization, price_id=price_id)
    messages.success(request, "Price removed: new usage of that model is priced from the price table again.")
    return redirect_after_write(request, reverse("costs:model_prices"))
