"""Dashboard pages for meters: the list per product with its locked badge, the builder (field discovery, filter
rows, the live preview that saves nothing, errors beside the inputs), create and edit, the read-only page of a
locked meter, rename, archive, tenancy."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.services import product_create
from apps.customers.services import customer_create
from apps.meters.models import Meter
from apps.meters.services import meter_create
from apps.signals.services import signal_ingest
from tests.dashboard.conftest import HTMX
from tests.meters.test_services import _order_using

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice(organization):
    return product_create(organization=organization, name="Voice agent", external_id="voice")


@pytest.fixture
def calls(organization, voice):
    """Paid's meters guide: phone calls, some completed, with minutes. Acme and Globex exist; `ghost` does not.
    Plus noise: another event name, another product, and a call older than 30 days."""
    customer_create(organization=organization, name="Acme", external_id="acme")
    customer_create(organization=organization, name="Globex", external_id="globex")
    product_create(organization=organization, name="Chat", external_id="chat")
    now = timezone.now()

    def signal(customer, data, *, event="phone_call", product="voice", ago=timedelta(hours=2)):
        return {
            "eventName": event,
            "customer": {"externalCustomerId": customer},
            "attribution": {"externalProductId": product},
            "data": data,
            "timestamp": (now - ago).isoformat(),
        }

    batch = [
        signal("acme", {"call_completed": True, "duration_minutes": 4}),
        signal("acme", {"call_completed": True, "duration_minutes": 2.5}),
        signal("acme", {"call_completed": False, "duration_minutes": 1}),
        signal("globex", {"call_completed": True, "duration_minutes": 10}),
        signal("globex", {"call_completed": "true", "duration_minutes": 5}),  # a string, not the boolean
        signal("ghost", {"call_completed": True, "duration_minutes": 1.2}),
        signal("acme", {"call_completed": True, "duration_minutes": 99}, ago=timedelta(days=40)),
        signal("acme", {"call_completed": True, "duration_minutes": 50}, product="chat"),
        signal("acme", {"text": "hi"}, event="chat_message", product="chat"),
    ]
    assert signal_ingest(organization=organization, signals=batch).ingested == len(batch)


def _form(for_product, **fields):
    """The builder's POST: `filters` is a list of (field, op, type, value) rows."""
    filters = fields.pop("filters", [])
    data = {
        "product": for_product.display_id,
        "name": "",
        "event_name": "phone_call",
        "operation": "count",
        "field": "",
        "rounding": "up",
        "window": "30",
    } | fields
    data["filter_key"] = [f"k{i}" for i in range(len(filters))]
    for index, name in enumerate(("field", "op", "type", "value")):
        data[f"filter_{name}"] = [row[index] for row in filters]
    return data


def _preview_rows(response) -> dict[str, tuple[int, str]]:
    """{customer: (signals, quantity text)} and "total" from the preview table."""
    html = response.content.decode()
    rows = {}
    for customer, signals, quantity in re.findall(
        r'<tr data-customer="([^"]*)">.*?preview-signals">(\d+)</td>\s*<td class="num preview-quantity">([^<]+)',
        html,
        re.S,
    ):
        rows[customer] = (int(signals), quantity.strip())
    total = re.search(
        r'preview-total">.*?preview-signals">(\d+)</td>\s*<td class="num preview-quantity">([^<]+)',
        html,
        re.S,
    )
    if total:
        rows["total"] = (int(total.group(1)), total.group(2).strip())
    return rows


def _slot(response, slot: str) -> str:
    match = re.search(
        rf'<div id="{slot}" class="field__error" hx-swap-oob="true">([^<]*)</div>', response.content.decode()
    )
    assert match, f"no out-of-band slot {slot}"
    return match.group(1).strip()


# --- preview: Paid's guide meters, without saving ----------------------------------------------------------


def test_preview_counts_completed_calls_per_customer(dashboard, voice, calls):
    response = dashboard.post(
        "/meters/preview/",
        _form(voice, filters=[("call_completed", "=", "boolean", "true")]),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert _preview_rows(response) == {
        "acme": (2, "2"),
        "globex": (1, "1"),  # its "true" string is not the boolean true
        "ghost": (1, "1"),  # unresolved: shown by the external id it was sent with
        "total": (4, "4"),
    }
    assert "Counts phone_call signals where call_completed = true" in response.content.decode()
    assert _slot(response, "err-event_name") == "" and _slot(response, "err-row-k0") == ""
    assert not Meter.objects.exists()  # a preview saves nothing


def test_preview_sums_minutes_rounded_per_customer(dashboard, voice, calls):
    response = dashboard.post(
        "/meters/preview/", _form(voice, operation="sum", field="duration_minutes"), headers=HTMX
    )
    assert _preview_rows(response) == {
        "globex": (2, "15"),
        "acme": (3, "8"),
        "ghost": (1, "2"),
        "total": (6, "25"),
    }
    assert "exact 7.5" in response.content.decode() and "exact 23.7" in response.content.decode()


def test_the_value_type_decides_what_matches(dashboard, voice, calls):
    as_text = dashboard.post(
        "/meters/preview/", _form(voice, filters=[("call_completed", "=", "string", "true")]), headers=HTMX
    )
    assert _preview_rows(as_text) == {"globex": (1, "1"), "total": (1, "1")}
    one_of = dashboard.post(
        "/meters/preview/",
        _form(voice, filters=[("duration_minutes", "in", "number", "4, 10")]),
        headers=HTMX,
    )
    assert _preview_rows(one_of) == {"acme": (1, "1"), "globex": (1, "1"), "total": (2, "2")}
    missing = dashboard.post(
        "/meters/preview/",
        _form(voice, filters=[("call_completed", "not exists", "string", "")]),
        headers=HTMX,
    )
    assert b"No signals match in this window." in missing.content


def test_blank_filter_rows_are_ignored_and_the_window_applies(dashboard, voice, calls):
    response = dashboard.post(
        "/meters/preview/", _form(voice, window="90", filters=[("", "=", "string", "")]), headers=HTMX
    )
    assert _preview_rows(response)["total"] == (7, "7")  # the 40-day-old call is in the last 90 days
    assert b"Last 90 days" in response.content


def test_errors_come_back_beside_the_inputs_they_belong_to(dashboard, voice, calls):
    response = dashboard.post(
        "/meters/preview/",
        _form(
            voice,
            filters=[
                ("duration_minutes", ">", "number", "twelve"),
                ("call_completed", "=", "boolean", "yes"),
            ],
        ),
        headers=HTMX,
    )
    assert _slot(response, "err-row-k0") == "“twelve” is not a number: type e.g. 12 or 2.5."
    assert _slot(response, "err-row-k1") == "Type true or false."
    assert b"Fix what is marked in red" in response.content

    response = dashboard.post(
        "/meters/preview/", _form(voice, operation="sum", field="usage..minutes"), headers=HTMX
    )
    assert "empty segment" in _slot(response, "err-field")
    response = dashboard.post(
        "/meters/preview/", _form(voice, filters=[("tags.0", "exists", "string", "")]), headers=HTMX
    )
    assert "array indexes are not supported" in _slot(response, "err-row-k0")
    response = dashboard.post("/meters/preview/", _form(voice, operation="sum"), headers=HTMX)
    assert _slot(response, "err-field") == "It is required when operation is sum."


def test_preview_waits_for_a_product_and_an_event(dashboard, voice):
    response = dashboard.post("/meters/preview/", _form(voice, product=""), headers=HTMX)
    assert b"Choose a product" in response.content
    response = dashboard.post("/meters/preview/", _form(voice, event_name=" "), headers=HTMX)
    assert b"Choose an event name" in response.content
    assert _slot(response, "err-event_name") == ""  # nothing typed yet is not an error


# --- field discovery and filter rows -----------------------------------------------------------------------


def test_fields_list_the_products_events_and_their_fields_with_types(dashboard, voice, calls):
    response = dashboard.get("/meters/fields/", {"product": voice.display_id, "event_name": "phone_call"})
    html = response.content.decode()
    events = re.findall(r'<span class="mono">([^<]+)</span> <span class="chip__count">([^<]+)</span>', html)
    assert events == [("phone_call", "6")]  # not chat_message (no Voice signals), not the 40-day-old call
    fields = dict(re.findall(r'<tr data-path="([^"]+)">.*?<td>(.*?)</td>\s*<td class="num">', html, re.S))
    types = {path: re.findall(r"json-type--(\w+)", cell) for path, cell in fields.items()}
    assert types == {"call_completed": ["string", "boolean"], "duration_minutes": ["number"]}
    assert "field=duration_minutes&amp;type=number&amp;op=%3D" in html  # "Filter" prefills a number row
    assert "field=call_completed&amp;type=boolean&amp;op=%3D" in html  # the type most signals had
    assert "mixed: 5 boolean, 1 string" in html
    assert "&quot;operation&quot;: &quot;sum&quot;, &quot;field&quot;: &quot;duration_minutes&quot;" in html
    assert '<option value="duration_minutes">' in html  # the datalist for field inputs


def test_fields_say_what_is_missing(dashboard, organization, voice, calls):
    assert b"Choose a product" in dashboard.get("/meters/fields/").content
    empty = product_create(organization=organization, name="Quiet", external_id="quiet")
    response = dashboard.get("/meters/fields/", {"product": empty.display_id})
    assert b"No signals for Quiet" in response.content
    response = dashboard.get("/meters/fields/", {"product": voice.display_id, "event_name": "phone_cal"})
    assert b"No <code>phone_cal</code> signals" in response.content


def test_filter_rows_are_added_prefilled_and_removed(dashboard):
    row = dashboard.get("/meters/filter-row/", {"field": "call_completed", "type": "boolean"}, headers=HTMX)
    html = row.content.decode()
    assert 'name="filter_field" value="call_completed"' in html
    assert re.search(r'<option value="boolean" selected>', html)
    assert re.search(r'name="filter_key" value="[0-9a-f]{8}"', html)
    presence = dashboard.get("/meters/filter-row/", {"field": "agent", "op": "exists"}, headers=HTMX)
    assert '<option value="exists" selected>' in presence.content.decode()
    removed = dashboard.get("/meters/filter-row/", {"remove": "1"}, headers=HTMX)
    assert removed.content == b"" and removed["HX-Trigger"] == "meter-changed"


# --- create, edit ----------------------------------------------------------------------------------------


def test_builder_page_renders_with_a_preselected_product(dashboard, voice):
    response = dashboard.get("/meters/new/", {"product": voice.display_id})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{voice.display_id}" selected>' in html
    assert 'hx-post="/meters/preview/"' in html and 'hx-get="/meters/fields/"' in html


def test_create_saves_and_lists_the_meter(dashboard, organization, voice, calls):
    response = dashboard.post(
        "/meters/new/",
        _form(voice, name="Completed calls", filters=[("call_completed", "=", "boolean", "true")]),
    )
    assert response.status_code == 302
    meter = Meter.objects.get()
    assert (meter.name, meter.event_name, meter.operation, meter.filters) == (
        "Completed calls",
        "phone_call",
        "count",
        [{"field": "call_completed", "op": "=", "value": True}],
    )
    assert response["Location"] == f"/meters/?product={voice.display_id}"
    listed = dashboard.get(response["Location"]).content.decode()
    assert "Completed calls" in listed and "Counts phone_call signals where call_completed = true" in listed
    assert ">Editable<" in listed


def test_create_refuses_with_the_error_beside_the_input(dashboard, voice):
    response = dashboard.post("/meters/new/", _form(voice, name="", operation="sum", field="minutes"))
    assert response.status_code == 200 and not Meter.objects.exists()
    assert re.search(r'<div id="err-name" class="field__error">\s*It is required.', response.content.decode())
    response = dashboard.post(
        "/meters/new/", _form(voice, name="Calls", filters=[("x", "<", "boolean", "true")])
    )
    assert not Meter.objects.exists()
    assert "It must be a number or a string with" in response.content.decode()
    assert 'value="x"' in response.content.decode()  # the row comes back as typed


def test_edit_updates_an_unlocked_meter(dashboard, organization, voice):
    meter = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Calls",
        event_name="phone_call",
        operation="count",
        filters=[
            {"field": "call_completed", "op": "=", "value": True},
            {"field": "tier", "op": "in", "value": ["a", "b"]},
        ],
    )
    page = dashboard.get(f"/meters/{meter.display_id}/").content.decode()
    assert 'name="filter_field" value="call_completed"' in page and 'name="filter_value" value="a, b"' in page
    response = dashboard.post(
        f"/meters/{meter.display_id}/",
        _form(voice, name="Minutes", operation="sum", field="duration_minutes", rounding="nearest"),
    )
    assert response.status_code == 302
    meter.refresh_from_db()
    assert (meter.name, meter.operation, meter.field, meter.rounding, meter.filters) == (
        "Minutes",
        "sum",
        "duration_minutes",
        "nearest",
        [],
    )


def test_a_locked_meter_says_so_and_offers_a_new_meter(dashboard, organization, voice):
    meter = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Completed calls",
        event_name="phone_call",
        operation="count",
        filters=[{"field": "call_completed", "op": "=", "value": True}],
    )
    _order_using(meter)

    listed = dashboard.get("/meters/").content.decode()
    assert ">Locked<" in listed
    page = dashboard.get(f"/meters/{meter.display_id}/").content.decode()
    assert "used by an active order" in page
    assert f'href="/meters/new/?from={meter.display_id}">create a new meter from this one' in page
    assert 'name="filter_field"' not in page  # no builder: the definition can't change

    # Posting a change anyway changes nothing.
    dashboard.post(f"/meters/{meter.display_id}/", _form(voice, name="Changed", filters=[]))
    meter.refresh_from_db()
    assert (meter.name, meter.filters) == (
        "Completed calls",
        [{"field": "call_completed", "op": "=", "value": True}],
    )

    copy = dashboard.get("/meters/new/", {"from": meter.display_id}).content.decode()
    assert 'value="Completed calls (new)"' in copy and 'name="filter_field" value="call_completed"' in copy
    assert '<option value="boolean" selected>' in copy and 'name="filter_value" value="true"' in copy

    assert dashboard.post(f"/meters/{meter.display_id}/rename/", {"name": "Calls (v1)"}).status_code == 302
    meter.refresh_from_db()
    assert meter.name == "Calls (v1)"
    response = dashboard.post(f"/meters/{meter.display_id}/archive/", follow=True)
    assert b"can&#x27;t be archived" in response.content
    meter.refresh_from_db()
    assert meter.archived_at is None


def test_saved_preview_of_a_read_only_meter(dashboard, organization, voice, calls):
    meter = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="M",
        event_name="phone_call",
        operation="count",
    )
    _order_using(meter)
    response = dashboard.get(f"/meters/{meter.display_id}/preview/", {"window": "7"}, headers=HTMX)
    assert _preview_rows(response)["total"] == (6, "6") and b"Last 7 days" in response.content


def test_archive_hides_the_meter_unless_asked(dashboard, organization, voice):
    meter = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Legacy minutes",
        event_name="e",
        operation="count",
    )
    assert dashboard.post(f"/meters/{meter.display_id}/archive/").status_code == 302
    meter.refresh_from_db()
    assert meter.archived_at is not None
    assert b"Legacy minutes" not in dashboard.get("/meters/", headers=HTMX).content
    everything = dashboard.get("/meters/", {"status": "all"}, headers=HTMX).content.decode()
    assert "Legacy minutes" in everything and ">Archived<" in everything
    assert b"no longer appears in lists" in dashboard.get(f"/meters/{meter.display_id}/").content


def test_list_groups_meters_by_product(dashboard, organization, voice):
    chat = product_create(organization=organization, name="Chat", external_id="chat")
    for product, name in ((voice, "Minutes"), (chat, "Messages"), (voice, "Calls")):
        meter_create(
            organization=organization,
            product_id=product.display_id,
            name=name,
            event_name="e",
            operation="count",
        )
    html = dashboard.get("/meters/").content.decode()
    headings = re.findall(r'class="card__title"><a href="[^"]+">([^<]+)</a>', html)
    assert headings == ["Chat", "Voice agent"]
    assert html.index("Messages") < html.index("Calls") < html.index("Minutes")  # newest first per product
    only_chat = dashboard.get("/meters/", {"product": chat.display_id}, headers=HTMX).content.decode()
    assert "Messages" in only_chat and "Minutes" not in only_chat


def test_empty_list_points_to_the_builder(dashboard, voice):
    assert b"No meters yet" in dashboard.get("/meters/").content


# --- tenancy, login ----------------------------------------------------------------------------------------


def test_another_organizations_meter_and_product_are_not_found(dashboard, other_organization):
    theirs = product_create(organization=other_organization, name="Theirs", external_id="theirs")
    meter = meter_create(
        organization=other_organization,
        product_id=theirs.display_id,
        name="T",
        event_name="e",
        operation="count",
    )
    assert dashboard.get(f"/meters/{meter.display_id}/").status_code == 404
    assert dashboard.get(f"/meters/{meter.display_id}/preview/").status_code == 404
    assert dashboard.post(f"/meters/{meter.display_id}/archive/").status_code == 404
    assert dashboard.get("/meters/new/", {"from": meter.display_id}).status_code == 404
    assert b"Choose a product" in dashboard.get("/meters/fields/", {"product": theirs.display_id}).content
    response = dashboard.post("/meters/preview/", _form(theirs), headers=HTMX)
    assert b"Fix what is marked in red" in response.content
    assert "Select a valid choice" in _slot(response, "err-product")


def test_pages_need_a_login(client, voice):
    for url in ("/meters/", "/meters/new/", "/meters/fields/", "/meters/filter-row/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
