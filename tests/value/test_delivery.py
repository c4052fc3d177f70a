"""Delivered value per signal (docs/value.md, "Delivered value"): computed after rating, recomputed over history
when a metric changes, nothing for archived metrics, per organization, idempotent."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.customers.services import customer_create
from apps.rating.services import rating_run
from apps.signals.models import Signal
from apps.signals.services import signal_ingest
from apps.value.delivery import signal_value, value_backfill, value_deliver
from apps.value.models import DeliveredValue, ValueMetric
from apps.value.services import value_metric_archive, value_metric_create, value_metric_update

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
QUICKSTART = {"time_saved": 3, "time_saved_unit": "minutes", "money_saved": 1500}


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a write and everything it queues after commit (ingest → rating → delivery; metric → backfill)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def time_saved(run, organization, slug="time-saved", **kwargs):
    return run(
        value_metric_create,
        organization=organization,
        name="Time saved",
        slug=slug,
        unit={"type": "duration", "durationUnit": "minutes"},
        formula={
            "expression": "coalesce(time_saved, default_seconds)",
            "variables": [
                {"id": "time_saved", "type": "duration"},
                {"id": "default_seconds", "type": "number"},
            ],
        },
        signal={"eventName": "ticket_resolved", "defaults": {"default_seconds": 20}},
        monetary_conversion={"valuePerUnit": 0.5},
        **kwargs,
    )


def money_saved(run, organization):
    return run(
        value_metric_create,
        organization=organization,
        name="Money saved",
        slug="money_saved",
        unit={"type": "monetary"},
        formula={"expression": "money_saved > 0 ? money_saved : 0", "variables": [{"id": "money_saved"}]},
        signal={"eventName": "ticket_resolved"},
    )


def send(run, organization, data, *, event="ticket_resolved", customer="acme", at=NOW - timedelta(hours=1)):
    item = {"eventName": event, "customer": {"externalCustomerId": customer}, "timestamp": at.isoformat()}
    if data is not None:
        item["data"] = data
    result = run(signal_ingest, organization=organization, signals=[item])
    assert result.ingested == 1, result
    return Signal.objects.filter(organization=organization).order_by("-pk").first()


def values(organization, slug):
    metric = ValueMetric.objects.get(organization=organization, slug=slug)
    rows = DeliveredValue.objects.filter(organization=organization, metric=metric).order_by("signal_id")
    return {row.signal_id: row.value for row in rows}


@pytest.fixture
def acme(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme")


def test_quickstart_signal_delivers_seconds_and_cents_once_rated(run, organization, acme):
    time_saved(run, organization)
    money_saved(run, organization)
    signal = send(run, organization, QUICKSTART)
    signal.refresh_from_db()
    assert signal.rating != "pending"  # rated (skipped: no order prices it), and its value computed
    assert values(organization, "time-saved") == {signal.pk: Decimal(180)}
    assert values(organization, "money_saved") == {signal.pk: Decimal(1500)}
    row = DeliveredValue.objects.get(organization=organization, metric__slug="time-saved")
    assert (row.customer_id, row.event_name, row.timestamp, row.metric_version) == (
        acme.pk,
        "ticket_resolved",
        NOW - timedelta(hours=1),
        1,
    )


@pytest.mark.parametrize(
    ("data", "seconds", "cents"),
    [
        ({"time_saved": 2, "time_saved_unit": "hours", "money_saved": -5}, Decimal(7200), Decimal(0)),
        ({"time_saved": 0.5, "time_saved_unit": "days"}, Decimal(43200), None),  # no money_saved: no row
        ({"time_saved": 90, "time_saved_unit": "seconds", "money_saved": "lots"}, Decimal(90), None),  # error
        ({"time_saved": 3}, Decimal(20), None),  # a duration without its unit is null: coalesce's default
        ({"time_saved": 3, "time_saved_unit": "weeks"}, None, None),  # unknown unit: FormulaError, no row
        (None, Decimal(20), None),  # no data: the binding's default
    ],
)
def test_binding_durations_defaults_and_no_value(run, organization, acme, data, seconds, cents):
    time_saved(run, organization)
    money_saved(run, organization)
    signal = send(run, organization, data)
    assert values(organization, "time-saved") == ({signal.pk: seconds} if seconds is not None else {})
    assert values(organization, "money_saved") == ({signal.pk: cents} if cents is not None else {})


def test_a_unit_less_duration_takes_the_default_only_when_the_field_is_absent(organization):
    metric = ValueMetric(
        formula={
            "expression": "coalesce(time_saved, default_seconds)",
            "variables": [
                {"id": "time_saved", "type": "duration"},
                {"id": "default_seconds", "type": "number"},
            ],
        },
        signal={"eventName": "x", "defaults": {"default_seconds": "20"}},
    )
    assert signal_value(metric, {"time_saved": 3}) == Decimal(20)  # duration is null → coalesce falls through
    assert signal_value(metric, {"time_saved": 1, "time_saved_unit": "minutes"}) == Decimal(60)
    assert signal_value(metric, {"time_saved": None}) == Decimal(20)


def test_other_event_names_deliver_nothing(run, organization, acme):
    time_saved(run, organization)
    send(run, organization, QUICKSTART, event="email_sent")
    assert DeliveredValue.objects.count() == 0


def test_a_metric_created_later_computes_history(run, organization, acme):
    first = send(run, organization, QUICKSTART)
    second = send(run, organization, {"money_saved": 700})
    money_saved(run, organization)
    assert values(organization, "money_saved") == {first.pk: Decimal(1500), second.pk: Decimal(700)}


def test_a_metric_change_recomputes_history(run, organization, acme):
    time_saved(run, organization)
    with_field = send(run, organization, QUICKSTART)
    without = send(run, organization, {"money_saved": 1})
    assert values(organization, "time-saved") == {with_field.pk: Decimal(180), without.pk: Decimal(20)}

    run(
        value_metric_update,
        organization=organization,
        slug="time-saved",
        changes={"variables": {"default_seconds": {"value": 45}}},
    )
    assert values(organization, "time-saved") == {with_field.pk: Decimal(180), without.pk: Decimal(45)}
    assert set(DeliveredValue.objects.values_list("metric_version", flat=True)) == {2}

    run(
        value_metric_update,
        organization=organization,
        slug="time-saved",
        changes={"variables": {"default_seconds": {"value": None}}},
    )
    assert values(organization, "time-saved") == {with_field.pk: Decimal(180)}  # no default: no value


def test_archived_metrics_compute_nothing_and_a_restore_catches_up(run, organization, acme):
    time_saved(run, organization)
    before = send(run, organization, QUICKSTART)
    run(value_metric_archive, organization=organization, slug="time-saved")
    during = send(run, organization, QUICKSTART)
    assert values(organization, "time-saved") == {before.pk: Decimal(180)}  # history kept, nothing new
    metric = ValueMetric.objects.get(slug="time-saved")
    assert value_backfill(organization=organization, metric=metric) == 0
    assert value_deliver(organization=organization, signal_ids=[during.pk]) == 0

    run(value_metric_update, organization=organization, slug="time-saved", changes={"archived_at": None})
    assert values(organization, "time-saved") == {before.pk: Decimal(180), during.pk: Decimal(180)}


def test_other_organizations_are_untouched(run, organization, other_organization, acme):
    customer_create(organization=other_organization, name="Acme", external_id="acme")
    time_saved(run, organization)
    time_saved(run, other_organization)
    mine = send(run, organization, QUICKSTART)
    theirs = send(run, other_organization, {"time_saved": 1, "time_saved_unit": "hours"})
    assert values(organization, "time-saved") == {mine.pk: Decimal(180)}
    assert values(other_organization, "time-saved") == {theirs.pk: Decimal(3600)}

    # Another organization's signal ids compute nothing; a backfill stays in its organization.
    assert value_deliver(organization=organization, signal_ids=[theirs.pk]) == 0
    run(
        value_metric_update,
        organization=organization,
        slug="time-saved",
        changes={"variables": {"default_seconds": {"value": 1}}},
    )
    assert values(other_organization, "time-saved") == {theirs.pk: Decimal(3600)}
    assert DeliveredValue.objects.get(organization=other_organization).metric_version == 1


def test_recomputing_is_idempotent(run, organization, acme):
    time_saved(run, organization)
    money_saved(run, organization)
    signals = [send(run, organization, QUICKSTART) for _ in range(3)]
    rows = list(DeliveredValue.objects.order_by("pk").values_list("pk", "metric_id", "signal_id", "value"))
    assert len(rows) == 6
    ids = [s.pk for s in signals]
    assert value_deliver(organization=organization, signal_ids=ids) == 6
    assert value_deliver(organization=organization, signal_ids=ids) == 6
    for metric in ValueMetric.objects.filter(organization=organization):
        value_backfill(organization=organization, metric=metric)
    assert (
        list(DeliveredValue.objects.order_by("pk").values_list("pk", "metric_id", "signal_id", "value"))
        == rows
    )


def test_a_signal_attributed_later_gets_its_customer(run, organization):
    time_saved(run, organization)
    signal = send(run, organization, QUICKSTART, customer="late")
    assert DeliveredValue.objects.get(signal_id=signal.pk).customer_id is None
    late = customer_create(organization=organization, name="Late", external_id="late")
    run(rating_run, organization=organization)  # attributes the signal and rates it again
    assert DeliveredValue.objects.get(signal_id=signal.pk).customer_id == late.pk
