"""Invoice PDFs rendered from a posted invoice's snapshot (apps.billing.pdf).

The PDFs are read back with poppler's pdftotext/pdffonts/pdfinfo (poppler-utils, which .ci/run installs); without
them the tests fail: they are the only way to see what the PDF says."""

import copy
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from apps.billing.pdf import (
    html_to_pdf,
    invoice_pdf_context,
    is_fetch_allowed,
    render_invoice_html,
    render_invoice_pdf,
)


def snapshot(**invoice_changes) -> dict:
    subtotal = 4900 + 308642 + 18750
    tax = 404 + 25463 + 1547
    return {
        "invoice": {
            "id": "inv_01JH3Q7ZK4",
            "displayNumber": "INV-0001",
            "issueDate": "2025-02-01T00:00:00Z",
            "postedDate": "2025-02-01T00:05:00Z",
            "dueDate": "2025-03-03T00:00:00Z",
            "periodStart": "2025-01-01T00:00:00Z",
            "periodEnd": "2025-02-01T00:00:00Z",
            "currency": "USD",
            "taxRate": "8.25",
            "taxExempt": False,
            "subtotal": subtotal,
            "taxAmount": tax,
            "total": subtotal + tax,
            "amountPaid": 100000,
            "amountDue": subtotal + tax - 100000,
            "publicUrlToken": "pub_tok_123",
            **invoice_changes,
        },
        "seller": {
            "name": "Acme Agents Inc.",
            "address": {
                "line1": "500 Market Street",
                "line2": "Suite 200",
                "city": "San Francisco",
                "state": "CA",
                "postalCode": "94105",
                "country": "US",
            },
            "taxId": "EIN 12-3456789",
        },
        "customer": {
            "id": "cus_9",
            "name": "Globex Corporation",
            "externalId": "acct-42",
            "email": "ap@globex.example",
            "address": {
                "line1": "1 Globex Way",
                "line2": None,
                "city": "Springfield",
                "state": "OR",
                "postalCode": "97477",
                "country": "US",
            },
        },
        "lines": [
            {
                "description": "Pro plan",
                "periodStart": "2025-01-01T00:00:00Z",
                "periodEnd": "2025-02-01T00:00:00Z",
                "quantity": "1",
                "unitPrice": "4900",
                "amount": 4900,
                "tax": 404,
            },
            {
                "description": "Agent runs",
                "periodStart": "2025-01-01T00:00:00Z",
                "periodEnd": "2025-02-01T00:00:00Z",
                "quantity": "1234567",
                "unitPrice": "0.25",
                "amount": 308642,
                "tax": 25463,
            },
            {
                "description": "Seats",
                "periodStart": "2024-12-15",
                "periodEnd": "2025-01-15",
                "quantity": "12.5",
                "unitPrice": "1500.0000",
                "amount": 18750,
                "tax": 1547,
            },
        ],
    }


# ---- reading PDFs back ----------------------------------------------------------------------------------------


def _poppler(tool: str, pdf: bytes, *args: str, stdout: bool = True) -> str:
    """Run a poppler-utils tool (.ci/run installs them) on the PDF; a missing tool fails the test."""
    executable = shutil.which(tool)
    if executable is None:
        pytest.fail(f"reading PDFs back needs poppler-utils ({tool})")
    command = [executable, *args, "-", "-"] if stdout else [executable, *args, "-"]
    return subprocess.run(command, input=pdf, capture_output=True, check=True).stdout.decode()


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page, whitespace runs (wrapped lines, no-break spaces) made single spaces."""
    pages = _poppler("pdftotext", pdf, "-enc", "UTF-8").split("\f")[:-1]
    return [" ".join(page.split()) for page in pages]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(pdf_pages(pdf))


def pdf_fonts(pdf: bytes) -> list[str]:
    """Names of the fonts embedded in the PDF (subset prefixes kept)."""
    output = _poppler("pdffonts", pdf, stdout=False)
    return [line.split()[0] for line in output.splitlines()[2:] if line.strip()]


def pdf_page_size(pdf: bytes) -> tuple[int, int]:
    """The first page's width and height in points, rounded."""
    output = _poppler("pdfinfo", pdf, stdout=False)
    line = next(line for line in output.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split(":", 1)[1].split()[:3]
    return round(float(width)), round(float(height))


# ---- content ------------------------------------------------------------------------------------------------


def test_pdf_shows_every_field_of_the_snapshot():
    pdf = render_invoice_pdf(snapshot())

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    expected = [
        # seller
        "Acme Agents Inc.",
        "500 Market Street",
        "Suite 200",
        "San Francisco, CA 94105",
        "Tax ID: EIN 12-3456789",
        # document
        "Invoice",
        "INV-0001",
        "Issue date",
        "Feb 1, 2025",
        "Due date",
        "Mar 3, 2025",
        "Billing period",
        "Jan 1 \u2013 Jan 31, 2025",
        # customer
        "Bill to",
        "Globex Corporation",
        "1 Globex Way",
        "Springfield, OR 97477",
        "ap@globex.example",
        "acct-42",
        # lines: description, period, quantity, unit price (sub-cent kept), tax, amount
        "Pro plan",
        "$49.00",
        "$4.04",
        "Agent runs",
        "1,234,567",
        "$0.0025",
        "$254.63",
        "$3,086.42",
        "Seats",
        "Dec 15, 2024 \u2013 Jan 14, 2025",
        "12.5",
        "$15.00",
        "$187.50",
        # totals
        "Subtotal",
        "$3,322.92",
        "Tax (8.25%)",
        "$274.14",
        "Total",
        "$3,597.06",
        "Amount paid",
        "$1,000.00",
        "Amount due",
        "$2,597.06",
        # footer
        "inv_01JH3Q7ZK4",
        "Page 1 of 1",
    ]
    missing = [item for item in expected if item.lower() not in text.lower()]
    assert not missing, f"missing from the PDF: {missing}\n---\n{text}"
    assert "pub_tok_123" not in text  # the public link's secret is not printed


def test_tax_exempt_invoice_says_so_and_shows_no_rate():
    data = snapshot(taxExempt=True, taxRate="8.25", taxAmount=0, total=332292, amountPaid=0, amountDue=332292)
    for line in data["lines"]:
        line["tax"] = 0

    text = pdf_text(render_invoice_pdf(data))

    assert "Tax exempt" in text
    assert "8.25%" not in text
    assert "$3,322.92" in text
    context = invoice_pdf_context(data)
    assert context["tax_exempt"] and not context["show_line_tax"]


def test_hundred_lines_paginate_with_the_table_header_on_every_page():
    data = snapshot()
    template = data["lines"][0]
    data["lines"] = [{**copy.deepcopy(template), "description": f"Line item {n:03d}"} for n in range(1, 101)]

    pages = pdf_pages(render_invoice_pdf(data))

    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert "DESCRIPTION" in page.upper() and "UNIT PRICE" in page.upper(), (
            f"no table header on page {number}"
        )
        assert f"Page {number} of {len(pages)}" in page
        assert "INV-0001" in page  # the running footer
    text = "\n".join(pages)
    for n in range(1, 101):
        assert text.count(f"Line item {n:03d}") == 1
    assert "Amount due" in pages[-1] and "Subtotal" in pages[-1]


def test_unicode_names_render_with_a_font_that_has_their_glyphs():
    data = snapshot()
    data["seller"]["address"]["city"] = "Zürich"
    data["customer"]["name"] = "株式会社テスト"
    data["lines"][0]["description"] = "Größe — ½ Ångström naïve"

    pdf = render_invoice_pdf(data)

    text = pdf_text(pdf)
    assert "Zürich" in text and "株式会社テスト" in text and "Größe — ½ Ångström naïve" in text
    # Without a CJK font, Pango draws boxes yet the text still extracts; the embedded fonts tell the difference.
    fonts = pdf_fonts(pdf)
    assert any("DejaVu" not in font for font in fonts), (
        f"no font with CJK glyphs was embedded ({fonts}); install one (Debian: fonts-noto-cjk)"
    )


def test_jpy_amounts_have_no_decimals():
    data = snapshot(
        currency="JPY", subtotal=150000, taxAmount=0, total=150000, amountPaid=None, amountDue=150000
    )
    data["lines"] = [
        {"description": "Tokens", "quantity": "3", "unitPrice": "50000", "amount": 150000, "tax": 0}
    ]

    text = pdf_text(render_invoice_pdf(data))

    assert "¥150,000" in text and "¥50,000" in text
    assert "¥150,000.00" not in text
    assert "Amount paid" not in text  # absent, not shown as zero


def test_missing_optional_fields_still_render():
    bare = {
        "invoice": {"id": "inv_bare", "currency": "EUR", "subtotal": 0, "total": 0, "amountDue": 0},
        "seller": {"name": None, "address": None, "taxId": None},
        "customer": {"name": "Solo", "address": {"line1": None}, "email": None, "externalId": None},
        "lines": [{"description": None, "quantity": None, "unitPrice": None, "amount": None}],
    }
    for data in (bare, {}, {"invoice": None, "seller": None, "customer": None, "lines": None}):
        pdf = render_invoice_pdf(data)
        assert pdf.startswith(b"%PDF-")
        text = pdf_text(pdf)
        assert "Invoice" in text and "Amount due" in text
        assert "None" not in text

    text = pdf_text(render_invoice_pdf(bare))
    assert "inv_bare" in text  # the id stands in for the missing display number
    assert "€0.00" in text and "Solo" in text
    assert "Tax ID" not in text and "Due date" not in text and "Billing period" not in text
    assert "No line items" in pdf_text(render_invoice_pdf({}))


def test_page_size_follows_the_seller_country():
    us = snapshot()
    swiss = snapshot()
    swiss["seller"]["address"]["country"] = "CH"

    assert pdf_page_size(render_invoice_pdf(us)) == (612, 792)  # US Letter
    assert pdf_page_size(render_invoice_pdf(swiss)) == (595, 842)  # A4


# ---- safety: escaping and no network ---------------------------------------------------------------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def trap_server():
    """A loopback HTTP server that records every request it gets; rendering must send it none."""
    _CountingHandler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.hits
    server.shutdown()
    server.server_close()


def test_markup_in_snapshot_text_is_escaped_not_fetched(trap_server):
    url, hits = trap_server
    data = snapshot()
    data["lines"][0]["description"] = f'<img src="{url}/pixel.png"> & <b>bold</b>'
    data["customer"]["name"] = f"<link rel=stylesheet href={url}/x.css>"

    html = render_invoice_html(data)
    pdf = render_invoice_pdf(data)

    assert "<img" not in html and "&lt;img" in html
    # Long tokens wrap anywhere, so compare with whitespace removed.
    squeezed = "".join(pdf_text(pdf).split())
    assert f'<imgsrc="{url}/pixel.png">&<b>bold</b>' in squeezed
    assert f"<linkrel=stylesheethref={url}/x.css>" in squeezed
    assert hits == []


def test_rendering_never_fetches_remote_or_local_files(trap_server, caplog):
    url, hits = trap_server
    html = f"""<html><head>
      <link rel="stylesheet" href="{url}/style.css">
      <style>@import url("{url}/import.css");
             @font-face {{ font-family: Remote; src: url("{url}/font.woff2"); }}
             body {{ font-family: Remote; background: url("{url}/bg.png"); }}</style>
      </head><body><p>Still renders</p><img src="{url}/img.png"><img src="//127.0.0.1/x.png">
      <img src="file:///etc/hostname"><object data="{url}/obj.svg"></object></body></html>"""

    pdf = html_to_pdf(html)

    assert pdf.startswith(b"%PDF-") and "Still renders" in pdf_text(pdf)
    assert hits == []
    assert "invoice PDFs load no external resources" in caplog.text


def test_only_data_urls_and_shipped_static_files_may_be_fetched():
    static = Path(settings.STATICFILES_DIRS[0]).resolve()
    shipped = next(path for path in static.rglob("*") if path.is_file())

    assert is_fetch_allowed("data:image/png;base64,iVBORw0KGgo=")
    assert is_fetch_allowed(shipped.as_uri())
    for url in (
        "http://127.0.0.1/x.png",
        "https://example.com/font.woff2",
        "ftp://example.com/x",
        "file:///etc/passwd",
        (static / ".." / "config" / "settings.py").as_uri(),
        (static / "missing.css").as_uri(),
        f"file://otherhost{shipped}",
        "javascript:alert(1)",
        "//example.com/x.png",
        "",
    ):
        assert not is_fetch_allowed(url), url


def test_importing_the_pdf_module_does_not_load_weasyprint():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "django.setup(); import apps.billing.pdf; sys.exit('weasyprint' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# ---- the template context -----------------------------------------------------------------------------------


def test_context_formats_values_and_leaves_absent_ones_out():
    context = invoice_pdf_context(snapshot())

    assert context["number"] == "INV-0001"
    assert context["seller"]["address_lines"] == [
        "500 Market Street",
        "Suite 200",
        "San Francisco, CA 94105",
        "US",
    ]
    assert context["lines"][1]["unit_price"] == "$0.0025"
    assert context["lines"][2]["unit_price"] == "$15.00"
    assert context["lines"][2]["quantity"] == "12.5"
    assert context["lines"][2]["period"] == "Dec\u00a015,\u00a02024 \u2013 Jan\u00a014,\u00a02025"
    assert context["show_line_tax"] is True
    assert context["tax_label"] == "Tax (8.25%)"

    no_line_tax = snapshot(amountPaid=None)
    for line in no_line_tax["lines"]:
        line["tax"] = None
    context = invoice_pdf_context(no_line_tax)
    assert context["show_line_tax"] is False
    assert context["amount_paid"] == ""


def test_floats_in_a_snapshot_are_refused():
    with pytest.raises(TypeError):
        invoice_pdf_context(snapshot(total=3597.06))
