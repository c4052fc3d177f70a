from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.db import unique_or_error
from apps.common.exceptions import Conflict, DomainError, NotFound, ReferenceNotFound
from apps.customers.models import Contact, Customer, CustomerAlias, CustomerUser
from apps.customers.selectors import (
    customer_alias_get,
    customer_get,
    customer_get_by_external_id,
    customer_identifier_taken,
    customer_pks_by_reference,
    customer_user_find_for_update,
)

if TYPE_CHECKING:  # accounts' models are private to it; the type is all we need
    from apps.accounts.models import Organization

# Text columns that the API reports as "" when unset: an explicit null clears them to "".
_CUSTOMER_TEXT = {"legal_name", "email", "phone", "website", "vat_number"}
_CONTACT_TEXT = {"first_name", "last_name", "phone"}


def _blank_nulls(values: dict[str, Any], text_fields: set[str]) -> dict[str, Any]:
    return {key: ("" if value is None and key in text_fields else value) for key, value in values.items()}


def _external_id_taken(external_id: str | None) -> str:
    return f"externalId {external_id!r} is already used by another customer"


def _check_external_id_free(
    *, organization: Organization, external_id: str | None, customer: Customer | None = None
) -> None:
    # The unique constraint covers external ids; aliases live in another table, so check both here.
    if external_id is not None and customer_identifier_taken(
        organization=organization, identifier=external_id, exclude_customer=customer
    ):
        raise DomainError(_external_id_taken(external_id), code="DUPLICATE", field="external_id")


@transaction.atomic
def customer_create(*, organization: Organization, name: str, **fields: Any) -> Customer:
    """Create a customer. `fields` are optional Customer columns (email, external_id, metadata, …)."""
    fields = _blank_nulls(fields, _CUSTOMER_TEXT)
    if fields.get("default_currency") is None:
        fields.pop("default_currency", None)
    if fields.get("creation_state") is None:
        fields.pop("creation_state", None)
    _check_external_id_free(organization=organization, external_id=fields.get("external_id"))
    with unique_or_error(_external_id_taken(fields.get("external_id")), field="external_id"):
        return Customer.objects.create(organization=organization, name=name, **fields)


@transaction.atomic
def customer_update(*, customer: Customer, **changes: Any) -> Customer:
    """Partial update: only the keys given change; None clears optional fields."""
    changes = _blank_nulls(changes, _CUSTOMER_TEXT)
    if "creation_state" in changes and changes["creation_state"] is None:
        del changes["creation_state"]
    if changes.get("external_id") not in (None, customer.external_id):
        _check_external_id_free(
            organization=customer.organization, external_id=changes["external_id"], customer=customer
        )
    for key, value in changes.items():
        setattr(customer, key, value)
    with unique_or_error(_external_id_taken(changes.get("external_id")), field="external_id"):
        customer.save()
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Soft-delete: the customer disappears from the API and dashboard, its external id, aliases and contacts
    are removed, and rows that bill it (orders, invoices, usage) keep their reference."""
    customer.deleted_at = timezone.now()
    customer.save(update_fields=["deleted_at", "updated_at"])
    customer.aliases.all().delete()
    customer.contacts.all().delete()


@transaction.atomic
def customer_alias_create(
    *, customer: Customer, alias: str, name: str = "", description: str = ""
) -> CustomerAlias:
    """Add an alternate external id. 409 if it already names a customer of the organization."""
    if customer_identifier_taken(organization=customer.organization, identifier=alias):
        raise Conflict(f"alias {alias!r} already identifies a customer", code="ALIAS_EXISTS", field="alias")
    try:
        with transaction.atomic():
            return CustomerAlias.objects.create(
                organization_id=customer.organization_id,
                customer=customer,
                alias=alias,
                name=name or "",
                description=description or "",
            )
    except IntegrityError as exc:  # a concurrent insert of the same alias
        raise Conflict(
            f"alias {alias!r} already identifies a customer", code="ALIAS_EXISTS", field="alias"
        ) from exc


@transaction.atomic
def customer_alias_delete(*, customer: Customer, alias: str) -> None:
    """Remove one of the customer's aliases (NotFound if it has no such alias)."""
    customer_alias_get(customer=customer, alias=alias).delete()


def _contact_customer(*, organization: Organization, customer_id: str) -> Customer:
    try:
        return customer_get(organization=organization, customer_id=customer_id)
    except NotFound:
        raise ReferenceNotFound("Customer", customer_id, field="customer_id") from None


@transaction.atomic
def contact_create(*, organization: Organization, customer_id: str, email: str, **fields: Any) -> Contact:
    """Create a contact for one of the organization's customers (by display id)."""
    customer = _contact_customer(organization=organization, customer_id=customer_id)
    fields = _blank_nulls(fields, _CONTACT_TEXT)
    fields["roles"] = fields.get("roles") or []
    with unique_or_error(f"externalId {fields.get('external_id')!r} is already used", field="external_id"):
        return Contact.objects.create(organization=organization, customer=customer, email=email, **fields)


@transaction.atomic
def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    """Partial update; a `customer_id` moves the contact to another customer of the organization."""
    changes = _blank_nulls(changes, _CONTACT_TEXT)
    if "customer_id" in changes:
        customer_id = changes.pop("customer_id")
        if customer_id is not None:
            contact.customer = _contact_customer(organization=contact.organization, customer_id=customer_id)
    if "roles" in changes:
        changes["roles"] = changes["roles"] or []
    for key, value in changes.items():
        setattr(contact, key, value)
    with unique_or_error(f"externalId {changes.get('external_id')!r} is already used", field="external_id"):
        contact.save()
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Delete the contact (hard delete: nothing bills a contact)."""
    contact.delete()


_USER_FIELDS = {"name", "email", "metadata", "status"}
_USER_TEXT_LIMITS = {"name": 255, "email": 254}


def _customer_user_changes(*, user_external_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The validated column changes of an upsert: omitted keys are absent, a blank name/email is null (unset),
    a null status is dropped (kept as is, `active` on insert)."""
    if unknown := set(fields) - _USER_FIELDS:
        raise TypeError(f"customer_user_upsert() got unexpected fields: {sorted(unknown)}")
    if not user_external_id or len(user_external_id) > 255:
        raise DomainError("must be 1 to 255 characters", code="VALIDATION_ERROR", field="user_external_id")
    changes = dict(fields)
    for key, limit in _USER_TEXT_LIMITS.items():
        value = changes.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DomainError("must be a string or null", code="VALIDATION_ERROR", field=key)
        if len(value) > limit:
            raise DomainError(f"must be at most {limit} characters", code="VALIDATION_ERROR", field=key)
        changes[key] = value or None
    if changes.get("email") is not None:
        try:
            validate_email(changes["email"])
        except ValidationError:
            raise DomainError(
                "Enter a valid email address.", code="VALIDATION_ERROR", field="email"
            ) from None
    if "metadata" in changes and not isinstance(changes["metadata"], dict | None):
        raise DomainError("must be a JSON object or null", code="VALIDATION_ERROR", field="metadata")
    if "status" in changes:
        if changes["status"] is None:
            del changes["status"]
        elif changes["status"] not in CustomerUser.Status.values:
            raise DomainError(
                f"{changes['status']!r} is not one of active, deactivated",
                code="VALIDATION_ERROR",
                field="status",
            )
    return changes


def _differs(old: Any, new: Any) -> bool:
    # As JSON: in Python 1 == 1.0 == True, but metadata must come back exactly as last sent.
    return json.dumps(old) != json.dumps(new)


@transaction.atomic
def customer_user_upsert(
    *, organization: Organization, customer_external_id: str, user_external_id: str, **fields: Any
) -> tuple[CustomerUser, bool]:
    """Create or update the user `user_external_id` of the customer with that external id (or alias);
    returns (user, created). `fields` are name, email, metadata, status: omitted keys are kept, null clears
    name/email/metadata, null status keeps it. Locks the user row; concurrent upserts of one user converge
    on one row (the unique constraint decides who inserts, the loser updates)."""
    changes = _customer_user_changes(user_external_id=user_external_id, fields=fields)
    customer = customer_get_by_external_id(organization=organization, external_id=customer_external_id)
    user = customer_user_find_for_update(customer=customer, user_external_id=user_external_id)
    if user is None:
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the outer transaction usable
                user = CustomerUser.objects.create(
                    organization=organization, customer=customer, external_id=user_external_id, **changes
                )
            return user, True
        except IntegrityError:
            # A concurrent upsert inserted this user first (on PostgreSQL the insert waited for its commit).
            user = customer_user_find_for_update(customer=customer, user_external_id=user_external_id)
            if user is None:
                raise
    changed = [key for key, value in changes.items() if _differs(getattr(user, key), value)]
    if changed:
        for key in changed:
            setattr(user, key, changes[key])
        user.save(update_fields=[*changed, "updated_at"])
    return user, False


class CustomerPks(NamedTuple):
    pks: dict[str, int]  # external id (or alias) → customer pk
    created: int  # how many of them this call created


@transaction.atomic
def customer_pks_get_or_create_by_external_ids(
    *, organization: Organization, external_ids: Collection[str]
) -> CustomerPks:
    """The live customer each external id (or alias) names, creating a customer named after the id for each
    one that names no one (signal ingest with `auto_create_customers`). Safe under concurrent calls: the insert
    skips ids that the live external-id unique constraint already holds (on PostgreSQL it waits for a concurrent
    insert of the same id to commit), then the ids are read back, so each id gets one customer. Ids are
    inserted in sorted order, so two calls that share ids lock them in the same order."""
    _, pks = customer_pks_by_reference(
        organization=organization, display_ids=set(), external_ids=set(external_ids)
    )
    missing = sorted(set(external_ids) - pks.keys())
    if not missing:
        return CustomerPks(pks=pks, created=0)
    new = [
        Customer(organization=organization, name=external_id, external_id=external_id)
        for external_id in missing
    ]
    Customer.objects.bulk_create(new, ignore_conflicts=True)
    ours = {customer.display_id for customer in new}
    rows = Customer.objects.filter(
        organization=organization, deleted_at__isnull=True, external_id__in=missing
    ).values_list("external_id", "pk", "display_id")
    created = 0
    for external_id, pk, display_id in rows:
        pks[external_id] = pk
        created += display_id in ours
    return CustomerPks(pks=pks, created=created)
