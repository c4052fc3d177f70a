"""Shared helpers of the billing-core tests (import them explicitly: `from tests.billing.fixtures import …`).

Orders are created through `orders.services.order_create` with §4.4 override pricing (snake_case, as the API's
serializer hands it to the service); usage goes through real ingestion and rating."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.billing.models import Invoice
from apps.catalog.services import product_create
from apps.customers.services import customer_create
from apps.orders.services import order_create
from apps.rating.services import rating_run
from apps.signals.services import signal_ingest

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_customer(organization, external_id="acme", **fields):
    return customer_create(
        organization=organization,
        name=fields.pop("name", "Acme"),
        external_id=external_id,
        default_currency="USD",
        **fields,
    )


def make_product(organization, name="AI SDR", external_id="ai-sdr"):
    return product_create(organization=organization, name=name, external_id=external_id)


def attr(name: str, charge_type: str, model: str, unit_price=None, *, quantity: int | None = None, **pricing):
    """One §4.4 override attribute. `unit_price` in cents (int/Decimal) or None for no price point; `tiers`
    (list of dicts) go into the price point."""
    point: dict[str, Any] = {}
    if unit_price is not None:
        point["unit_price"] = Decimal(unit_price)
    for key in ("tiers", "included_quantity", "min_quantity"):
        if key in pricing:
            point[key] = pricing.pop(key)
    body: dict[str, Any] = {"charge_type": charge_type, "pricing_model": model, **pricing}
    if point:
        body["price_points"] = point
    attribute: dict[str, Any] = {"name": name, "pricing": body}
    if quantity is not None:
        attribute["quantity"] = quantity
    return attribute


def fee(name="Platform fee", cents=50000, frequency="monthly", **pricing):
    return attr(name, "recurring", "flat", cents, billing_frequency=frequency, **pricing)


def usage(name, event, cents=None, model="perUnit", **pricing):
    return attr(name, "usage", model, cents, event_name=event, **pricing)


def line(product, *attributes, **fields):
    return {"product_id": product.display_id, "attributes": list(attributes), **fields}


def make_order(organization, customer, *lines, start=T0, activate=True, **fields):
    return order_create(
        organization=organization,
        customer_id=customer.display_id,
        start_date=start,
        currency="USD",
        creation_state="active" if activate else "draft",
        lines=list(lines),
        **fields,
    )


def send(organization, event, at, quantity=None, customer="acme", product=None, **data):
    item: dict[str, Any] = {
        "eventName": event,
        "customer": {"externalCustomerId": customer},
        "timestamp": at.isoformat(),
    }
    if quantity is not None:
        data["quantity"] = quantity
    if data:
        item["data"] = data
    if product is not None:
        item["attribution"] = {"externalProductId": product.external_id}
    result = signal_ingest(organization=organization, signals=[item])
    assert result.ingested == 1, result


def rate(organization):
    while rating_run(organization=organization).claimed:
        pass


def lines_of(invoice: Invoice) -> list[tuple[str, int]]:
    """(description, amount) of each line in order."""
    return [(line.description, line.amount) for line in invoice.lines.order_by("position", "pk")]


def invoices_of(order) -> list[Invoice]:
    return list(Invoice.objects.filter(order=order).order_by("period_start", "pk"))
