"""Dashboard pages for signals: the list (newest first, filters, pagination), the live stream of new signals, the
detail page, navigation, tenancy and login."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from apps.catalog.services import product_create
from apps.customers.services import customer_create
from apps.signals.models import Signal
from apps.signals.services import signal_ingest
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest(organization):
    def _ingest(event="chat", customer="acme", product=None, data=None, org=None, **extra):
        item = {"eventName": event, "customer": {"externalCustomerId": customer}, **extra}
        if product:
            item["attribution"] = {"externalProductId": product}
        if data is not None:
            item["data"] = data
        result = signal_ingest(organization=org or organization, signals=[item])
        assert result.ingested == 1, result
        return Signal.objects.filter(organization=org or organization).latest("id")

    return _ingest


def _events(response) -> list[str]:
    return re.findall(
        r'class="table__primary" href="/signals/sig_\w+/">([^<]+)</a>', response.content.decode()
    )


def test_list_is_newest_first_with_customer_product_and_data(dashboard, organization, ingest):
    customer_create(organization=organization, name="Acme Corp", external_id="acme")
    product_create(organization=organization, name="Voice agent", external_id="voice")
    ingest("first", product="voice", data={"minutes": 3})
    ingest("second", customer="ghost", product="nope")

    page = dashboard.get("/signals/")
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert _events(page) == ["second", "first"]
    assert "Acme Corp" in html and "Voice agent" in html
    assert "<code>ghost</code>" in html and "<code>nope</code>" in html and "not found" in html
    assert "{&quot;minutes&quot;: 3}" in html
    assert 'aria-current="page"' in html and 'href="/meters/"' in html  # the nav links

    partial = dashboard.get("/signals/", headers=HTMX)
    assert "<html" not in partial.content.decode() and _events(partial) == ["second", "first"]
    assert "HX-Request" in partial["Vary"]


def test_filters(dashboard, organization, ingest):
    acme = customer_create(organization=organization, name="Acme", external_id="acme")
    voice = product_create(organization=organization, name="Voice", external_id="voice")
    ingest("call", product="voice", data={"n": 1})
    ingest("chat", customer="ghost")
    invalid = ingest("call", customer="ghost", product="later")
    Signal.objects.filter(pk=invalid.pk).update(rating="invalid", rating_error="no quantity")
    old = ingest("old")
    Signal.objects.filter(pk=old.pk).update(created_at=datetime(2026, 1, 5, 12, tzinfo=UTC))

    def events(**query):
        return _events(dashboard.get("/signals/", query, headers=HTMX))

    assert events(event="call") == ["call", "call"]
    assert events(customer=acme.display_id) == ["call", "old"]
    assert events(customer="ghost") == ["call", "chat"]
    assert events(product=voice.display_id) == ["call"]
    assert events(attribution="resolved") == ["call", "old"]
    assert events(attribution="unresolved_customer") == ["call", "chat"]
    assert events(attribution="unresolved_product") == ["call"]
    assert events(rating="invalid") == ["call"]
    assert events(rating="pending", event="call") == ["call"]
    assert events(received_from="2026-01-05", received_to="2026-01-05") == ["old"]
    assert events(received_to="2026-01-04") == []
    assert "No signals match these filters" in dashboard.get("/signals/", {"event": "nope"}).content.decode()


def test_pages_of_25(dashboard, organization):
    signal_ingest(
        organization=organization,
        signals=[{"eventName": f"e{i:02}", "customer": {"externalCustomerId": "a"}} for i in range(30)],
    )
    first = dashboard.get("/signals/")
    assert len(_events(first)) == 25 and "Page 1 of 2" in first.content.decode()
    second = dashboard.get("/signals/", {"page": 2}, headers=HTMX)
    assert len(_events(second)) == 5
    assert 'id="signal-poller"' in first.content.decode()
    assert 'id="signal-poller"' not in second.content.decode()  # only the first page streams


def test_the_stream_returns_only_newer_signals_and_the_next_poller(dashboard, organization, ingest):
    shown = ingest("shown")
    page = dashboard.get("/signals/", {"event": "", "customer": "acme"}).content.decode()
    poller = re.search(r'<tr id="signal-poller"[^>]*hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert poller == f"/signals/stream/?customer=acme&after={shown.id}"
    assert 'hx-trigger="every 2s [tallyLive()]"' in page

    assert dashboard.get(poller, headers=HTMX).status_code == 204  # nothing new: htmx swaps nothing

    ingest("other customer", customer="globex")
    newer = ingest("new one")
    response = dashboard.get(poller, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert _events(response) == ["new one"]  # the filters apply to the stream too
    assert 'class="signal-row is-new"' in html
    assert f"after={newer.id}" in re.search(r'<tr id="signal-poller"[^>]*>', html).group(0)
    assert html.index('id="signal-poller"') < html.index("new one")  # the poller stays first


def test_the_stream_sends_at_most_a_batch_and_says_how_many_more(dashboard, organization):
    signal_ingest(
        organization=organization,
        signals=[{"eventName": f"e{i}", "customer": {"externalCustomerId": "a"}} for i in range(53)],
    )
    response = dashboard.get("/signals/stream/", {"after": 0}, headers=HTMX)
    assert len(_events(response)) == 50
    assert "3 more new signals arrived at once" in response.content.decode()
    assert dashboard.get("/signals/stream/", {"after": "junk"}, headers=HTMX).status_code == 200


def test_detail_shows_data_raw_ids_resolution_and_rating(dashboard, organization, ingest):
    signal = ingest(
        "phone_call",
        customer="ghost",
        product="voice",
        data={"call_completed": True, "agent": {"name": "Ada"}},
        idempotencyKey="call-1",
    )
    Signal.objects.filter(pk=signal.pk).update(rating="invalid", rating_error="duration_minutes is missing")
    html = dashboard.get(f"/signals/{signal.display_id}/").content.decode()
    pretty = html.replace("&quot;", '"')  # key order is PostgreSQL's (jsonb) or as sent (SQLite)
    assert '\n  "agent": {\n    "name": "Ada"\n  }' in pretty and '\n  "call_completed": true' in pretty
    assert "<code>ghost</code>" in html and "<code>call-1</code>" in html and "<code>voice</code>" in html
    assert "Not found" in html and "duration_minutes is missing" in html and ">Invalid<" in html

    customer = customer_create(organization=organization, name="Acme", external_id="acme")
    resolved = ingest("chat", data={})
    html = dashboard.get(f"/signals/{resolved.display_id}/").content.decode()
    assert f'href="/customers/{customer.display_id}/"' in html and "<pre" in html and "{}</pre>" in html
    no_data = ingest("bare")
    assert b"sent without data" in dashboard.get(f"/signals/{no_data.display_id}/").content


def test_another_organizations_signal_is_not_found(dashboard, other_organization, ingest):
    theirs = ingest("theirs", org=other_organization)
    assert dashboard.get(f"/signals/{theirs.display_id}/").status_code == 404
    assert _events(dashboard.get("/signals/")) == []
    assert dashboard.get("/signals/stream/", {"after": 0}, headers=HTMX).status_code == 204


def test_pages_need_a_login(client):
    for url in ("/signals/", "/signals/stream/", "/signals/sig_x/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_stream_is_a_page_one_thing_even_when_empty(dashboard):
    html = dashboard.get("/signals/").content.decode()
    assert "No signals yet." in html and "New ones appear here as they arrive." in html
    assert 'id="signal-poller"' in html and 'hx-get="/signals/stream/?after=0"' in html


def test_timestamps_are_shown_as_received_and_happened(dashboard, ingest):
    signal = ingest("late", timestamp=(datetime.now(UTC) - timedelta(days=2)).isoformat())
    html = dashboard.get(f"/signals/{signal.display_id}/").content.decode()
    assert "Happened" in html and "Received" in html
