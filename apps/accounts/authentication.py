"""API authentication: `Authorization: Bearer <key>` resolves the organization for the request."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from apps.accounts.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Expected 'Authorization: Bearer <API key>'.")
        api_key = api_key_authenticate(raw_key=token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        request._request.organization = api_key.organization
        return (None, api_key)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasOrganization(permissions.BasePermission):
    """Every API call acts for the organization of a valid API key."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise exceptions.NotAuthenticated("Missing 'Authorization: Bearer <API key>' header.")
        return True


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """OpenAPI: `ApiKeyAuthentication` is HTTP bearer auth (the `bearerAuth` scheme every operation requires)."""

    target_class = ApiKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the dashboard: `Authorization: Bearer tly_…`.",
        }
