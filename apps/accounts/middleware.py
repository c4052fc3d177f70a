from apps.accounts.selectors import organization_list_for_user

SESSION_KEY = "organization_id"


class CurrentOrganizationMiddleware:
    """Dashboard requests act for one organization of the logged-in member (chosen in the session).

    API requests set `request.organization` from their API key instead (ApiKeyAuthentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith("/api/"):
            organizations = organization_list_for_user(user=user)
            chosen = request.session.get(SESSION_KEY)
            request.organization = (
                chosen and organizations.filter(pk=chosen).first()
            ) or organizations.first()
        return self.get_response(request)
