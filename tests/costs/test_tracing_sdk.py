"""Issue 8 item 6: the real `paid-python` tracing against a live Tally.

`initialize_tracing` exports to the live server's `/v1/traces`, `paid_autoinstrument(["openai"])` traces the
`openai` client, which calls a small local OpenAI-compatible server; inside `paid_tracing(...)` a
`cost_attributed_signal` goes to the live server's REST API. The server must then hold a priced cost record for
the customer, carrying the signal's scope and linked to it."""

import importlib
import json
import signal as os_signal
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from django.test import Client
from django.utils import timezone
from opentelemetry.trace import NoOpTracerProvider
from paid import Paid
from paid.tracing import (
    autoinstrumentation,
    cost_attributed_signal,
    initialize_tracing,
    paid_autoinstrument,
    paid_tracing,
    tracing,
)

from apps.catalog.services import product_create
from apps.costs.margins import margin_report
from apps.costs.models import CostRecord
from apps.costs.pricing import PRICE_TABLE_VERSION
from apps.customers.services import customer_create
from apps.signals.models import Signal
from tests.billing.fixtures import fee, line, make_order

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETION = {
    "id": "chatcmpl-test",
    "object": "chat.completion",
    "created": 1748779200,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from the fake model."},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 200},
    },
}


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(COMPLETION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def paid_tracing_isolated(monkeypatch):
    """The SDK's tracing is process-global (a module-level provider, token, instrumented `openai`, signal
    handlers, an atexit flush): undo all of it after the test so no other test exports spans or sees a patched
    client. The atexit hook is not installed at all (the test flushes itself)."""
    monkeypatch.setattr(tracing.atexit, "register", lambda *args, **kwargs: None)
    # `cost_attributed_signal` makes its own `Paid` client; give it an httpx session closed after the test (a
    # keep-alive connection left open makes the live server's thread touch the test database after the test).
    sessions = []

    def paid_client(**kwargs):
        sessions.append(httpx.Client(timeout=30, follow_redirects=True))
        return Paid(**kwargs, httpx_client=sessions[-1])

    # (`paid.tracing.signal` the attribute is the deprecated function; the module is reached by name.)
    monkeypatch.setattr(importlib.import_module("paid.tracing.signal"), "Paid", paid_client)
    handlers = {sig: os_signal.getsignal(sig) for sig in (os_signal.SIGINT, os_signal.SIGTERM)}
    yield
    provider = tracing.paid_tracer_provider
    if not isinstance(provider, NoOpTracerProvider):
        provider.shutdown()
    if "openai" in autoinstrumentation._initialized_instrumentors:
        from openinference.instrumentation.openai import OpenAIInstrumentor
        from paid.tracing.openai_patches.patches import uninstrument_openai

        uninstrument_openai()
        OpenAIInstrumentor().uninstrument()
    autoinstrumentation._initialized_instrumentors.clear()
    tracing.paid_tracer_provider = NoOpTracerProvider()
    tracing._TokenStore._TokenStore__token = None
    for session in sessions:
        session.close()
    for sig, handler in handlers.items():
        os_signal.signal(sig, handler)


def test_traced_openai_call_is_priced_attributed_and_linked(
    live_server, organization, api_key, fake_openai, paid_tracing_isolated
):
    customer = customer_create(organization=organization, name="Acme", external_id="acme")
    product = product_create(organization=organization, name="Chatbot", external_id="chatbot")
    # Acme pays a $500 monthly fee for the chatbot; the order's first invoice (the fee, in advance) is posted
    # as it activates: the revenue the margin page sets against the traced call's cost.
    start = timezone.now().replace(microsecond=0)
    make_order(organization, customer, line(product, fee()), start=start, auto_post_invoices=True)

    initialize_tracing(api_key, collector_endpoint=f"{live_server.url}/v1/traces")
    paid_autoinstrument(["openai"])
    llm = openai.OpenAI(api_key="sk-test", base_url=fake_openai, max_retries=0)
    with paid_tracing("acme", external_product_id="chatbot"):
        reply = llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "Hello from the fake model."
        sent = cost_attributed_signal("chat_message", base_url_override=f"{live_server.url}/api/v2")
    assert sent.ingested == 1
    assert tracing.paid_tracer_provider.force_flush(10_000)

    signal = Signal.objects.get(organization=organization, event_name="chat_message")
    scope = signal.data["paid"]["paid_scope_id"]
    record = CostRecord.objects.get(organization=organization)
    assert record.source == "span" and record.kind == "usage"
    assert (record.vendor, record.model) == ("openai", "gpt-4o-mini-2024-07-18")
    # OpenAI's prompt_tokens include the cached ones: stored as non-cached input + cache reads.
    assert (record.input_tokens, record.cache_read_tokens, record.output_tokens) == (1000, 200, 300)
    assert record.price_status == "priced" and record.price_version == PRICE_TABLE_VERSION
    expected = (1000 * Decimal("0.15") + 200 * Decimal("0.075") + 300 * Decimal("0.6")) / 1_000_000
    assert record.amount == expected and record.currency == "USD"
    assert (record.customer_id, record.external_customer_id) == (customer.pk, "acme")
    assert (record.product_id, record.external_product_id) == (product.pk, "chatbot")
    assert record.paid_scope_id == scope
    assert len(record.trace_id) == 32 and len(record.span_id) == 16
    assert record.signal_id == signal.pk
    signal.refresh_from_db()
    assert signal.trace_id == record.trace_id  # SignalListItem.traceId

    # The margin page: the fee's revenue against the call's cost, for Acme.
    end = start + timedelta(days=40)
    [row] = margin_report(organization=organization, start=start, end=end, group_by="customer").rows
    assert (row.label, row.revenue, row.cost) == ("Acme", Decimal("500.00"), expected), row
    dashboard = Client()
    assert dashboard.login(username="owner@acme.test", password="acme-pass-123")
    period = f"start={start:%Y-%m-%d}&end={end:%Y-%m-%d}"
    page = dashboard.get(f"/costs/margins/customers/{customer.display_id}/?{period}")
    assert page.status_code == 200 and "$500.00" in page.content.decode()
