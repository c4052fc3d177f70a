"""The meter builder in a real browser: the two meters of Paid's meters guide, built by clicking and typing, with
the preview checked against numbers worked out by hand before each is saved; and the signals page's live
stream, paused and resumed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.services import product_create
from apps.customers.services import customer_create
from apps.meters.models import Meter
from apps.signals.services import signal_ingest

try:
    from playwright.sync_api import expect
except ImportError:  # conftest skips (or fails in CI) before a test body runs
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Voice agent phone calls: (customer, call_completed, duration_minutes). `ghost` is no customer of ours (its calls
# stay unresolved but still count, by the external id they were sent with).
CALLS = [
    ("acme", True, 4),
    ("acme", True, 2.5),
    ("acme", True, 6),
    ("acme", False, 0.5),
    ("globex", True, 10),
    ("globex", False, 1),
    ("globex", False, 2),
    ("globex", "true", 5),  # the string "true": not a completed call
    ("ghost", True, 1.2),
]


@pytest.fixture
def voice_calls(organization):
    voice = product_create(organization=organization, name="Voice agent", external_id="voice")
    product_create(organization=organization, name="Chat assistant", external_id="chat")
    customer_create(organization=organization, name="Acme", external_id="acme")
    customer_create(organization=organization, name="Globex", external_id="globex")
    now = timezone.now()

    def signal(customer, data, *, event="phone_call", product="voice", ago=timedelta(hours=3)):
        return {
            "eventName": event,
            "customer": {"externalCustomerId": customer},
            "attribution": {"externalProductId": product},
            "data": data,
            "timestamp": (now - ago).isoformat(),
        }

    batch = [signal(c, {"call_completed": done, "duration_minutes": m}) for c, done, m in CALLS]
    batch += [  # noise the meters must not count
        signal("acme", {"call_completed": True, "duration_minutes": 30}, product="chat"),
        signal("acme", {"call_completed": True, "duration_minutes": 40}, ago=timedelta(days=45)),
        signal("acme", {"text": "hello"}, event="chat_message"),
        signal("globex", {"seconds": 20}, event="voicemail_left"),
    ]
    assert signal_ingest(organization=organization, signals=batch).ingested == len(batch)
    return voice


def expect_preview(page, expected: dict[str, tuple[int, str]]) -> None:
    """The preview table shows exactly these (signals, quantity) per customer, and the totals."""
    preview = page.locator("#meter-preview")
    for customer, (signals, quantity) in expected.items():
        row = preview.locator(
            "tfoot tr.preview-total" if customer == "total" else f'tr[data-customer="{customer}"]'
        )
        expect(row.locator(".preview-signals")).to_have_text(str(signals))
        expect(row.locator(".preview-quantity")).to_have_text(quantity)
    customers = [key for key in expected if key != "total"]
    expect(preview.locator("tbody tr")).to_have_count(len(customers))


def test_build_paids_two_meters_in_the_builder(logged_in, organization, voice_calls):
    page = logged_in

    # Meter 1, "Completed calls": count phone_call where call_completed = true.
    page.goto("/meters/")
    page.get_by_role("link", name="New meter").first.click()
    page.select_option("#id_product", label="Voice agent")
    events = page.locator("#meter-fields .chip")
    # Voice's events of the last 30 days: not the Chat product's call, not the 45-day-old one.
    expect(events).to_have_text(["chat_message 1", "phone_call 9", "voicemail_left 1"])
    events.filter(has_text="phone_call").click()
    expect(page.locator("#id_event_name")).to_have_value("phone_call")
    completed = page.locator('#meter-fields tr[data-path="call_completed"]')
    expect(completed.locator(".json-type")).to_have_text(["string", "boolean"])
    expect(page.locator("#meter-preview tfoot tr.preview-total .preview-signals")).to_have_text(
        "9"
    )  # no filter yet

    completed.get_by_role("button", name="Filter on call_completed").click()
    row = page.locator("[data-filter-row]")
    expect(row.locator("select[name=filter_type]")).to_have_value("boolean")
    expect(row.locator("input[name=filter_value]")).to_have_attribute("placeholder", "true or false")
    row.locator("input[name=filter_value]").fill("ture")  # a typo is refused beside the box, not saved
    expect(row.locator(".field__error")).to_have_text("Type true or false.")
    row.locator("input[name=filter_value]").fill("true")
    expect(row.locator(".field__error")).to_be_hidden()
    expect_preview(page, {"acme": (3, "3"), "globex": (1, "1"), "ghost": (1, "1"), "total": (5, "5")})
    expect(page.locator(".preview__words")).to_have_text(
        "Counts phone_call signals where call_completed = true"
    )
    assert not Meter.objects.exists()  # previews save nothing

    page.fill("#id_name", "Completed calls")
    page.get_by_role("button", name="Create meter").click()
    expect(page.locator(".flash")).to_contain_text("Meter “Completed calls” created.")
    meter = Meter.objects.get()
    assert (meter.event_name, meter.operation, meter.filters) == (
        "phone_call",
        "count",
        [{"field": "call_completed", "op": "=", "value": True}],
    )

    # Meter 2, "Completed call minutes": sum duration_minutes (rounded up per customer), then only completed calls.
    page.get_by_role("link", name="New meter for Voice agent").click()
    expect(page.locator("#id_product")).to_have_value(voice_calls.display_id)
    page.locator("#id_event_name").press_sequentially("phone_call", delay=30)
    duration = page.locator('#meter-fields tr[data-path="duration_minutes"]')
    expect(duration.locator(".json-type")).to_have_text(["number"])
    duration.get_by_role("button", name="Sum duration_minutes").click()
    expect(page.locator("#id_operation")).to_have_value("sum")
    expect(page.locator("#id_field")).to_have_value("duration_minutes")
    # acme 4 + 2.5 + 6 + 0.5 = 13; globex 10 + 1 + 2 + 5 = 18; ghost 1.2 → 2 (up)
    expect_preview(
        page,
        {"acme": (4, "13"), "globex": (4, "18"), "ghost": (1, "2 exact 1.2"), "total": (9, "33 exact 32.2")},
    )

    page.get_by_role("button", name="+ Add filter").click()
    row = page.locator("[data-filter-row]")
    row.locator("input[name=filter_field]").fill("call_completed")
    row.locator("select[name=filter_type]").select_option(label="true / false")
    row.locator("input[name=filter_value]").fill("true")
    # acme 4 + 2.5 + 6 = 12.5 → 13; globex 10; ghost 1.2 → 2
    expect_preview(
        page,
        {
            "acme": (3, "13 exact 12.5"),
            "globex": (1, "10"),
            "ghost": (1, "2 exact 1.2"),
            "total": (5, "25 exact 23.7"),
        },
    )
    page.select_option("#id_rounding", "down")  # 12 + 10 + 1
    expect(page.locator("#meter-preview tfoot .preview-quantity")).to_have_text("23 exact 23.7")
    page.select_option("#id_rounding", "up")

    page.fill("#id_name", "Completed call minutes")
    page.get_by_role("button", name="Create meter").click()
    expect(page.locator(".flash")).to_contain_text("Meter “Completed call minutes” created.")
    minutes = Meter.objects.get(name="Completed call minutes")
    assert (minutes.operation, minutes.field, minutes.rounding, minutes.filters) == (
        "sum",
        "duration_minutes",
        "up",
        [{"field": "call_completed", "op": "=", "value": True}],
    )
    expect(page.locator(".meter-group tbody tr")).to_have_count(2)


def test_the_signals_page_streams_new_signals_until_paused(logged_in, organization):
    page = logged_in

    def send(event):
        item = {"eventName": event, "customer": {"externalCustomerId": "acme"}, "data": {"n": 1}}
        assert signal_ingest(organization=organization, signals=[item]).ingested == 1

    send("before_opening")
    page.goto("/signals/")
    events = page.locator("#signal-rows tr.signal-row .table__primary")
    expect(events).to_have_text(["before_opening"])

    send("while_watching")
    expect(events).to_have_text(["while_watching", "before_opening"])  # polled every 2 s, newest on top

    page.locator("label.live-toggle").click()  # pause
    expect(page.locator("#signals-live")).not_to_be_checked()
    send("while_paused")
    page.wait_for_timeout(4500)  # two polls' worth
    expect(events).to_have_text(["while_watching", "before_opening"])

    page.locator("label.live-toggle").click()  # resume
    expect(events).to_have_text(["while_paused", "while_watching", "before_opening"])
