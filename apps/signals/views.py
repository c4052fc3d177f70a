"""Dashboard pages for signals: the filtered list with a live stream of new signals, and one signal."""

import json
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.catalog.selectors import product_list
from apps.common.views import dashboard_view, paginate, vary_on_htmx, wants_partial
from apps.signals.forms import SignalFilterForm
from apps.signals.selectors import signal_get, signal_search

STREAM_BATCH = 50  # new rows one poll adds at most; the page keeps the newest STREAM_KEEP rows
STREAM_KEEP = 200
PREVIEW_CHARS = 80


def _with_previews(signals) -> list:
    """The rows, each with a one-line `data_preview` of its data (cut at PREVIEW_CHARS)."""
    rows = list(signals)
    for signal in rows:
        text = (
            ""
            if signal.data is None
            else json.dumps(signal.data, ensure_ascii=False, separators=(", ", ": "))
        )
        signal.data_preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    return rows


def _filters(request: HttpRequest) -> SignalFilterForm:
    products = product_list(organization=request.organization).order_by("name", "pk")
    return SignalFilterForm(request.GET, products=products)


def _filter_query(form: SignalFilterForm) -> str:
    """The filters as a query string (no page), for the stream's URL."""
    if not form.is_valid():
        return ""
    return urlencode({k: v for k, v in form.data.items() if k in form.fields and v})


@dashboard_view
def signal_list_view(request: HttpRequest) -> HttpResponse:
    """Newest first; the first page polls for newer signals (the live stream) while "Live" is on."""
    form = _filters(request)
    signals = signal_search(organization=request.organization, **form.selector_filters())
    page = paginate(request, signals)
    rows = _with_previews(page.object_list)
    context = {
        "filters": form,
        "page": page,
        "rows": rows,
        "filtered": form.is_filtered(),
        "live": page.number == 1,
        "newest_id": max((signal.id for signal in rows), default=0),
        "filter_query": _filter_query(form),
        "stream_keep": STREAM_KEEP,
    }
    template = "signals/_results.html" if wants_partial(request) else "signals/list.html"
    return vary_on_htmx(render(request, template, context))


@dashboard_view
def signal_stream_view(request: HttpRequest) -> HttpResponse:
    """The signals stored after `after` (a signal's internal id) that match the filters, newest first, as table
    rows headed by the next poller row; 204 (htmx swaps nothing) when there are none."""
    form = _filters(request)
    try:
        after = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        after = 0
    signals = signal_search(organization=request.organization, after_id=after, **form.selector_filters())
    rows = _with_previews(signals[:STREAM_BATCH])
    if not rows:
        return HttpResponse(status=204)
    context = {
        "rows": rows,
        "newest_id": max(signal.id for signal in rows),
        "filter_query": _filter_query(form),
        "more": signals.count() - len(rows) if len(rows) == STREAM_BATCH else 0,
        "new": True,
    }
    return render(request, "signals/_stream.html", context)


@dashboard_view
def signal_detail_view(request: HttpRequest, signal_id: str) -> HttpResponse:
    signal = signal_get(organization=request.organization, signal_id=signal_id)
    data_json = None if signal.data is None else json.dumps(signal.data, indent=2, ensure_ascii=False)
    raw_ids = [
        ("Customer id", signal.customer_ref),
        ("External customer id", signal.external_customer_id),
        ("Product id", signal.product_ref),
        ("External product id", signal.external_product_id),
        ("Customer unit", signal.external_customer_unit_id),
        ("Idempotency key", signal.idempotency_key),
        ("Trace id", signal.trace_id),
    ]
    context = {"signal": signal, "data_json": data_json, "raw_ids": raw_ids}
    return render(request, "signals/detail.html", context)
