app_name = "costs"

# Dashboard pages (config/urls.py mounts them under `costs/`).
urlpatterns = []

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = []

# OTLP/HTTP (config/urls.py mounts these at the site root: `/v1/traces`).
otlp_urlpatterns = []
