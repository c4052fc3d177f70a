"""Dashboard pages for credits: a customer's Credits tab (balances per currency and pool with their lots, low
balance marks, pending consumption and pending lots, the ledger with its filters and pages, the manual grant form
and its double-submit guard) and the "what this signal spent" panel of the signal page; tenancy and login."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.services import credit_currency_create, product_attributes_upsert, product_create
from apps.credits import services
from apps.credits.models import CreditEntry, CreditGrant, CreditPool
from apps.credits.views import balance_level
from apps.customers.services import customer_create
from apps.orders.selectors import order_seat_list
from apps.orders.services import order_create, order_seat_assign
from apps.rating.services import rating_run
from apps.signals.models import Signal
from apps.signals.services import signal_ingest
from tests.credits.conftest import active_order, benefit, fee_line, seats_line, user
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def chat(organization):
    return credit_currency_create(organization=organization, name="Chat credits", key="chat_credits")


@pytest.fixture
def voice(organization):
    return credit_currency_create(organization=organization, name="Voice minutes", key="voice_minutes")


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme", default_currency="USD")


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="ChatBot", external_id="chatbot")


def grant(organization, customer, amount, key="chat_credits", **fields):
    return services.credit_grant_manual(
        organization=organization, customer=customer, credit_currency_key=key, amount=D(amount), **fields
    ).grant


def spend(organization, customer, currency, amount, **fields):
    return services.credit_consume(
        organization=organization, customer=customer, credits_currency=currency, amount=D(amount), **fields
    )


def page_url(customer) -> str:
    return f"/credits/customers/{customer.display_id}/"


def text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def pool_rows(html: str) -> list[tuple[str, str]]:
    """(level, text) of every pool row of the balances tables, in page order."""
    return [
        (level, text(row))
        for level, row in re.findall(
            r'<tr class="credit-pool credit-pool--(\w+)"[^>]*>(.*?)</tr>', html, re.S
        )
    ]


def ledger_ids(html: str) -> list[str]:
    """The transaction ids of the ledger table's rows, top to bottom."""
    body = html.split('class="table ledger-table"', 1)[1] if "ledger-table" in html else ""
    return re.findall(r'<td class="hide-sm"><code class="id">((?:ctx|cgr)_\w+)</code></td>', body)


def grant_post(dashboard, customer, key="form-key-1", headers=None, **fields):
    data = {"credit_currency_key": "chat_credits", "amount": "250", "idempotency_key": key, **fields}
    return dashboard.post(f"/credits/customers/{customer.display_id}/grant/", data, headers=headers or {})


# --- the tab ---------------------------------------------------------------------------------------------------


def test_customer_page_links_to_its_credits_tab(dashboard, customer):
    html = dashboard.get(f"/customers/{customer.display_id}/").content.decode()
    assert f'href="{page_url(customer)}"' in html and ">Credits</a>" in html
    page = dashboard.get(page_url(customer))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/customers/{customer.display_id}/"' in html  # back to the overview tab
    assert "No credits yet." in html and "The ledger is empty." in html


def test_balances_per_currency_and_pool_with_their_lots(
    dashboard, organization, customer, chat, voice, product
):
    # Organization pool: a benefit of 500 (rolls over up to 100) and a manual grant of 200 that never expires.
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(chat, 500, rollover_amount=100)),
        seats_line(product, 2, benefit(chat, 50, id="s", recipient="seat")),
        start=NOW - timedelta(days=5),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id)
    grant(organization, customer, "200.5")
    grant(organization, customer, 30, key="voice_minutes", expires_at=NOW + timedelta(days=10))
    user(customer, "ann")
    first, _ = order_seat_list(order=order)
    order_seat_assign(order=order, seat_id=str(first.pk), user_external_id="ann")
    spend(organization, customer, chat, 120, signal_id=None)  # drains the benefit lot first (it expires)
    spend(organization, customer, chat, 20, signal_id=None, external_user_id="ann")  # ann's seat pool

    html = dashboard.get(page_url(customer)).content.decode()
    rows = pool_rows(html)
    assert [row[1].split(" ")[0] for row in rows] == ["Organization", "Seat", "Unassigned", "Organization"]
    org_chat, ann, unassigned, org_voice = rows
    # available / used / total, then its lots
    assert "Organization Shared by the whole customer 580.5 120 700.5" in org_chat[1]
    assert "380 of 500 expires Apr 10, 2026, 12:00" in org_chat[1]
    assert "up to 100 rolls over, usable until May 10, 2026" in org_chat[1]
    assert "200.5 of 200.5 never expires" in org_chat[1]
    assert ann[1].startswith("Seat · ann ann · ChatBot seat") and "30 20 50" in ann[1]
    assert "50 0 50" in unassigned[1]
    assert "30 0 30" in org_voice[1] and "expires Mar 25, 2026" in org_voice[1]
    assert [row[0] for row in rows] == ["ok", "ok", "ok", "ok"]
    # one card per currency, in the order the currencies were made
    assert html.index("Chat credits <code") < html.index("Voice minutes <code")


@pytest.mark.parametrize(
    ("available", "total", "level"),
    [
        ("0", "100", "depleted"),
        ("0", "0", "depleted"),
        ("9.99", "100", "low"),
        ("10", "100", "ok"),
        ("1", "1", "ok"),
    ],
)
def test_balance_level_rule(available, total, level):
    assert balance_level(available=D(available), total=D(total)) == level


def test_low_and_depleted_pools_are_highlighted(dashboard, organization, customer, chat, voice):
    grant(organization, customer, 100)
    spend(organization, customer, chat, 95, signal_id=None)
    grant(organization, customer, 10, key="voice_minutes")
    spend(organization, customer, voice, 10, signal_id=None)

    html = dashboard.get(page_url(customer)).content.decode()
    (low, low_text), (depleted, depleted_text) = pool_rows(html)
    assert (low, depleted) == ("low", "depleted")
    assert "Low" in low_text and "5 95 100" in low_text
    assert "Depleted" in depleted_text and "0 10 10" in depleted_text
    assert html.count("1 of 1 pool low or depleted") == 2
    assert "less than 10% of the live grants" in html  # the rule is written on the page

    grant(organization, customer, 900)  # 905 of 1,000 left: fine again
    (level, row), _ = pool_rows(dashboard.get(page_url(customer)).content.decode())
    assert level == "ok" and "Low" not in row


def test_pending_consumption_and_lots_awaiting_an_invoice(
    dashboard, organization, customer, chat, voice, product
):
    # No voice pool yet: the consumption waits.
    spend(organization, customer, voice, "12.5", signal_id=None, event_name="call_minute")
    order = active_order(
        organization,
        customer,
        fee_line(product, benefit(chat, 300, credit_grant_timing="on_invoice_posted")),
        start=NOW - timedelta(days=1),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id)

    html = dashboard.get(page_url(customer)).content.decode()
    assert "1 waiting" in html
    pending = text(html.split('id="pending-consumption"', 1)[1].split("</section>", 1)[0])
    assert "call_minute" in pending and "12.5 Voice minutes" in pending
    [(level, row)] = pool_rows(html)
    assert level == "depleted" and "+300 Awaiting invoice" in row
    assert "Pending grant" in html  # …and the pending lot is in the ledger


# --- the ledger ------------------------------------------------------------------------------------------------


@pytest.fixture
def ledger(organization, customer, chat, voice, product):
    """Entries over three days in two currencies, an organization pool and a seat pool."""
    order = active_order(
        organization,
        customer,
        seats_line(product, 1, benefit(chat, 40, id="s", recipient="seat")),
        start=NOW - timedelta(days=20),
    )
    user(customer, "ann")
    [seat] = order_seat_list(order=order)
    order_seat_assign(order=order, seat_id=str(seat.pk), user_external_id="ann")
    ids = {}
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        services.credit_order_grants_due(organization=organization, order_id=order.display_id)
        ids["seat_grant"] = CreditEntry.objects.get(pool__seat=seat).display_id
        lot = grant(organization, customer, 100, expires_at=NOW - timedelta(hours=1))
        ids["chat_grant"] = CreditEntry.objects.get(grant=lot, kind="grant").display_id
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        spend(organization, customer, chat, 5, signal_id=None, external_user_id="ann")
        spend(organization, customer, chat, 30, signal_id=None)
        grant(organization, customer, 7, key="voice_minutes")
    services.credit_expire_due()  # the 100-credit lot expired an hour ago: 70 expire
    entries = {
        e.kind + ":" + e.pool.recipient + ":" + e.credits_currency.key: e.display_id
        for e in CreditEntry.objects.all()
    }
    return seat, entries | ids


def test_ledger_lists_every_entry_newest_first(dashboard, customer, ledger):
    _, ids = ledger
    html = dashboard.get(page_url(customer)).content.decode()
    assert ledger_ids(html) == [
        ids["expiry:organization:chat_credits"],
        ids["grant:organization:voice_minutes"],
        ids["spend:organization:chat_credits"],
        ids["spend:seat:chat_credits"],
        ids["chat_grant"],
        ids["seat_grant"],
    ]
    table = text(html.split('class="table ledger-table"', 1)[1])
    assert "Expiry Organization -70 Chat credits 0 Unused credits expired" in table
    assert "Spend Organization -30 Chat credits 70" in table
    assert "Spend Seat · ann -5 Chat credits 35" in table
    assert "Grant Organization +100 Chat credits 100 Manual grant" in table
    assert "Grant Seat · ann +40 Chat credits 40 Credit benefit of ChatBot" in table


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("currency=VOICE", ["grant:organization:voice_minutes"]),
        ("kind=spend", ["spend:organization:chat_credits", "spend:seat:chat_credits"]),
        ("kind=expiry", ["expiry:organization:chat_credits"]),
        ("pool=SEAT", ["spend:seat:chat_credits", "seat_grant"]),
        (
            "pool=org&currency=CHAT",
            ["expiry:organization:chat_credits", "spend:organization:chat_credits", "chat_grant"],
        ),
        (
            "date_from=2026-03-14&date_to=2026-03-14",
            [
                "grant:organization:voice_minutes",
                "spend:organization:chat_credits",
                "spend:seat:chat_credits",
            ],
        ),
        ("date_to=2026-03-13", ["chat_grant", "seat_grant"]),
        ("date_from=2026-03-15&kind=grant", []),
    ],
)
def test_ledger_filters(dashboard, customer, chat, voice, ledger, query, expected):
    seat, ids = ledger
    query = (
        query.replace("VOICE", voice.display_id)
        .replace("CHAT", chat.display_id)
        .replace("SEAT", str(seat.pk))
    )
    full = dashboard.get(f"{page_url(customer)}?{query}")
    assert ledger_ids(full.content.decode()) == [ids[name] for name in expected]
    partial = dashboard.get(f"{page_url(customer)}?{query}", headers=HTMX)
    html = partial.content.decode()
    assert "<html" not in html and "Balances" not in html and "HX-Request" in partial["Vary"]
    assert ledger_ids(html) == [ids[name] for name in expected]
    if not expected:
        assert "No ledger entries match these filters." in html


def test_ledger_filter_errors_are_shown_and_ignored(dashboard, customer, ledger):
    html = dashboard.get(
        f"{page_url(customer)}?pool=nope&date_from=2026-03-14&date_to=2026-03-01", headers=HTMX
    )
    html = html.content.decode()
    assert "Pool:" in html and "Select a valid choice" in html
    assert "Must be on or after the From date." in html
    assert len(ledger_ids(html)) == 4  # only the valid filter (from March 14) applies


def test_ledger_filter_form_offers_the_customers_currencies_and_pools(
    dashboard, customer, chat, voice, ledger
):
    html = dashboard.get(page_url(customer)).content.decode()
    seat, _ = ledger
    assert f'<option value="{chat.display_id}">Chat credits</option>' in html
    assert f'<option value="{voice.display_id}">Voice minutes</option>' in html
    assert '<option value="org">Organization</option>' in html
    assert f'<option value="{seat.pk}">Seat · ann</option>' in html
    assert 'hx-target="#ledger-results"' in html and 'hx-push-url="true"' in html


def test_ledger_pages(dashboard, organization, customer, chat):
    for day in range(30):
        with time_machine.travel(NOW - timedelta(days=30 - day), tick=False):
            grant(organization, customer, day + 1)
    first = dashboard.get(page_url(customer)).content.decode()
    amounts = re.findall(r"ledger-amount--in\">\+(\d+) ", first)
    assert amounts == [str(n) for n in range(30, 5, -1)]  # newest first, 25 a page
    assert "1\u201325 of 30" in first and "Page 1 of 2" in first and 'hx-target="#ledger-results"' in first
    second = dashboard.get(f"{page_url(customer)}?kind=grant&page=2", headers=HTMX).content.decode()
    assert re.findall(r"ledger-amount--in\">\+(\d+) ", second) == ["5", "4", "3", "2", "1"]
    assert "26\u201330 of 30" in second and "kind=grant&amp;page=1" in second  # the filters ride along


# --- the grant form --------------------------------------------------------------------------------------------


def test_grant_form_grants_into_the_organization_pool(dashboard, organization, customer, chat):
    page = dashboard.get(page_url(customer)).content.decode()
    assert 'name="idempotency_key"' in page and "Grant credits" in page
    response = grant_post(dashboard, customer, amount="250.75", expires_at="2026-06-30T18:00")
    assert response.status_code == 302 and response["Location"] == page_url(customer)
    pool = CreditPool.objects.get(customer=customer, seat__isnull=True)
    assert pool.balance == D("250.75")
    [lot] = CreditGrant.objects.filter(pool=pool)
    assert (lot.origin_code, lot.expires_at, lot.starts_at) == (
        "manual",
        datetime(2026, 6, 30, 18, tzinfo=UTC),
        NOW,
    )
    html = dashboard.get(page_url(customer)).content.decode()
    assert "Granted 250.75 Chat credits to Acme." in html
    assert "250.75 of 250.75 expires Jun 30, 2026, 18:00" in text(html)


def test_grant_form_over_htmx_redirects_the_page(dashboard, organization, customer, chat):
    response = dashboard.post(
        f"/credits/customers/{customer.display_id}/grant/",
        {"credit_currency_key": "chat_credits", "amount": "5", "idempotency_key": "k"},
        headers=HTMX,
    )
    assert response.status_code == 200 and response["HX-Redirect"] == page_url(customer)
    assert CreditPool.objects.get(customer=customer).balance == 5


def test_a_double_submit_grants_once(dashboard, organization, customer, chat):
    first = grant_post(dashboard, customer, key="same-form")
    second = grant_post(dashboard, customer, key="same-form")
    assert first.status_code == second.status_code == 302
    assert CreditGrant.objects.count() == 1 and CreditEntry.objects.count() == 1
    assert CreditPool.objects.get(customer=customer).balance == 250
    html = dashboard.get(page_url(customer)).content.decode()
    assert "was already made (the form was sent twice); nothing more was granted." in html
    # Each rendering of the form carries its own key.
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', html)
    again = re.findall(
        r'name="idempotency_key" value="([^"]+)"', dashboard.get(page_url(customer)).content.decode()
    )
    assert len(keys) == len(again) == 1 and keys != again


def test_the_same_form_sent_again_with_other_values_is_refused_with_a_new_key(
    dashboard, organization, customer, chat
):
    grant_post(dashboard, customer, key="used")
    response = grant_post(dashboard, customer, key="used", amount="999", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "already used to grant credits with other values" in html
    assert CreditPool.objects.get(customer=customer).balance == 250
    [key] = re.findall(r'name="idempotency_key" value="([^"]+)"', html)
    assert key != "used"
    grant_post(dashboard, customer, key=key, amount="999")  # submitting again now grants
    assert CreditPool.objects.get(customer=customer).balance == 1249


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": ""}, "amount", "This field is required."),
        ({"amount": "0"}, "amount", "Must be more than 0."),
        ({"amount": "1.0000001"}, "amount", "no more than 6 decimal places"),
        ({"amount": "abc"}, "amount", "Enter a number."),
        ({"credit_currency_key": ""}, "credit_currency_key", "This field is required."),
        ({"credit_currency_key": "gold"}, "credit_currency_key", "Select a valid choice"),
        ({"starts_at": "2026-03-16T12:00"}, "starts_at", "must be at or before the current time"),
        ({"expires_at": "2026-03-01T00:00"}, "expires_at", "must be in the future"),
        (
            {"starts_at": "2026-03-10T00:00", "expires_at": "2026-03-09T00:00"},
            "expires_at",
            "Must be after the start.",
        ),
        ({"expires_at": "tomorrow"}, "expires_at", "Enter a valid date/time."),
    ],
)
def test_grant_form_errors_sit_next_to_their_field(dashboard, customer, chat, voice, fields, field, message):
    for headers, whole_page in (({}, True), (HTMX, False)):
        response = grant_post(dashboard, customer, headers=headers, **fields)
        html = response.content.decode()
        assert response.status_code == 200 and ("<html" in html) is whole_page
        error = re.search(rf'<div class="field__error" id="id_{field}_error">(.*?)</div>', html, re.S)
        assert error and message in error.group(1), html
    assert not CreditPool.objects.exists() and not CreditGrant.objects.exists()


def test_grant_form_needs_an_active_currency(dashboard, customer):
    html = dashboard.get(page_url(customer)).content.decode()
    assert "There is no active credit currency to grant." in html and "Grant credits</button>" not in html


# --- what a signal spent ---------------------------------------------------------------------------------------


@pytest.fixture
def priced(organization, customer, chat, product):
    """An active order whose `chat_message` line burns 1.5 credits per message (no overage price)."""
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Chat",
                "pricing": {
                    "pricing_type": "UsagePrepaidCredits",
                    "event_name": "chat_message",
                    "credits_currency_id": chat.display_id,
                    "credit_cost": D("1.5"),
                },
            }
        ],
    )
    return order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": product.display_id}],
        start_date=NOW - timedelta(days=3),
        creation_state="active",
    )


def send(organization, event, data=None, customer="acme"):
    item = {"eventName": event, "customer": {"externalCustomerId": customer}, "timestamp": NOW.isoformat()}
    if data is not None:
        item["data"] = data
    assert signal_ingest(organization=organization, signals=[item]).ingested == 1
    return Signal.objects.filter(organization=organization).latest("id")


def spend_panel(dashboard, signal) -> str:
    response = dashboard.get(f"/credits/signals/{signal.display_id}/", headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_signal_page_loads_the_spend_panel(dashboard, organization, customer):
    signal = send(organization, "chat_message")
    html = dashboard.get(f"/signals/{signal.display_id}/").content.decode()
    assert f'hx-get="/credits/signals/{signal.display_id}/" hx-trigger="load"' in html


def test_signal_spend_panel_shows_usage_and_credits(dashboard, organization, customer, chat, priced):
    grant(organization, customer, 10)
    covered = send(organization, "chat_message", {"quantity": 5})
    rating_run(organization=organization)
    html = spend_panel(dashboard, covered)
    assert "<html" not in html and "hx-trigger" not in html  # rated: no more polling
    panel = text(html)
    assert f"ChatBot · Chat order {priced.name} 5 7.5 Chat credits" in panel
    entry = CreditEntry.objects.get(kind="spend")
    assert f"Organization Chat credits 7.5 7.5 0 Spent entry {entry.display_id} , balance after 2.5" in panel
    assert f"/credits/customers/{customer.display_id}/" in html

    # 2.5 left and no overage price: the pool gives what it has, the rest is unpriced overage.
    short = send(organization, "chat_message", {"quantity": 5})
    rating_run(organization=organization)
    panel = text(spend_panel(dashboard, short))
    assert "Organization Chat credits 7.5 2.5 5 no overage price Over balance" in panel


def test_signal_spend_panel_shows_overage_cost_and_pending(dashboard, organization, customer, chat, voice):
    signal = send(organization, "chat_message")
    grant(organization, customer, 1)
    spend(organization, customer, chat, 3, signal_id=signal.pk, allow_overage=True, overage_unit_price=2)
    spend(organization, customer, voice, 4, signal_id=signal.pk)  # no voice pool: pending
    Signal.objects.filter(pk=signal.pk).update(rating="rated")
    panel = text(spend_panel(dashboard, signal))
    assert "1 2 $0.04 at $0.02/credit Over balance" in panel
    assert "No pool yet Voice minutes 4 — 0 Pending waits for credits in its pool" in panel


def test_signal_spend_panel_before_and_without_rating(dashboard, organization, customer, priced):
    pending = send(organization, "chat_message")
    html = spend_panel(dashboard, pending)
    assert "Not rated yet" in html
    assert f'hx-get="/credits/signals/{pending.display_id}/" hx-trigger="load delay:3s"' in html

    skipped = send(organization, "email_sent")
    rating_run(organization=organization)
    html = spend_panel(dashboard, skipped)
    assert (
        "Nothing." in html and "no active order line of this customer prices &#x27;email_sent&#x27;" in html
    )

    rated = Signal.objects.get(pk=pending.pk)
    assert rated.rating == "rated"
    # Rated, but its line burns credits nobody granted: the consumption waits as pending.
    assert "Pending" in text(spend_panel(dashboard, rated))


def test_signal_spend_panel_without_htmx_is_a_page(dashboard, organization, customer):
    signal = send(organization, "chat_message")
    html = dashboard.get(f"/credits/signals/{signal.display_id}/").content.decode()
    assert "<html" in html and "What this signal spent" in html


# --- tenancy and login -----------------------------------------------------------------------------------------


def test_another_organizations_customer_and_signal_are_404(dashboard, other_organization):
    theirs = customer_create(organization=other_organization, name="Globex Co", external_id="globex")
    credit_currency_create(organization=other_organization, name="Gold", key="gold")
    assert dashboard.get(page_url(theirs)).status_code == 404
    assert dashboard.get(page_url(theirs), headers=HTMX).status_code == 404
    response = dashboard.post(
        f"/credits/customers/{theirs.display_id}/grant/",
        {"credit_currency_key": "gold", "amount": "5", "idempotency_key": "x"},
    )
    assert response.status_code == 404 and not CreditGrant.objects.exists()
    signal_ingest(
        organization=other_organization,
        signals=[{"eventName": "chat", "customer": {"externalCustomerId": "globex"}}],
    )
    signal = Signal.objects.get(organization=other_organization)
    assert dashboard.get(f"/credits/signals/{signal.display_id}/", headers=HTMX).status_code == 404
    assert dashboard.get("/credits/customers/cus_nope/").status_code == 404


def test_the_other_organizations_currency_cannot_be_granted(dashboard, other_organization, customer, chat):
    credit_currency_create(organization=other_organization, name="Gold", key="gold")
    html = dashboard.get(page_url(customer)).content.decode()
    assert 'value="gold"' not in html
    response = grant_post(dashboard, customer, credit_currency_key="gold")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not CreditGrant.objects.exists()


def test_credit_pages_need_a_login(client, customer):
    response = client.get(page_url(customer))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(f"/credits/customers/{customer.display_id}/grant/", {"amount": "1"})
    assert response.status_code == 302 and not CreditGrant.objects.exists()


def test_the_page_reads_a_fixed_number_of_queries(dashboard, organization, customer, chat, voice, product):
    """No query per pool, lot or ledger row: a bigger ledger and more seats cost no more queries."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert dashboard.get(page_url(customer)).status_code == 200
        return len(captured)

    order = active_order(
        organization,
        customer,
        seats_line(product, 1, benefit(chat, 40, id="s", recipient="seat")),
        start=NOW - timedelta(days=2),
    )
    services.credit_order_grants_due(organization=organization, order_id=order.display_id)
    grant(organization, customer, 5)
    small = queries()

    bigger = active_order(
        organization,
        customer,
        seats_line(product, 4, benefit(chat, 40, id="s", recipient="seat")),
        fee_line(product, benefit(voice, 10, credit_grant_timing="on_payment")),
        start=NOW - timedelta(days=2),
    )
    services.credit_order_grants_due(organization=organization, order_id=bigger.display_id)
    for name in ("ann", "bob", "cy"):
        user(customer, name)
    for seat, name in zip(order_seat_list(order=bigger), ("ann", "bob", "cy"), strict=False):
        order_seat_assign(order=bigger, seat_id=str(seat.pk), user_external_id=name)
    for _ in range(30):
        grant(organization, customer, 1)
        spend(organization, customer, chat, 1, signal_id=None, external_user_id="bob")
    spend(organization, customer, voice, 50, signal_id=None)  # pending
    assert queries() == small


def test_reversals_are_linked_both_ways(dashboard, organization, customer, chat):
    grant(organization, customer, 10)
    signal = send(organization, "chat_message")
    spend(organization, customer, chat, 4, signal_id=signal.pk)
    spent = CreditEntry.objects.get(kind="spend")
    adjustment = services.credit_entry_reverse(
        organization=organization, entry_id=spent.display_id, reason="agent loop bug"
    )
    table = text(dashboard.get(page_url(customer)).content.decode().split("ledger-table", 1)[1])
    assert f"Adjustment Organization +4 Chat credits 10 Correction reverses {spent.display_id}" in table
    assert "“agent loop bug”" in table
    assert f"reversed by {adjustment.display_id}" in table
    Signal.objects.filter(pk=signal.pk).update(rating="rated")
    assert f"Given back by {adjustment.display_id}" in text(spend_panel(dashboard, signal))
