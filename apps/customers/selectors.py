from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import F, Lookup, Q, QuerySet
from django.db.models.lookups import In
from django.utils import timezone

from apps.common.exceptions import NotFound
from apps.customers.models import Contact, Customer, CustomerAlias, CustomerUser

if TYPE_CHECKING:  # accounts' models are private to it; the type is all we need
    from apps.accounts.models import Organization


def _customers(organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.filter(organization=organization, deleted_at__isnull=True)


def customer_list(
    *,
    organization: Organization,
    name: str | None = None,
    search: str | None = None,
    status: str | None = None,
    creation_state: str | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
    external_id: str | None = None,
) -> QuerySet[Customer]:
    """Live customers, newest first. `search` matches name, email or external id (dashboard)."""
    qs = _customers(organization)
    if name:
        qs = qs.filter(name__icontains=name)
    if search:
        qs = qs.filter(
            Q(name__icontains=search) | Q(email__icontains=search) | Q(external_id__icontains=search)
        )
    churned = Q(churn_date__isnull=False, churn_date__lte=timezone.now())
    if status == "churned":
        qs = qs.filter(churned)
    elif status == "active":
        qs = qs.exclude(churned)
    if creation_state:
        qs = qs.filter(creation_state=creation_state)
    if created_at_from:
        qs = qs.filter(created_at__gte=created_at_from)
    if created_at_to:
        # "created on or before": inclusive, as the SDK documents (a bare date means its 00:00 UTC).
        qs = qs.filter(created_at__lte=created_at_to)
    if external_id is not None:
        qs = qs.filter(external_id=external_id)
    return qs.order_by("-created_at", "-pk")


def customer_get(*, organization: Organization, customer_id: str) -> Customer:
    """By display id (`cus_…`); another organization's id is NotFound."""
    customer = _customers(organization).filter(display_id=customer_id).first()
    if customer is None:
        raise NotFound("Customer", customer_id)
    return customer


def customer_get_by_external_id(*, organization: Organization, external_id: str) -> Customer:
    """By external id, else by alias."""
    customer = customer_find_by_external_id(organization=organization, external_id=external_id)
    if customer is None:
        raise NotFound("Customer with external id", external_id)
    return customer


def customer_find_by_external_id(*, organization: Organization, external_id: str) -> Customer | None:
    """The live customer whose external id, else one of whose aliases, is `external_id`."""
    customer = _customers(organization).filter(external_id=external_id).first()
    if customer is None:
        customer = _customers(organization).filter(aliases__alias=external_id).first()
    return customer


def customer_identifier_taken(
    *, organization: Organization, identifier: str, exclude_customer: Customer | None = None
) -> bool:
    """Whether `identifier` already resolves to a live customer, as its external id or as an alias.

    External ids and aliases share one namespace: both address a customer in `…/external/{eid}` routes."""
    customers = _customers(organization)
    aliases = CustomerAlias.objects.filter(organization=organization, alias=identifier)
    if exclude_customer is not None:
        customers = customers.exclude(pk=exclude_customer.pk)
        aliases = aliases.exclude(customer=exclude_customer)
    return customers.filter(external_id=identifier).exists() or aliases.exists()


def customer_alias_list(*, customer: Customer) -> QuerySet[CustomerAlias]:
    return customer.aliases.order_by("created_at", "pk")


def customer_alias_get(*, customer: Customer, alias: str) -> CustomerAlias:
    found = customer.aliases.filter(alias=alias).first()
    if found is None:
        raise NotFound("Customer alias", alias)
    return found


def customer_user_list(*, customer: Customer) -> QuerySet[CustomerUser]:
    """The customer's users, oldest first."""
    return customer.users.order_by("created_at", "pk")


def customer_user_get(*, customer: Customer, user_external_id: str) -> CustomerUser:
    """The customer's user with external id `user_external_id`; NotFound if it has none."""
    user = customer.users.filter(external_id=user_external_id).first()
    if user is None:
        raise NotFound("Customer user", user_external_id)
    return user


def customer_user_find_for_update(*, customer: Customer, user_external_id: str) -> CustomerUser | None:
    """The customer's user with that external id, row-locked until the transaction ends (None if absent).
    Only services call it, inside `transaction.atomic`."""
    return (
        CustomerUser.objects.select_for_update()
        .filter(organization_id=customer.organization_id, customer=customer, external_id=user_external_id)
        .first()
    )


def contact_list(*, organization: Organization, customer: Customer | None = None) -> QuerySet[Contact]:
    qs = Contact.objects.filter(organization=organization, customer__deleted_at__isnull=True)
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs.select_related("customer").order_by("-created_at", "-pk")


def contact_get(*, organization: Organization, contact_id: str) -> Contact:
    contact = contact_list(organization=organization).filter(display_id=contact_id).first()
    if contact is None:
        raise NotFound("Contact", contact_id)
    return contact


def contact_get_by_external_id(*, organization: Organization, external_id: str) -> Contact:
    contact = contact_list(organization=organization).filter(external_id=external_id).first()
    if contact is None:
        raise NotFound("Contact with external id", external_id)
    return contact


class _AnyOf(Lookup):
    """`column = ANY(%s)`: the values as one array parameter on PostgreSQL, where `__in` would make one parameter
    each (~630 for an ingest batch) for Django to compile and psycopg to quote; `IN (…)` elsewhere.
    Used as `.filter(_AnyOf(F("field"), values))`."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        return compiler.compile(In(self.lhs, list(self.rhs)))

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def customer_pks_by_reference(
    *, organization: Organization, display_ids: set[str], external_ids: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Bulk resolution for ingestion: ({display id: pk}, {external id or alias: pk}) of live customers; two or
    three queries whatever the number of ids. An external id wins over an alias with the same text."""
    by_display: dict[str, int] = {}
    by_external: dict[str, int] = {}
    live = _customers(organization)
    if display_ids:
        by_display = dict(live.filter(_AnyOf(F("display_id"), display_ids)).values_list("display_id", "pk"))
    if external_ids:
        by_external = dict(
            live.filter(_AnyOf(F("external_id"), external_ids)).values_list("external_id", "pk")
        )
        missing = external_ids - by_external.keys()
        if missing:
            aliases = (
                CustomerAlias.objects.filter(organization=organization, customer__deleted_at__isnull=True)
                .filter(_AnyOf(F("alias"), missing))
                .values_list("alias", "customer_id")
            )
            by_external.update(dict(aliases))
    return by_display, by_external
