"""`get_signals_metadata` through paid-python: the SDK's own method and models parse Tally's answer."""

from datetime import UTC, datetime, timedelta

import pytest
from paid.errors import BadRequestError

from tests.sdk.conftest import NO_RETRY

pytestmark = pytest.mark.django_db(transaction=True)


def test_signals_metadata_through_the_sdk(client):
    client.products.create_product(name="Voice agent", external_id="voice")
    now = datetime.now(UTC)
    signals = [
        {
            "event_name": "phone_call",
            "customer": {"external_customer_id": "acme"},
            "attribution": {"external_product_id": "voice"},
            "data": {"call_completed": completed, "duration_minutes": minutes, "agent": {"tier": "gold"}},
            "timestamp": (now - timedelta(hours=hours)).isoformat(),
        }
        for hours, completed, minutes in ((1, True, 4), (2, False, 1.5), (3, True, 7))
    ] + [
        {
            "event_name": "chat_message",
            "customer": {"external_customer_id": "acme"},
            "data": {"tokens": 12},
            "timestamp": (now - timedelta(days=40)).isoformat(),
        }
    ]
    assert client.signals.create_signals(signals=signals).ingested == 4

    metadata = client.analytics.get_signals_metadata()

    [call] = metadata.signals  # the chat message is older than the default 30 days
    assert call.signal_name == "phone_call"
    assert {(p.path, tuple(p.types)) for p in call.paths} == {
        ("agent", ("object",)),
        ("agent.tier", ("string",)),
        ("call_completed", ("boolean",)),
        ("duration_minutes", ("number",)),
    }
    assert call.model_extra["sampledSignals"] == 3
    window_from = datetime.fromisoformat(metadata.meta.from_date)
    window_to = datetime.fromisoformat(metadata.meta.to_date)
    assert window_to - window_from == timedelta(days=30)

    older = client.analytics.get_signals_metadata(
        signal_name="chat_message", from_date=now - timedelta(days=60), to_date=now - timedelta(days=30)
    )
    assert [(s.signal_name, [p.path for p in s.paths]) for s in older.signals] == [
        ("chat_message", ["tokens"])
    ]


def test_a_reversed_window_is_a_bad_request(client):
    now = datetime.now(UTC)
    with pytest.raises(BadRequestError):
        client.analytics.get_signals_metadata(
            from_date=now, to_date=now - timedelta(days=1), request_options=NO_RETRY
        )
