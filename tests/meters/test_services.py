"""Meters: Paid's guide examples (completed calls, call minutes), rounding, windows, attribution, tenancy,
validation, and the lock held by active orders."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.catalog.services import product_create
from apps.common.exceptions import DomainError, ReferenceNotFound
from apps.customers.selectors import customer_get
from apps.customers.services import customer_create, customer_delete
from apps.meters import selectors, services
from apps.meters.definition import MeterDefinition
from apps.meters.selectors import meter_definition, meter_preview_compute
from apps.orders.models import Order, OrderLine, OrderLineAttribute

from .conftest import NOW

pytestmark = pytest.mark.django_db

WINDOW = {"window_from": NOW - timedelta(days=1), "window_to": NOW + timedelta(days=1)}
COMPLETED = [{"field": "call_completed", "op": "=", "value": True}]


@pytest.fixture
def calls(organization, other_organization, product, ingest):
    """Acme and Globex are customers; `ghost` is not (its signals stay unresolved). Globex sent one
    `call_completed` as the string "true", which is not the boolean true."""
    customer_create(organization=organization, name="Acme", external_id="acme")
    customer_create(organization=organization, name="Globex", external_id="globex")
    for data in (
        {"call_completed": True, "duration_minutes": 4},
        {"call_completed": True, "duration_minutes": 2.5},
        {"call_completed": False, "duration_minutes": 1},
        {"duration_minutes": 3},
    ):
        ingest(data, customer="acme")
    ingest({"call_completed": True, "duration_minutes": 10}, customer="globex")
    ingest({"call_completed": "true", "duration_minutes": 5}, customer="globex")
    ingest({"call_completed": True, "duration_minutes": 1.2}, customer="ghost")
    ingest({"call_completed": True, "duration_minutes": 50}, customer="acme", event="sms")
    ingest({"call_completed": True, "duration_minutes": 60}, customer="acme", product="other")
    product_create(organization=other_organization, name="Voice agent", external_id="voice")
    ingest({"call_completed": True, "duration_minutes": 100}, customer="acme", org=other_organization)


def _preview(organization, product, **definition):
    return meter_preview_compute(
        organization=organization,
        product=product,
        definition=MeterDefinition.from_wire(event_name="phone_call", **definition),
        **WINDOW,
    )


def _by_customer(preview):
    return {
        row.external_customer_id: (row.quantity, row.exact_quantity, row.signal_count) for row in preview.rows
    }


def test_count_completed_calls(organization, product, calls):
    preview = _preview(organization, product, operation="count", filters=COMPLETED)
    assert _by_customer(preview) == {
        "acme": (2, Decimal(2), 2),
        "globex": (1, Decimal(1), 1),
        "ghost": (1, Decimal(1), 1),
    }
    assert (preview.quantity, preview.exact_quantity, preview.signal_count, preview.skipped) == (4, 4, 4, 0)


def test_sum_completed_call_minutes_rounds_up_per_customer(organization, product, calls):
    preview = _preview(organization, product, operation="sum", field="duration_minutes", filters=COMPLETED)
    assert _by_customer(preview) == {
        "acme": (7, Decimal("6.5"), 2),
        "globex": (10, Decimal(10), 1),
        "ghost": (2, Decimal("1.2"), 1),
    }
    assert preview.quantity == 19  # the rounded quantities, added
    assert preview.exact_quantity == Decimal("17.7")


def test_sum_without_filters_counts_every_call(organization, product, calls):
    preview = _preview(organization, product, operation="sum", field="duration_minutes")
    assert _by_customer(preview)["acme"] == (11, Decimal("10.5"), 4)
    assert _by_customer(preview)["globex"] == (15, Decimal(15), 2)
    assert preview.exact_quantity == Decimal("26.7")


@pytest.mark.parametrize(
    ("rounding", "expected", "total"),
    [("up", [7, 10, 2], 19), ("down", [6, 10, 1], 17), ("nearest", [7, 10, 1], 18)],
)
def test_rounding(organization, product, calls, rounding, expected, total):
    preview = _preview(
        organization, product, operation="sum", field="duration_minutes", filters=COMPLETED, rounding=rounding
    )
    rows = _by_customer(preview)
    assert [rows["acme"][0], rows["globex"][0], rows["ghost"][0]] == expected
    assert preview.quantity == total


def test_float_residue_does_not_round_up(organization, product, ingest):
    for _ in range(3):
        ingest({"duration_minutes": 0.1})
    ingest({"duration_minutes": 0.7})
    preview = _preview(organization, product, operation="sum", field="duration_minutes")
    assert (preview.quantity, preview.exact_quantity) == (1, Decimal("1"))


def test_customers_resolved_and_unresolved(organization, product, calls):
    preview = _preview(organization, product, operation="count")
    acme = next(row for row in preview.rows if row.external_customer_id == "acme")
    ghost = next(row for row in preview.rows if row.external_customer_id == "ghost")
    assert acme.resolved and acme.customer_id.startswith("cus_") and acme.customer_name == "Acme"
    assert not ghost.resolved and ghost.customer_id is None and ghost.customer_name is None


def test_unresolved_customers_group_by_raw_external_id(organization, product, ingest):
    ingest({}, customer="ghost-1")
    ingest({}, customer="ghost-1")
    ingest({}, customer="ghost-2")
    preview = _preview(organization, product, operation="count")
    assert _by_customer(preview) == {"ghost-1": (2, 2, 2), "ghost-2": (1, 1, 1)}


def test_window_is_half_open_on_signal_timestamp(organization, product, ingest):
    start, end = NOW, NOW + timedelta(hours=1)
    ingest({}, at=start - timedelta(microseconds=1))
    ingest({}, at=start)
    ingest({}, at=end - timedelta(seconds=1))
    ingest({}, at=end)
    preview = meter_preview_compute(
        organization=organization,
        product=product,
        definition=MeterDefinition.from_wire(event_name="phone_call", operation="count"),
        window_from=start,
        window_to=end,
    )
    assert preview.quantity == 2
    assert (preview.window_from, preview.window_to) == (start, end)


def test_default_window_is_the_last_30_days(organization, product, ingest):
    ingest({}, at=NOW - timedelta(days=29))
    ingest({}, at=NOW - timedelta(days=31))
    preview = meter_preview_compute(
        organization=organization,
        product=product,
        definition=MeterDefinition.from_wire(event_name="phone_call", operation="count"),
        window_to=NOW,
    )
    assert preview.quantity == 1
    assert preview.window_from == NOW - timedelta(days=30)


def test_window_must_be_ordered(organization, product):
    with pytest.raises(DomainError) as error:
        meter_preview_compute(
            organization=organization,
            product=product,
            definition=MeterDefinition.from_wire(event_name="phone_call", operation="count"),
            window_from=NOW,
            window_to=NOW,
        )
    assert error.value.field == "from"


def test_other_organizations_signals_never_count(other_organization, organization, product, calls):
    preview = _preview(organization, product, operation="sum", field="duration_minutes")
    assert Decimal(100) not in {row.exact_quantity for row in preview.rows}
    theirs = product_create(organization=organization, name="x", external_id="unused")
    assert _preview(organization, theirs, operation="count").rows == []


# --- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"event_name": "", "operation": "count"}, "eventName"),
        ({"event_name": "e", "operation": "avg"}, "operation"),
        ({"event_name": "e", "operation": "sum"}, "field"),
        ({"event_name": "e", "operation": "sum", "field": "a..b"}, "field"),
        ({"event_name": "e", "operation": "sum", "field": "items.0"}, "field"),
        ({"event_name": "e", "operation": "count", "field": "x"}, "field"),
        ({"event_name": "e", "operation": "sum", "field": "m", "rounding": "banker"}, "rounding"),
        ({"event_name": "e", "operation": "count", "filters": {"a": 1}}, "filters"),
        ({"event_name": "e", "operation": "count", "filters": ["x"]}, "filters[0]"),
        (
            {"event_name": "e", "operation": "count", "filters": [COMPLETED[0], {"field": "a", "op": "~"}]},
            "filters[1].op",
        ),
        ({"event_name": "e", "operation": "count", "filters": [{"op": "exists"}]}, "filters[0].field"),
        (
            {"event_name": "e", "operation": "count", "filters": [{"field": "a", "op": "="}]},
            "filters[0].value",
        ),
        (
            {"event_name": "e", "operation": "count", "filters": [{"field": "a", "op": "=", "value": [1]}]},
            "filters[0].value",
        ),
        (
            {"event_name": "e", "operation": "count", "filters": [{"field": "a", "op": ">", "value": True}]},
            "filters[0].value",
        ),
        (
            {"event_name": "e", "operation": "count", "filters": [{"field": "a", "op": "in", "value": []}]},
            "filters[0].value",
        ),
        (
            {"event_name": "e", "operation": "count", "filters": [{"field": "a", "op": "in", "value": [{}]}]},
            "filters[0].value[0]",
        ),
        (
            {
                "event_name": "e",
                "operation": "count",
                "filters": [{"field": "a", "op": "exists", "value": 1}],
            },
            "filters[0].value",
        ),
    ],
)
def test_definition_errors_name_the_wire_field(definition, field):
    with pytest.raises(DomainError) as error:
        MeterDefinition.from_wire(**definition)
    assert error.value.field == field


def test_create_and_read_back_the_definition(organization, product):
    meter = services.meter_create(
        organization=organization,
        product_id=product.display_id,
        name="Completed call minutes",
        event_name="phone_call",
        operation="sum",
        field="duration_minutes",
        filters=[*COMPLETED, {"field": "region", "op": "exists"}],
    )
    assert meter.display_id.startswith("mtr_") and meter.rounding == "up"
    assert meter_definition(meter=meter).filters[1].to_json() == {"field": "region", "op": "exists"}


def test_create_with_an_unknown_product_names_the_field(organization):
    with pytest.raises(ReferenceNotFound) as error:
        services.meter_create(
            organization=organization, product_id="prod_nope", name="x", event_name="e", operation="count"
        )
    assert (error.value.field, error.value.status_code) == ("productId", 400)


# --- the lock --------------------------------------------------------------------------------------------


@pytest.fixture
def meter(organization, product):
    return services.meter_create(
        organization=organization,
        product_id=product.display_id,
        name="Completed calls",
        event_name="phone_call",
        operation="count",
        filters=COMPLETED,
    )


def _order_using(meter, *, creation_state="active", end_date=None, paused=False):
    """An order whose usage line prices from `meter` (what orders will store once pricing can name a meter)."""
    organization = meter.organization
    customer = customer_create(
        organization=organization, name="Acme", external_id=f"acme-{Order.objects.count()}"
    )
    order = Order.objects.create(
        organization=organization,
        customer=customer,
        name="Voice",
        number=Order.objects.filter(organization=organization).count() + 1,
        start_date=NOW - timedelta(days=10),
        end_date=end_date,
        creation_state=creation_state,
        currency="USD",
        billing_anchor=1,
        paused_at=NOW if paused else None,
    )
    line = OrderLine.objects.create(
        organization=organization,
        order=order,
        product=meter.product,
        name="Voice",
        start_date=order.start_date,
    )
    OrderLineAttribute.objects.create(
        organization=organization,
        order_line=line,
        name="Completed calls",
        pricing_type="UsagePerUnit",
        pricing={"pricing_type": "UsagePerUnit", "meter_id": meter.display_id, "price_points": []},
    )
    return order


def test_an_active_order_locks_the_meter(meter):
    assert not services.meter_is_locked(meter)
    _order_using(meter)
    assert services.meter_is_locked(meter)
    with pytest.raises(services.MeterLocked) as error:
        services.meter_update(meter=meter, filters=[])
    assert (error.value.status_code, error.value.code) == (409, "METER_LOCKED")
    assert "create a new meter" in error.value.message.lower()
    with pytest.raises(services.MeterLocked):
        services.meter_update(meter=meter, rounding="down")
    with pytest.raises(services.MeterLocked):
        services.meter_archive(meter=meter)
    meter.refresh_from_db()
    assert meter.filters == COMPLETED and meter.archived_at is None


def test_a_locked_meter_may_be_renamed(meter):
    _order_using(meter)
    assert (
        services.meter_update(meter=meter, name="Answered calls", filters=COMPLETED).name == "Answered calls"
    )


@pytest.mark.parametrize(
    ("state", "locks"),
    [
        ({"creation_state": "draft"}, False),
        ({"end_date": NOW - timedelta(days=1)}, False),
        ({"paused": True}, True),
        ({"end_date": NOW + timedelta(days=3650)}, True),
    ],
)
def test_which_orders_lock(meter, state, locks):
    _order_using(meter, **state)
    assert services.meter_is_locked(meter) is locks


def test_unlocked_meter_updates_and_archives(meter, organization):
    other = product_create(organization=organization, name="SMS", external_id="sms")
    updated = services.meter_update(
        meter=meter, product_id=other.display_id, operation="sum", field="segments", rounding="nearest"
    )
    assert (updated.product, updated.operation, updated.field, updated.rounding) == (
        other,
        "sum",
        "segments",
        "nearest",
    )
    archived = services.meter_archive(meter=meter)
    assert archived.archived_at is not None
    assert services.meter_archive(meter=meter).archived_at == archived.archived_at


def test_preview_queries_do_not_grow_with_customers(
    organization, product, calls, ingest, django_assert_num_queries
):
    """One grouped query over the signals, one naming the customers found: however many there are."""
    for i in range(5):
        customer_create(organization=organization, name=f"Customer {i}", external_id=f"c{i}")
        ingest({"call_completed": True, "duration_minutes": 1}, customer=f"c{i}")
    definition = MeterDefinition.from_wire(
        event_name="phone_call", operation="sum", field="duration_minutes", filters=COMPLETED
    )
    with django_assert_num_queries(2):
        preview = meter_preview_compute(
            organization=organization, product=product, definition=definition, **WINDOW
        )
    assert len(preview.rows) == 8  # acme, globex, ghost (unresolved), c0…c4


def test_customer_names_are_read_in_pages(organization, product, calls, monkeypatch):
    monkeypatch.setattr(selectors, "_NAMES_CHUNK", 1)
    preview = _preview(organization, product, operation="count", filters=COMPLETED)
    assert {(r.customer_name, r.external_customer_id, r.resolved) for r in preview.rows} == {
        ("Acme", "acme", True),
        ("Globex", "globex", True),
        (None, "ghost", False),
    }
    assert all(r.customer_id.startswith("cus_") for r in preview.rows if r.resolved)


def test_a_deleted_customers_signals_keep_its_name(organization, product, calls):
    before = {r.customer_id: r for r in _preview(organization, product, operation="count").rows}
    acme = next(r for r in before.values() if r.customer_name == "Acme")
    customer_delete(customer=customer_get(organization=organization, customer_id=acme.customer_id))
    after = {r.customer_id: r for r in _preview(organization, product, operation="count").rows}
    assert after[acme.customer_id] == acme
