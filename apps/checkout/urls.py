app_name = "checkout"

# Public pages (config/urls.py mounts them at the site root: `/c/<token>/` checkout, `/portal/<token>/`).
urlpatterns = []

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = []
