"""Day rollups of saved meters: a preview that reads them answers exactly what the signals say, however the
signals change after a day was rolled up (late arrivals, attribution) or the meter does."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.customers.services import customer_create
from apps.meters import selectors, services, tasks
from apps.meters.models import MeterRollup, MeterRollupDay
from apps.signals.services import signal_attribute_unresolved
from tests.meters.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
START, END = NOW - 6 * DAY, NOW + DAY  # the window: six past days, partial ones at both ends


@pytest.fixture(autouse=True)
def _clock():
    """Today is the day after NOW's: every day of the signals is over, the window's end still partial."""
    with time_machine.travel(NOW + timedelta(days=1, hours=13)):
        yield


@pytest.fixture
def meter(organization, product):
    customer_create(organization=organization, name="Acme", external_id="acme")
    customer_create(organization=organization, name="Globex", external_id="globex")
    return services.meter_create(
        organization=organization,
        product_id=product.display_id,
        name="Completed minutes",
        event_name="phone_call",
        operation="sum",
        field="duration_minutes",
        filters=[{"field": "call_completed", "op": "=", "value": True}],
        rounding="up",
    )


@pytest.fixture
def calls(ingest):
    """Completed and not completed calls over six days, from two customers and an unknown one."""
    for n in range(6):
        at = NOW - n * DAY - timedelta(hours=n)
        ingest({"call_completed": True, "duration_minutes": 1.25 + n}, customer="acme", at=at)
        ingest({"call_completed": True, "duration_minutes": 2.5}, customer="globex", at=at)
        ingest({"call_completed": False, "duration_minutes": 9}, customer="acme", at=at)
        ingest({"call_completed": True, "duration_minutes": "7"}, customer="acme", at=at)  # a string: skipped
        ingest({"call_completed": True, "duration_minutes": 0.5}, customer="stranger", at=at)


def preview(organization, product, meter, *, saved: bool, window=(START, END)):
    return selectors.meter_preview_compute(
        organization=organization,
        product=product,
        definition=selectors.meter_definition(meter=meter),
        window_from=window[0],
        window_to=window[1],
        meter=meter if saved else None,
    )


def assert_same(organization, product, meter, window=(START, END)):
    from_rollups = preview(organization, product, meter, saved=True, window=window)
    from_signals = preview(organization, product, meter, saved=False, window=window)
    assert from_rollups.rows == from_signals.rows
    assert (from_rollups.quantity, from_rollups.exact_quantity, from_rollups.signal_count) == (
        from_signals.quantity,
        from_signals.exact_quantity,
        from_signals.signal_count,
    )
    return from_rollups


def test_previews_read_current_rollups_and_agree_with_the_signals(organization, product, meter, calls):
    assert services.meter_rollups_refresh(meter=meter) == selectors.ROLLUP_DAYS
    assert services.meter_rollups_refresh(meter=meter) == 0  # nothing stale
    result = assert_same(organization, product, meter)
    acme = next(row for row in result.rows if row.external_customer_id == "acme")
    assert acme.exact_quantity == sum(Decimal("1.25") + n for n in range(6))
    assert acme.skipped == 6

    # The rollups are really what the preview reads: a tampered one shows through.
    rolled_day = (NOW - 3 * DAY).date()
    MeterRollup.objects.filter(meter=meter, day=rolled_day, counted__gt=0).update(counted=1000)
    assert preview(organization, product, meter, saved=True).signal_count > 1000
    assert preview(organization, product, meter, saved=False).signal_count < 1000


def test_a_late_signal_makes_its_day_stale_until_rolled_up_again(organization, product, meter, calls, ingest):
    services.meter_rollups_refresh(meter=meter)
    late_day = NOW - 2 * DAY
    ingest({"call_completed": True, "duration_minutes": 100}, customer="globex", at=late_day)
    assert_same(organization, product, meter)
    assert selectors.meter_rollup_days_stale(meter=meter, days=[late_day.date(), NOW.date() - 3 * DAY]) == [
        late_day.date()
    ]
    assert services.meter_rollups_refresh(meter=meter) == 1
    assert_same(organization, product, meter)


def test_attribution_moves_signals_to_their_customer_in_rolled_days(organization, product, meter, calls):
    services.meter_rollups_refresh(meter=meter)
    customer_create(organization=organization, name="Stranger Ltd", external_id="stranger")
    assert signal_attribute_unresolved(organization=organization) > 0
    result = assert_same(organization, product, meter)
    stranger = next(row for row in result.rows if row.external_customer_id == "stranger")
    assert stranger.resolved and stranger.customer_name == "Stranger Ltd"


def test_a_changed_definition_or_product_name_is_not_answered_from_old_rollups(
    organization, product, meter, calls
):
    services.meter_rollups_refresh(meter=meter)
    services.meter_update(meter=meter, filters=[{"field": "call_completed", "op": "=", "value": False}])
    meter.refresh_from_db()
    result = assert_same(organization, product, meter)
    assert result.signal_count == 6  # the not-completed calls now, none of the old rollups
    services.meter_rollups_refresh(meter=meter)
    assert_same(organization, product, meter)


def test_rounding_changes_need_no_new_rollups(organization, product, meter, calls):
    services.meter_rollups_refresh(meter=meter)
    services.meter_update(meter=meter, rounding="down")
    meter.refresh_from_db()
    assert selectors.meter_rollup_days_stale(meter=meter, days=[(NOW - DAY).date()]) == []
    assert_same(organization, product, meter)


@pytest.mark.parametrize(
    "window",
    [
        (NOW - 6 * DAY, NOW + DAY),
        (NOW - 3 * DAY - timedelta(hours=5), NOW - DAY + timedelta(minutes=1)),  # both edges mid-day
        (NOW - 2 * DAY, NOW - 2 * DAY + timedelta(hours=3)),  # inside one day: no whole day
    ],
)
def test_partial_days_at_the_edges_come_from_the_signals(organization, product, meter, calls, window):
    services.meter_rollups_refresh(meter=meter)
    assert_same(organization, product, meter, window=window)


def test_a_write_while_a_day_is_rolled_up_leaves_it_stale_never_short(
    organization, product, meter, calls, ingest, monkeypatch
):
    day = (NOW - 4 * DAY).date()
    original = services.meter_groups

    def with_a_write_first(signals, definition):  # the write lands after the version was read
        ingest({"call_completed": True, "duration_minutes": 50}, customer="acme", at=NOW - 4 * DAY)
        return original(signals, definition)

    monkeypatch.setattr(services, "meter_groups", with_a_write_first)
    services.meter_rollup_compute(meter=meter, day=day)
    monkeypatch.setattr(services, "meter_groups", original)
    assert selectors.meter_rollup_days_stale(meter=meter, days=[day]) == [day]
    assert_same(organization, product, meter)


def test_count_meters_and_the_sweep(organization, product, ingest):
    counter = services.meter_create(
        organization=organization,
        product_id=product.display_id,
        name="Calls",
        event_name="phone_call",
        operation="count",
    )
    for n in range(3):
        ingest({"call_completed": True}, customer="acme", at=NOW - n * DAY)
    assert tasks.roll_up_all() == selectors.ROLLUP_DAYS
    assert MeterRollupDay.objects.filter(meter=counter).count() == selectors.ROLLUP_DAYS
    assert_same(organization, product, counter)
    services.meter_archive(meter=counter)
    assert not MeterRollupDay.objects.filter(meter=counter).exists()
    assert tasks.roll_up_all() == 0
