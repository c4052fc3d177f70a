from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, models, transaction

from apps.common.exceptions import DomainError


@contextmanager
def unique_or_error(message: str, *, field: str) -> Iterator[None]:
    """Turn a unique-constraint violation inside the block into a 400 naming `field` (the savepoint
    keeps the surrounding transaction usable, and a concurrent duplicate cannot slip past a pre-check)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise DomainError(message, code="DUPLICATE", field=field) from exc


def next_number(counter_model: type[models.Model], *, organization) -> int:
    """The organization's next number from a per-organization counter row (orders, invoices, payments: 1, 2,
    3 …). Locks the row until the transaction ends, so concurrent callers get consecutive numbers and a rolled
    back one gives its number back. The counter model has `organization` (unique) and `last_number`."""
    counter = counter_model.objects.select_for_update().filter(organization=organization).first()
    if counter is None:
        try:
            with transaction.atomic():  # a savepoint: losing the insert race leaves the transaction usable
                counter_model.objects.create(organization=organization)
        except IntegrityError:
            pass  # a concurrent caller inserted it first (on PostgreSQL the insert waited for its commit)
        counter = counter_model.objects.select_for_update().get(organization=organization)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number
