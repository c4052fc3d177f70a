"""Domain errors of the credit ledger; they carry the ids a caller (rating, billing) needs to act."""

from __future__ import annotations

from decimal import Decimal

from apps.common.exceptions import DomainError


class InsufficientCredits(DomainError):
    """A consumption larger than the pool's balance, where the pricing allows no overage and no credits are on
    their way (nothing was written)."""

    def __init__(self, *, pool_id: int, requested: Decimal, available: Decimal):
        super().__init__(
            f"insufficient credits: {requested} requested, {available} available",
            code="INSUFFICIENT_CREDITS",
        )
        self.pool_id = pool_id
        self.requested = requested
        self.available = available


class IdempotencyKeyReused(DomainError):
    """An idempotency key replayed with a different request (400: retrying the same request cannot help)."""

    def __init__(self, key: str):
        super().__init__(
            f"idempotency key {key!r} was already used for a different grant",
            code="IDEMPOTENCY_KEY_REUSED",
            field="idempotencyKey",
        )
        self.key = key
