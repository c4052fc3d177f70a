"""Domain errors of billing. All are 400s: retrying the same request cannot help (and the SDK retries 409s)."""

from __future__ import annotations

from apps.common.exceptions import DomainError


class InvoiceStateError(DomainError):
    """An action the invoice's status does not allow (posting a voided invoice, voiding a paid one …)."""

    def __init__(self, message: str, *, invoice_id: str, code: str = "INVOICE_STATE"):
        super().__init__(message, code=code)
        self.invoice_id = invoice_id


class OrderNotBillable(DomainError):
    """Invoices are generated for activated orders only."""

    def __init__(self, order_id: str, reason: str):
        super().__init__(f"order {order_id!r} cannot be invoiced: {reason}", code="ORDER_NOT_BILLABLE")
        self.order_id = order_id


class OverAllocation(DomainError):
    """A payment allocation beyond what the payment has left or what the invoice line still owes."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message, code="OVER_ALLOCATION", field=field)


class IdempotencyKeyReused(DomainError):
    """An idempotency key replayed with a different request."""

    def __init__(self, key: str, what: str):
        super().__init__(
            f"idempotency key {key!r} was already used for a different {what}",
            code="IDEMPOTENCY_KEY_REUSED",
            field="idempotencyKey",
        )
        self.key = key
