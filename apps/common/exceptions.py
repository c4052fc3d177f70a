"""Domain errors raised by services and selectors; the API layer maps them to the error envelope."""


class DomainError(Exception):
    """A request that cannot be carried out as asked (HTTP 400 unless a subclass says otherwise)."""

    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class NotFound(DomainError):
    status_code = 404

    def __init__(self, resource: str, identifier: str | None = None):
        message = f"{resource} not found" if identifier is None else f"{resource} {identifier!r} not found"
        super().__init__(message, code="NOT_FOUND")
        self.resource = resource
        self.identifier = identifier


class ReferenceNotFound(NotFound):
    """An id in the request body names nothing in the organization (`customerId` of a new contact).

    Still a NotFound to the domain, but a 400 on the wire: the resource the URL addresses exists, the request
    is what is wrong (and e.g. `create_contact` maps no 404)."""

    status_code = 400

    def __init__(self, resource: str, identifier: str | None = None, *, field: str):
        super().__init__(resource, identifier)
        self.field = field


class Conflict(DomainError):
    status_code = 409

    def __init__(self, message: str, *, code: str | None = "CONFLICT", field: str | None = None):
        super().__init__(message, code=code, field=field)
