"""Rating against the database: matching by event name and by meter, quantities, skipped and invalid signals,
order windows, attribution of late customers, idempotency, tenancy."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.catalog.services import credit_currency_create, product_attributes_upsert, product_create
from apps.customers.services import customer_create
from apps.meters.services import meter_create
from apps.orders.services import order_create, order_pause
from apps.rating.models import UsageRecord
from apps.rating.services import rating_run
from apps.signals.models import Signal
from apps.signals.services import signal_ingest

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=10)
USD = [{"currency": "USD", "unit_price": Decimal(10)}]


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def credits(organization):
    return credit_currency_create(organization=organization, name="Chat credits", key="chat_credits")


@pytest.fixture
def product(organization, credits):
    product = product_create(organization=organization, name="Agent", external_id="agent")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Emails",
                "pricing": {"pricing_type": "UsagePerUnit", "event_name": "email_sent", "price_points": USD},
            },
            {
                "name": "Chat",
                "pricing": {
                    "pricing_type": "UsagePrepaidCredits",
                    "event_name": "chat_message",
                    "credits_currency_id": credits.display_id,
                    "credit_cost": Decimal("1.5"),
                },
            },
            {
                "name": "Pages",
                "pricing": {
                    "pricing_type": "UsagePrepaidCredits",
                    "event_name": "doc_parsed",
                    "credits_currency_id": credits.display_id,
                    "credit_cost": 1,
                    "pricing_input": {"kind": "signalQuantity", "path": "dimensions.pages"},
                },
            },
        ],
    )
    return product


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Acme", external_id="acme", default_currency="USD")


@pytest.fixture
def order(organization, customer, product):
    return order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": product.display_id}],
        start_date=START,
        creation_state="active",
    )


def send(organization, event, data=None, *, customer="acme", at=NOW - timedelta(hours=1), **extra):
    item = {"eventName": event, "customer": {"externalCustomerId": customer}, "timestamp": at.isoformat()}
    if data is not None:
        item["data"] = data
    result = signal_ingest(organization=organization, signals=[item | extra])
    assert result.ingested == 1, result
    return Signal.objects.filter(organization=organization).order_by("-pk").first()


def state(signal):
    signal.refresh_from_db()
    return signal.rating, signal.rating_error


def records(signal):
    return list(UsageRecord.objects.filter(signal=signal).order_by("pk"))


def test_event_name_lines_get_a_record_with_the_quantity(organization, order):
    plain = send(organization, "email_sent")
    counted = send(organization, "email_sent", {"quantity": 3})
    fractional = send(organization, "email_sent", {"quantity": 2.5})
    result = rating_run(organization=organization)
    assert (result.claimed, result.rated, result.records) == (3, 3, 3)
    assert [r.quantity for s in (plain, counted, fractional) for r in records(s)] == [1, 3, Decimal("2.5")]
    (record,) = records(counted)
    assert record.order_id == order.pk and record.customer_id == order.customer_id
    assert record.credits is None and record.timestamp == counted.timestamp
    assert state(counted) == ("rated", "")


def test_prepaid_credit_lines_burn_credit_cost_times_quantity(organization, order, credits):
    one = send(organization, "chat_message")
    five = send(organization, "chat_message", {"quantity": 5, "external_user_id": "u-1"})
    rating_run(organization=organization)
    assert [(r.credits, r.credits_currency_id) for r in records(one)] == [(Decimal("1.5"), credits.pk)]
    (record,) = records(five)
    assert (record.quantity, record.credits, record.external_user_id) == (5, Decimal("7.5"), "u-1")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"quantity": -1}, "data.quantity is negative"),
        ({"quantity": "3"}, "data.quantity is a string, not a number"),
        ({"quantity": True}, "data.quantity is a boolean, not a number"),
        ({"quantity": None}, "data.quantity is null, not a number"),
    ],
)
def test_unusable_quantities_mark_the_signal_invalid_and_price_nothing(organization, order, data, reason):
    signal = send(organization, "email_sent", data)
    assert rating_run(organization=organization).invalid == 1
    status, error = state(signal)
    assert status == "invalid" and reason in error
    assert records(signal) == []


def test_a_quantity_path_the_pricing_names_is_required(organization, order):
    nested = send(organization, "doc_parsed", {"dimensions": {"pages": 12}})
    missing = send(organization, "doc_parsed", {"pages": 12})
    rating_run(organization=organization)
    assert [r.quantity for r in records(nested)] == [12]
    assert state(missing) == ("invalid", "the quantity field data.dimensions.pages is missing")


def test_signals_nothing_prices_are_skipped_with_the_reason(organization, order):
    unknown_event = send(organization, "sms_sent")
    before_order = send(organization, "email_sent", at=START - timedelta(minutes=1))
    rating_run(organization=organization)
    for signal in (unknown_event, before_order):
        status, error = state(signal)
        assert status == "skipped" and "no active order line" in error
        assert records(signal) == []


def test_paused_orders_price_nothing_from_the_pause_on(organization, order):
    before = send(organization, "email_sent", at=NOW - timedelta(hours=2))
    order_pause(order=order)
    after = send(organization, "email_sent", at=NOW)
    rating_run(organization=organization)
    assert state(before)[0] == "rated" and state(after)[0] == "skipped"


def test_a_signal_attributed_to_another_product_does_not_match(organization, order):
    other = product_create(organization=organization, name="Other", external_id="other")
    assert other
    signal = send(organization, "email_sent", attribution={"externalProductId": "other"})
    rating_run(organization=organization)
    assert state(signal)[0] == "skipped"


def test_an_unknown_customer_is_rated_once_it_appears(organization, product):
    signal = send(organization, "email_sent", customer="late")
    rating_run(organization=organization)
    status, error = state(signal)
    assert status == "skipped" and "late is not a known customer" in error

    late = customer_create(organization=organization, name="Late", external_id="late")
    order_create(
        organization=organization,
        customer_id=late.display_id,
        lines=[{"product_id": product.display_id}],
        start_date=START,
        creation_state="active",
    )
    assert rating_run(organization=organization).rated == 1
    assert state(signal) == ("rated", "") and len(records(signal)) == 1


def test_rating_again_changes_nothing(organization, order):
    signals = [send(organization, "email_sent", {"quantity": n}) for n in range(1, 4)]
    first = rating_run(organization=organization)
    assert first.records == 3
    assert rating_run(organization=organization).claimed == 0
    # even a signal sent back to pending (as attribution does) gets no second record
    Signal.objects.filter(pk=signals[0].pk).update(rating="pending")
    again = rating_run(organization=organization)
    assert (again.claimed, again.rated, again.records) == (1, 1, 0)
    assert UsageRecord.objects.count() == 3


def test_meter_lines_take_matching_signals_and_their_summed_field(organization, customer):
    voice = product_create(organization=organization, name="Voice", external_id="voice")
    calls = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Completed calls",
        event_name="phone_call",
        operation="count",
        filters=[{"field": "call_completed", "op": "=", "value": True}],
    )
    minutes = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Minutes",
        event_name="phone_call",
        operation="sum",
        field="duration_minutes",
    )
    product_attributes_upsert(
        product=voice,
        attributes=[
            {
                "name": "Calls",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "meter_id": calls.display_id,
                    "price_points": USD,
                },
            },
            {
                "name": "Minutes",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "meter_id": minutes.display_id,
                    "price_points": USD,
                },
            },
        ],
    )
    order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": voice.display_id}],
        start_date=START,
        creation_state="active",
    )
    completed = send(organization, "phone_call", {"call_completed": True, "duration_minutes": 4.5})
    dropped = send(organization, "phone_call", {"call_completed": False, "duration_minutes": 1})
    odd = send(organization, "phone_call", {"call_completed": "true", "duration_minutes": "7"})
    rating_run(organization=organization)
    assert sorted((r.quantity for r in records(completed)), key=Decimal) == [1, Decimal("4.5")]
    assert [r.quantity for r in records(dropped)] == [1]  # minutes only: the call meter needs call_completed
    assert state(odd)[0] == "skipped"  # neither meter takes it: "true" is not true, "7" is not a number


def test_rating_is_per_organization(organization, other_organization, order):
    send(organization, "email_sent")
    theirs = send(other_organization, "email_sent")
    assert rating_run(organization=other_organization).claimed == 1
    assert state(theirs)[0] == "skipped"
    assert UsageRecord.objects.count() == 0
    assert rating_run(organization=organization).records == 1


def test_two_credit_lines_of_one_currency_burn_their_sum_for_one_signal(
    organization, order, product, credits
):
    from apps.credits.models import CreditConsumption

    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Chat surcharge",
                "pricing": {
                    "pricing_type": "UsagePrepaidCredits",
                    "event_name": "chat_message",
                    "credits_currency_id": credits.display_id,
                    "credit_cost": 2,
                },
            }
        ],
    )
    customer = order.customer
    both = order_create(
        organization=organization,
        customer_id=customer.display_id,
        lines=[{"product_id": product.display_id}],
        start_date=START,
        creation_state="active",
    )
    assert both
    signal = send(organization, "chat_message", {"quantity": 2})
    rating_run(organization=organization)
    # the first order prices it once (1.5 x 2); the second, made after the surcharge, twice (1.5 x 2 + 2 x 2)
    assert sorted(r.credits for r in records(signal)) == [3, 3, 4]
    (consumption,) = CreditConsumption.objects.filter(signal_id=signal.pk)
    assert consumption.amount == 10 and consumption.status == "pending"  # no credits granted yet
