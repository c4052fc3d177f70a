"""The organization setting `auto_create_customers`: ingest creates a customer for an unknown external id, once."""

import threading

import pytest
from django.db import connection, connections

from apps.accounts.services import organization_settings_update
from apps.customers.models import Customer
from apps.customers.services import (
    customer_alias_create,
    customer_create,
    customer_delete,
    customer_pks_get_or_create_by_external_ids,
)
from apps.signals.models import Signal
from apps.signals.services import signal_ingest

pytestmark = pytest.mark.django_db


def sig(external_id, **extra):
    return {"eventName": "chat", "customer": {"externalCustomerId": external_id}, **extra}


@pytest.fixture
def auto(organization):
    return organization_settings_update(organization=organization, auto_create_customers=True)


def customers(organization):
    return dict(
        Customer.objects.filter(organization=organization, deleted_at__isnull=True).values_list(
            "external_id", "name"
        )
    )


def test_off_by_default_unknown_ids_stay_unresolved(organization):
    assert organization.auto_create_customers is False
    result = signal_ingest(organization=organization, signals=[sig("new-co")])
    assert (result.ingested, result.customers_created) == (1, 0)
    assert customers(organization) == {}
    assert Signal.objects.get().customer_id is None


def test_on_an_unknown_external_id_becomes_a_customer_once_per_batch(auto):
    result = signal_ingest(
        organization=auto,
        signals=[sig("new-co"), sig("new-co"), sig("other-co"), sig("new-co", data={"n": 1})],
    )
    assert (result.ingested, result.failed, result.customers_created) == (4, 0, 2)
    assert customers(auto) == {"new-co": "new-co", "other-co": "other-co"}
    new_co = Customer.objects.get(external_id="new-co")
    assert new_co.display_id.startswith("cus_") and new_co.creation_state == "active"
    assert set(
        Signal.objects.filter(external_customer_id="new-co").values_list("customer_id", flat=True)
    ) == {new_co.pk}
    assert Signal.objects.filter(customer__isnull=True).count() == 0

    again = signal_ingest(organization=auto, signals=[sig("new-co"), sig("third-co")])
    assert (again.ingested, again.customers_created) == (2, 1)
    assert Customer.objects.filter(organization=auto, external_id="new-co").count() == 1
    assert Signal.objects.filter(customer=new_co).count() == 4


def test_known_ids_and_aliases_are_never_created_again(auto):
    acme = customer_create(organization=auto, name="Acme", external_id="acme")
    customer_alias_create(customer=acme, alias="acme-alias")
    result = signal_ingest(
        organization=auto,
        signals=[
            sig("acme"),
            sig("acme-alias"),
            {"eventName": "x", "customer": {"customerId": acme.display_id}},
        ],
    )
    assert (result.ingested, result.customers_created) == (3, 0)
    assert set(Signal.objects.values_list("customer_id", flat=True)) == {acme.pk}
    assert Customer.objects.filter(organization=auto).count() == 1


def test_an_unknown_display_id_is_not_created(auto):
    result = signal_ingest(
        organization=auto, signals=[{"eventName": "x", "customer": {"customerId": "cus_nope"}}]
    )
    assert (result.ingested, result.customers_created) == (1, 0)
    assert not Customer.objects.exists()
    assert Signal.objects.get().customer_id is None


def test_replays_and_invalid_items_create_no_one(auto):
    signal_ingest(organization=auto, signals=[sig("first", idempotencyKey="k1")])
    Customer.objects.all().delete()  # as if the setting had been off the first time
    result = signal_ingest(
        organization=auto, signals=[sig("second", idempotencyKey="k1"), sig("third", data="not an object")]
    )
    assert (result.ingested, result.duplicates, result.failed, result.customers_created) == (0, 1, 1, 0)
    assert not Customer.objects.exists()


def test_a_deleted_customers_external_id_gets_a_new_customer(auto):
    old = customer_create(organization=auto, name="Old", external_id="reused")
    customer_delete(customer=old)
    signal_ingest(organization=auto, signals=[sig("reused")])
    new = Customer.objects.get(organization=auto, external_id="reused", deleted_at__isnull=True)
    assert new.pk != old.pk and new.name == "reused"
    assert Signal.objects.get().customer_id == new.pk


def test_per_organization(auto, other_organization):
    theirs = customer_create(organization=other_organization, name="Theirs", external_id="shared")
    signal_ingest(organization=auto, signals=[sig("shared")])
    signal_ingest(organization=other_organization, signals=[sig("only-theirs")])  # setting off there
    mine = Customer.objects.get(organization=auto, external_id="shared")
    assert mine.pk != theirs.pk
    assert Signal.objects.get(organization=auto).customer_id == mine.pk
    assert Signal.objects.get(organization=other_organization).customer_id is None
    assert customers(other_organization) == {"shared": "Theirs"}


def test_the_customers_service_resolves_and_creates(organization, other_organization):
    acme = customer_create(organization=organization, name="Acme", external_id="acme")
    customer_alias_create(customer=acme, alias="acme-alias")
    customer_create(organization=other_organization, name="X", external_id="x")
    first = customer_pks_get_or_create_by_external_ids(
        organization=organization, external_ids=["acme", "acme-alias", "x", "y"]
    )
    assert first.created == 2
    x, y = (Customer.objects.get(organization=organization, external_id=eid) for eid in ("x", "y"))
    assert first.pks == {"acme": acme.pk, "acme-alias": acme.pk, "x": x.pk, "y": y.pk}
    assert (x.name, y.name) == ("x", "y")
    second = customer_pks_get_or_create_by_external_ids(organization=organization, external_ids={"x", "y"})
    assert (second.pks, second.created) == ({"x": x.pk, "y": y.pk}, 0)
    assert customer_pks_get_or_create_by_external_ids(organization=organization, external_ids=[]) == ({}, 0)


# --- concurrency ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (SQLite serializes them)"
)
def test_concurrent_batches_naming_the_same_new_id_create_one_customer(organization):
    """Four batches at once, each naming the same three new external ids (in different orders, among others of
    their own): each id gets exactly one customer, and every signal is attributed to it."""
    organization_settings_update(organization=organization, auto_create_customers=True)
    shared = ["shared-a", "shared-b", "shared-c"]
    batches = [
        [sig(eid) for eid in (shared if n % 2 else shared[::-1])] + [sig(f"own-{n}-{i}") for i in range(200)]
        for n in range(4)
    ]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run(batch):
        try:
            barrier.wait()
            results.append(signal_ingest(organization=organization, signals=batch))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.ingested for r in results) == 4 * 203
    assert sum(r.customers_created for r in results) == 3 + 4 * 200
    for eid in shared:
        assert Customer.objects.filter(organization=organization, external_id=eid).count() == 1
    assert Customer.objects.filter(organization=organization).count() == 803
    assert not Signal.objects.filter(customer__isnull=True).exists()
    for eid in shared:
        customer = Customer.objects.get(organization=organization, external_id=eid)
        assert Signal.objects.filter(external_customer_id=eid, customer=customer).count() == 4
