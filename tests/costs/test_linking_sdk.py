"""Linking through the SDK on the live server: the wire form `cost_attributed_signal` sends (§5.4), then
`SignalListItem.traceId` (§3.5) on `list_signals` / `get_signal_by_id`."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from paid import CustomerByExternalId, ProductByExternalId, Signal

from apps.costs.models import CostRecord
from apps.costs.services import signals_link_for_cost_records
from apps.customers.services import customer_create
from tests.sdk.conftest import base_url, client, make_client, other_client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def span_cost(organization, *, scope, trace, span):
    return CostRecord.objects.create(
        organization=organization,
        source=CostRecord.Source.SPAN,
        kind=CostRecord.Kind.USAGE,
        timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
        external_customer_id="beta",
        external_product_id="agent-1",
        vendor="openai",
        model="gpt-4o-mini",
        input_tokens=10,
        amount=Decimal("0.001"),
        price_status=CostRecord.PriceStatus.PRICED,
        trace_id=trace,
        span_id=span,
        paid_scope_id=scope,
    )


def cost_attributed_signal(client, *, scope, name="answer"):  # noqa: F811
    """The request `paid.tracing.cost_attributed_signal` makes inside `paid_tracing("beta", external_product_id=…)`."""
    return client.signals.create_signals(
        signals=[
            Signal(
                event_name=name,
                customer=CustomerByExternalId(external_customer_id="beta"),
                attribution=ProductByExternalId(external_product_id="agent-1"),
                data={"tokens": 3, "paid": {"paid_scope_id": scope}},
            )
        ]
    )


def test_trace_id_is_filled_for_a_signal_linked_through_its_scope(client, other_client, organization):  # noqa: F811
    customer_create(organization=organization, name="Beta Co", external_id="beta")
    token = 0x4BF92F3577B34DA6A3CE929D0E0E4736  # generate_tracing_token(): an int, 32 hex on the wire
    trace = f"{token:032x}"
    # Two processes joined by the tracing token: each its own paid_scope_id, one trace id.
    process_a = span_cost(organization, scope=1234, trace=trace, span="00f067aa0ba902b7")
    signals_link_for_cost_records(organization=organization, record_pks=[process_a.pk])
    process_b = span_cost(organization, scope=5678, trace=trace, span="00f067aa0ba902b8")
    signals_link_for_cost_records(organization=organization, record_pks=[process_b.pk])

    assert cost_attributed_signal(client, scope=5678).ingested == 1
    cost_attributed_signal(client, scope=999_999, name="untraced")

    listed = {item.name: item for item in client.signals.list_signals().data}
    assert listed["answer"].trace_id == trace
    assert listed["untraced"].trace_id is None
    assert client.signals.get_signal_by_id(listed["answer"].id).trace_id == trace
    process_a.refresh_from_db()
    process_b.refresh_from_db()
    assert process_a.signal_id == process_b.signal_id is not None
    # Another organization sees nothing of it.
    assert other_client.signals.list_signals().data == []


def test_signal_first_then_spans_fills_the_trace_id(client, organization):  # noqa: F811
    customer_create(organization=organization, name="Beta Co", external_id="beta")
    cost_attributed_signal(client, scope=77)
    [item] = client.signals.list_signals().data
    assert item.trace_id is None
    trace = "0af7651916cd43dd8448eb211c80319c"
    record = span_cost(organization, scope=77, trace=trace, span="b7ad6b7169203331")
    assert signals_link_for_cost_records(organization=organization, record_pks=[record.pk]) == 1
    [item] = client.signals.list_signals().data
    assert item.trace_id == trace
