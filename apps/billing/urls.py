app_name = "billing"

# Dashboard pages (config/urls.py mounts them under `billing/`).
urlpatterns = []

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = []
