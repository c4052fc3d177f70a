app_name = "webhooks"

# Dashboard pages (config/urls.py mounts them under `webhooks/`).
urlpatterns = []

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = []
