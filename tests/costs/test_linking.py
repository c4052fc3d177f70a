"""Linking cost records to signals (§5.4, §5.5): by customer + `paid_scope_id`, and by trace; in both orders."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest

from apps.costs.models import CostRecord
from apps.costs.selectors import cost_totals, signal_costs
from apps.costs.services import cost_records_link_for_signals, signals_link_for_cost_records
from apps.customers.services import customer_create
from apps.signals.models import Signal

pytestmark = pytest.mark.django_db
TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
_span = count(1)


@pytest.fixture
def customer(organization):
    return customer_create(organization=organization, name="Beta Co", external_id="beta")


def span_cost(organization, *, scope, trace=TRACE, customer="beta", amount="0.01"):
    """What the OTLP ingest stores for an LLM span."""
    return CostRecord.objects.create(
        organization=organization,
        source=CostRecord.Source.SPAN,
        kind=CostRecord.Kind.USAGE,
        timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
        external_customer_id=customer,
        vendor="openai",
        model="gpt-4o-mini",
        input_tokens=10,
        amount=Decimal(amount),
        price_status=CostRecord.PriceStatus.PRICED,
        trace_id=trace,
        span_id=f"{next(_span):016x}",
        paid_scope_id=scope,
    )


def spans_stored(organization, *records):
    """The OTLP ingest's call after storing span costs."""
    return signals_link_for_cost_records(organization=organization, record_pks=[r.pk for r in records])


def send(api, capture, *, scope=None, customer="beta", name="answer", data=None):
    data = dict(data or {})
    if scope is not None:
        data["paid"] = {"paid_scope_id": scope}
    body = {"eventName": name, "customer": {"externalCustomerId": customer}, "data": data}
    with capture(execute=True):
        response = api.post("/api/v2/signals/bulk", {"signals": [body]}, format="json")
    assert response.json()["ingested"] == 1
    return Signal.objects.filter(event_name=name).latest("pk")


def linked(record):
    record.refresh_from_db()
    return record.signal_id


def test_costs_first_then_signal(api, organization, customer, django_capture_on_commit_callbacks):
    first = span_cost(organization, scope=111)
    second = span_cost(organization, scope=111)
    elsewhere = span_cost(organization, scope=222, trace=OTHER_TRACE)
    other_customer = span_cost(organization, scope=111, customer="gamma", trace=OTHER_TRACE)
    assert spans_stored(organization, first, second, elsewhere, other_customer) == 0  # no signal yet
    signal = send(api, django_capture_on_commit_callbacks, scope=111)
    assert linked(first) == linked(second) == signal.pk
    assert linked(elsewhere) is None
    assert linked(other_customer) is None
    signal.refresh_from_db()
    assert signal.trace_id == TRACE
    assert cost_totals(signal_costs(organization=organization, signal_pk=signal.pk)) == {
        "USD": Decimal("0.02")
    }


def test_signal_first_then_costs(api, organization, customer, django_capture_on_commit_callbacks):
    signal = send(api, django_capture_on_commit_callbacks, scope=111)
    signal.refresh_from_db()
    assert signal.trace_id is None
    record = span_cost(organization, scope=111)
    stray = span_cost(organization, scope=999, trace=OTHER_TRACE)
    assert spans_stored(organization, record, stray) == 1
    assert linked(record) == signal.pk
    assert linked(stray) is None
    signal.refresh_from_db()
    assert signal.trace_id == TRACE


def test_scope_and_customer_must_both_match(api, organization, customer, django_capture_on_commit_callbacks):
    customer_create(organization=organization, name="Gamma", external_id="gamma")
    send(api, django_capture_on_commit_callbacks, scope=5, customer="gamma", name="theirs")
    record = span_cost(organization, scope=5, customer="beta")
    assert spans_stored(organization, record) == 0
    assert linked(record) is None


def test_another_organizations_signal_never_takes_the_costs(
    api, other_api, organization, customer, django_capture_on_commit_callbacks
):
    record = span_cost(organization, scope=7)
    send(other_api, django_capture_on_commit_callbacks, scope=7)
    assert linked(record) is None
    assert spans_stored(organization, record) == 0


def test_tracing_token_joins_two_processes_into_one_signal(
    api, organization, customer, django_capture_on_commit_callbacks
):
    # Two processes share a trace id (generate_tracing_token → paid_tracing(tracing_token=t)); each has its
    # own paid_scope_id. Process B sends the signal.
    token = 0x0AF7651916CD43DD8448EB211C80319C
    trace = f"{token:032x}"
    process_a = span_cost(organization, scope=1001, trace=trace)
    spans_stored(organization, process_a)
    process_b = span_cost(organization, scope=2002, trace=trace)
    spans_stored(organization, process_b)
    signal = send(api, django_capture_on_commit_callbacks, scope=2002)
    assert linked(process_b) == signal.pk
    assert linked(process_a) == signal.pk  # through the trace
    # A later span of process A joins it too.
    late = span_cost(organization, scope=1001, trace=trace)
    assert spans_stored(organization, late) == 1
    assert linked(late) == signal.pk


def test_two_signals_in_one_trace_keep_their_own_scopes(
    api, organization, customer, django_capture_on_commit_callbacks
):
    # One paid_tracing block: scope rotates after each cost_attributed_signal.
    a1 = span_cost(organization, scope=1)
    b1 = span_cost(organization, scope=2)
    first = send(api, django_capture_on_commit_callbacks, scope=1, name="first")
    assert linked(a1) == first.pk
    assert linked(b1) == first.pk  # for now the trace's only signal
    second = send(api, django_capture_on_commit_callbacks, scope=2, name="second")
    assert linked(b1) == second.pk  # its own scope's signal wins
    assert linked(a1) == first.pk
    # A span after both, of a third scope no signal has: ambiguous, stays unlinked.
    trailing = span_cost(organization, scope=3)
    assert spans_stored(organization, trailing) == 0
    assert linked(trailing) is None
    # Scope 2's span arriving late goes to its own signal.
    late = span_cost(organization, scope=2)
    spans_stored(organization, late)
    assert linked(late) == second.pk


def test_a_replayed_scope_keeps_the_first_signal(
    api, organization, customer, django_capture_on_commit_callbacks
):
    record = span_cost(organization, scope=42)
    first = send(api, django_capture_on_commit_callbacks, scope=42, name="one")
    send(api, django_capture_on_commit_callbacks, scope=42, name="two")
    assert linked(record) == first.pk


def test_span_signal_with_cost_tracing_takes_its_trace(
    api, organization, customer, django_capture_on_commit_callbacks
):
    # §5.3: the OTLP ingest stores `paid.trace.signal` spans as signals with their trace id.
    signal = send(api, django_capture_on_commit_callbacks, data={"paid": {"enable_cost_tracing": True}})
    Signal.objects.filter(pk=signal.pk).update(trace_id=TRACE)
    record = span_cost(organization, scope=None)
    assert spans_stored(organization, record) == 1
    assert linked(record) == signal.pk
    before = span_cost(organization, scope=None, trace=OTHER_TRACE)
    Signal.objects.filter(pk=signal.pk).update(trace_id=OTHER_TRACE)
    assert cost_records_link_for_signals(organization=organization, signal_pks=[signal.pk]) == 1
    assert linked(before) == signal.pk


def test_a_signal_without_cost_tracing_takes_nothing(
    api, organization, customer, django_capture_on_commit_callbacks
):
    signal = send(api, django_capture_on_commit_callbacks, data={"quantity": 1})
    Signal.objects.filter(pk=signal.pk).update(trace_id=TRACE)
    record = span_cost(organization, scope=None)
    assert cost_records_link_for_signals(organization=organization, signal_pks=[signal.pk]) == 0
    assert linked(record) is None


def test_a_signals_own_cost_data_is_never_moved(
    api, organization, customer, django_capture_on_commit_callbacks
):
    first = send(
        api,
        django_capture_on_commit_callbacks,
        scope=8,
        name="with-cost-data",
        data={"costData": {"vendor": "v", "cost": {"amount": 1, "currency": "USD"}}},
    )
    own = CostRecord.objects.get(source=CostRecord.Source.SIGNAL)
    assert own.signal_id == first.pk
    span = span_cost(organization, scope=8)
    spans_stored(organization, span)
    assert linked(span) == first.pk
    assert signal_costs(organization=organization, signal_pk=first.pk).count() == 2


def test_linking_again_changes_nothing(api, organization, customer, django_capture_on_commit_callbacks):
    record = span_cost(organization, scope=3)
    signal = send(api, django_capture_on_commit_callbacks, scope=3)
    assert cost_records_link_for_signals(organization=organization, signal_pks=[signal.pk]) == 0
    assert spans_stored(organization, record) == 0
    assert linked(record) == signal.pk
