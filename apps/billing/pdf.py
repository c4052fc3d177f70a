"""Invoice PDFs, rendered by weasyprint from a posted invoice's frozen snapshot (never from live rows).

`render_invoice_pdf(snapshot)` → PDF bytes. The snapshot is a plain dict (shape in docs/billing.md, "PDF"); every
optional value may be null or absent. Rendering touches no network: the URL fetcher serves only `data:` URLs and
files shipped under `static/`. weasyprint (and the system's Pango it loads) is imported only when rendering, so
importing Tally never needs them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string

from apps.billing.formatting import (
    DASH,
    format_date,
    format_money,
    format_period,
    format_quantity,
    format_tax_rate,
    format_unit_price,
    to_decimal,
)

TEMPLATE = "billing/invoice_pdf.html"

# Sellers in these countries get US Letter paper; everyone else gets A4. The layout fits both.
LETTER_COUNTRIES = frozenset({"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA", "CA", "CANADA"})


def render_invoice_pdf(snapshot: dict) -> bytes:
    """The invoice PDF for a posted invoice's snapshot dict. Pure: reads nothing but the snapshot and the template."""
    return html_to_pdf(render_invoice_html(snapshot))


def render_invoice_html(snapshot: dict) -> str:
    """The print HTML the PDF is made from (all snapshot text autoescaped)."""
    return render_to_string(TEMPLATE, invoice_pdf_context(snapshot))


def html_to_pdf(html: str) -> bytes:
    """PDF bytes for print HTML, fetching nothing but `data:` URLs and files under the static directories."""
    import weasyprint  # needs the system's Pango: only rendering may require it

    fetcher = _local_fetcher_class(weasyprint)()
    base_url = _static_roots()[0].as_uri() + "/"
    return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf()


def _static_roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.STATICFILES_DIRS]


def is_fetch_allowed(url: str) -> bool:
    """Whether rendering may load `url`: a `data:` URL, or a `file:` URL inside a static directory."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        return True
    if scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parts.path)).resolve()
    return path.is_file() and any(path.is_relative_to(root) for root in _static_roots())


def _local_fetcher_class(weasyprint):
    """A weasyprint URLFetcher (weasyprint ≥ 68) that refuses every URL `is_fetch_allowed` does not accept."""

    class LocalOnlyFetcher(weasyprint.urls.URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)

        def fetch(self, url, headers=None):
            if not is_fetch_allowed(url):
                # weasyprint logs this and renders without the resource.
                raise ValueError(f"invoice PDFs load no external resources: {url[:100]}")
            return super().fetch(url, headers)

    return LocalOnlyFetcher


def invoice_pdf_context(snapshot: dict) -> dict:
    """The template context for an invoice snapshot: every value formatted for display, absent ones left out."""
    invoice = _mapping(snapshot.get("invoice"))
    seller = _mapping(snapshot.get("seller"))
    customer = _mapping(snapshot.get("customer"))
    currency = _text(invoice.get("currency")).upper()
    lines = [
        _line(_mapping(line), currency) for line in snapshot.get("lines") or [] if isinstance(line, dict)
    ]
    tax_exempt = invoice.get("taxExempt") is True
    tax_rate = format_tax_rate(invoice.get("taxRate"))
    number = _text(invoice.get("displayNumber")) or _text(invoice.get("id"))
    country = _text(_mapping(seller.get("address")).get("country")).upper()
    tax_amount = invoice.get("taxAmount")
    if tax_exempt and tax_amount is None:
        tax_amount = 0
    return {
        "number": number,
        "invoice_id": _text(invoice.get("id")),
        "currency": currency,
        "page_size": "letter" if country in LETTER_COUNTRIES else "A4",
        "issue_date": _date(invoice.get("issueDate") or invoice.get("postedDate")),
        "due_date": _date(invoice.get("dueDate")),
        "period": _period(invoice.get("periodStart"), invoice.get("periodEnd")),
        "seller": {
            "name": _text(seller.get("name")),
            "address_lines": _address_lines(seller.get("address")),
            "tax_id": _text(seller.get("taxId")),
        },
        "customer": {
            "name": _text(customer.get("name")),
            "address_lines": _address_lines(customer.get("address")),
            "email": _text(customer.get("email")),
            "external_id": _text(customer.get("externalId")),
        },
        "lines": lines,
        "show_line_tax": not tax_exempt and any(line["has_tax"] for line in lines),
        "subtotal": format_money(invoice.get("subtotal"), currency),
        "tax_exempt": tax_exempt,
        "tax_label": f"Tax ({tax_rate})" if tax_rate and not tax_exempt else "Tax",
        "tax_amount": format_money(tax_amount, currency),
        "total": format_money(invoice.get("total"), currency),
        "amount_paid": ""
        if invoice.get("amountPaid") is None
        else format_money(invoice.get("amountPaid"), currency),
        "amount_due": format_money(invoice.get("amountDue"), currency),
    }


def _line(line: dict, currency: str) -> dict:
    tax = to_decimal(line.get("tax"))
    return {
        "description": _text(line.get("description")),
        "period": _period(line.get("periodStart"), line.get("periodEnd")),
        "quantity": format_quantity(line.get("quantity")),
        "unit_price": format_unit_price(line.get("unitPrice"), currency),
        "amount": format_money(line.get("amount"), currency),
        "tax": format_money(tax, currency),
        "has_tax": bool(tax),
    }


def _address_lines(address) -> list[str]:
    """A postal address as printed lines: street lines, "City, State Postcode", country; blanks skipped."""
    address = _mapping(address)
    locality = ", ".join(
        part
        for part in (
            _text(address.get("city")),
            " ".join(p for p in (_text(address.get("state")), _text(address.get("postalCode"))) if p),
        )
        if part
    )
    parts = (
        _text(address.get("line1")),
        _text(address.get("line2")),
        locality,
        _text(address.get("country")),
    )
    return [part for part in parts if part]


def _date(value) -> str:
    return format_date(value) if value else ""


def _period(start, end) -> str:
    """The period, wrapping only at its dash: each date is kept on one line with no-break spaces."""
    if not (start or end):
        return ""
    separator = f" {DASH} "
    return separator.join(part.replace(" ", "\u00a0") for part in format_period(start, end).split(separator))


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()
