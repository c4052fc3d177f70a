from apps.common.exceptions import DomainError


class InvalidCredentials(DomainError):
    def __init__(self):
        super().__init__("Invalid API key", code="UNAUTHORIZED")
