from datetime import UTC, datetime

import pytest

from apps.catalog.services import product_create
from apps.signals.services import signal_ingest

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="Voice agent", external_id="voice")


@pytest.fixture
def ingest(organization):
    """`ingest(data, event=…, customer=…, at=…)`: one wire signal for the `voice` product."""

    def _ingest(
        data=None, *, event="phone_call", customer="acme", at=NOW, org=None, product="voice", key=None
    ):
        item = {
            "eventName": event,
            "customer": {"externalCustomerId": customer},
            "attribution": {"externalProductId": product},
            "timestamp": at.isoformat(),
        }
        if data is not None:
            item["data"] = data
        if key:
            item["idempotencyKey"] = key
        result = signal_ingest(organization=org or organization, signals=[item])
        assert result.ingested == 1, result
        return result

    return _ingest
