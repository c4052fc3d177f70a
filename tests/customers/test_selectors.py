"""`customer_pks_by_reference`: ingest's bulk resolution (display id, external id, alias) of live customers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.customers.models import CustomerAlias
from apps.customers.selectors import customer_pks_by_reference
from apps.customers.services import customer_alias_create, customer_create

pytestmark = pytest.mark.django_db


def resolve(organization, display_ids=(), external_ids=()):
    return customer_pks_by_reference(
        organization=organization, display_ids=set(display_ids), external_ids=set(external_ids)
    )


def test_display_ids_external_ids_and_aliases(organization):
    acme = customer_create(organization=organization, name="Acme", external_id="acme")
    globex = customer_create(organization=organization, name="Globex", external_id="globex")
    customer_alias_create(customer=acme, alias="acme-alias")
    by_display, by_external = resolve(
        organization,
        display_ids={acme.display_id, "cus_unknown", "acme"},
        external_ids={"acme", "globex", "acme-alias", "unknown", acme.display_id},
    )
    # Each set is matched on its own column only: a display id is not an external id, and back.
    assert by_display == {acme.display_id: acme.pk}
    assert by_external == {"acme": acme.pk, "globex": globex.pk, "acme-alias": acme.pk}


def test_an_external_id_wins_over_an_alias_with_the_same_text(organization):
    acme = customer_create(organization=organization, name="Acme", external_id="acme")
    other = customer_create(organization=organization, name="Other")
    # The services refuse such an alias; the rows can still meet (an alias older than the external id).
    CustomerAlias.objects.create(organization=organization, customer=other, alias="acme")
    assert resolve(organization, external_ids={"acme"}) == ({}, {"acme": acme.pk})


def test_soft_deleted_customers_and_their_aliases_do_not_resolve(organization):
    gone = customer_create(organization=organization, name="Gone", external_id="gone")
    CustomerAlias.objects.create(organization=organization, customer=gone, alias="gone-alias")
    gone.deleted_at = timezone.now()
    gone.save(update_fields=["deleted_at"])
    assert resolve(organization, {gone.display_id}, {"gone", "gone-alias"}) == ({}, {})


def test_another_organizations_customers_do_not_resolve(organization, other_organization):
    theirs = customer_create(organization=other_organization, name="Theirs", external_id="shared")
    customer_alias_create(customer=theirs, alias="their-alias")
    ours = customer_create(organization=organization, name="Ours", external_id="shared")
    assert resolve(organization, {theirs.display_id}, {"shared", "their-alias"}) == ({}, {"shared": ours.pk})
    assert resolve(other_organization, {ours.display_id}, {"shared"}) == ({}, {"shared": theirs.pk})


def test_a_batch_sized_set_in_three_queries(organization):
    customers = [
        customer_create(organization=organization, name=f"C{i}", external_id=f"ext-{i}") for i in range(40)
    ]
    for customer in customers[:10]:
        customer_alias_create(customer=customer, alias=f"alias-{customer.external_id}")
    display_ids = {c.display_id for c in customers[::2]} | {f"cus_missing{i}" for i in range(600)}
    external_ids = {f"ext-{i}" for i in range(20)} | {f"alias-ext-{i}" for i in range(10)}
    external_ids |= {f"unknown-{i}" for i in range(600)}
    with CaptureQueriesContext(connection) as queries:
        by_display, by_external = resolve(organization, display_ids, external_ids)
    assert len(queries) == 3
    assert by_display == {c.display_id: c.pk for c in customers[::2]}
    assert by_external == {
        **{f"ext-{i}": customers[i].pk for i in range(20)},
        **{f"alias-ext-{i}": customers[i].pk for i in range(10)},
    }
    assert resolve(organization) == ({}, {})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array parameter is PostgreSQL's")
def test_on_postgresql_the_ids_go_as_one_array_parameter(organization):
    customer_create(organization=organization, name="Acme", external_id="acme")
    with CaptureQueriesContext(connection) as queries:
        resolve(organization, {"cus_a", "cus_b"}, {"x", "y", "z"})
    assert len(queries) == 3
    for query in queries:
        assert "= ANY(" in query["sql"] and " IN (" not in query["sql"], query["sql"]


TRICKY = ["NULL", "null", "a,b", "{x}", 'a"b', "a\\b", " padded ", "it's", "é", "(1)", "\t"]


def test_ids_with_array_syntax_in_them_match_exactly(organization):
    """On PostgreSQL the ids travel as one array literal: quotes, commas, braces, backslashes and the word
    NULL must come out as the same texts."""
    customers = {
        text: customer_create(organization=organization, name=f"C{i}", external_id=text)
        for i, text in enumerate(TRICKY)
    }
    by_display, by_external = resolve(organization, TRICKY, [*TRICKY, "a", "b", "x", "NUL"])
    assert by_display == {}
    assert by_external == {text: customer.pk for text, customer in customers.items()}
    # Each alone too (an array of one element).
    for text, customer in customers.items():
        assert resolve(organization, external_ids={text}) == ({}, {text: customer.pk})
