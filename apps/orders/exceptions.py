"""Orders' domain errors (the API maps them to the error envelope)."""

from apps.common.exceptions import Conflict, DomainError


class OrderNotActivatable(DomainError):
    """Activation found the order incomplete or inconsistent (400); nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, code="ORDER_NOT_ACTIVATABLE", field=field)


class OrderNotDraft(DomainError):
    """Only draft orders can be deleted (400: retrying cannot help, so not a retried 409)."""

    def __init__(self, order_id: str):
        super().__init__(
            f"order {order_id} is active; only draft orders can be deleted", code="ORDER_NOT_DRAFT"
        )


class SeatTaken(Conflict):
    def __init__(self, message: str, *, code: str = "SEAT_TAKEN", field: str | None = None):
        super().__init__(message, code=code, field=field)
