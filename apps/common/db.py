from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction

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
