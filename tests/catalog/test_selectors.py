"""`product_pks_by_reference`: ingest's bulk resolution of products by display id and external id."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.selectors import product_pks_by_reference
from apps.catalog.services import product_archive, product_create

pytestmark = pytest.mark.django_db


def resolve(organization, display_ids=(), external_ids=()):
    return product_pks_by_reference(
        organization=organization, display_ids=set(display_ids), external_ids=set(external_ids)
    )


def test_display_ids_and_external_ids_of_the_organization(organization, other_organization):
    agent = product_create(organization=organization, name="Agent", external_id="agent")
    archived = product_archive(
        product=product_create(organization=organization, name="Old", external_id="old")
    )
    theirs = product_create(organization=other_organization, name="Agent", external_id="theirs")
    by_display, by_external = resolve(
        organization,
        {agent.display_id, archived.display_id, theirs.display_id, "prod_unknown", "agent"},
        {"agent", "old", "theirs", "unknown", agent.display_id},
    )
    # Archived products still resolve (signals of existing orders); another organization's never do.
    assert by_display == {agent.display_id: agent.pk, archived.display_id: archived.pk}
    assert by_external == {"agent": agent.pk, "old": archived.pk}
    assert resolve(organization) == ({}, {})


def test_a_batch_sized_set_in_two_queries(organization):
    products = [
        product_create(organization=organization, name=f"P{i}", external_id=f"p-{i}") for i in range(10)
    ]
    display_ids = {p.display_id for p in products[:5]} | {f"prod_missing{i}" for i in range(700)}
    external_ids = {f"p-{i}" for i in range(5, 10)} | {f"unknown-{i}" for i in range(700)}
    with CaptureQueriesContext(connection) as queries:
        by_display, by_external = resolve(organization, display_ids, external_ids)
    assert len(queries) == 2
    assert by_display == {p.display_id: p.pk for p in products[:5]}
    assert by_external == {p.external_id: p.pk for p in products[5:]}
    if connection.vendor == "postgresql":
        for query in queries:
            assert "= ANY(" in query["sql"] and " IN (" not in query["sql"], query["sql"]
