from django.urls import path

from apps.common.api import route
from apps.costs import api, margins_api, otlp, views

app_name = "costs"

# Dashboard pages (config/urls.py mounts them under `costs/`).
urlpatterns = [
    path("margins/", views.margins_view, name="margins"),
    path("margins/customers/<str:customer_id>/", views.margin_customer_view, name="margin_customer"),
    path("margins/products/<str:product_id>/", views.margin_product_view, name="margin_product"),
    path("margins/signals/<str:signal_id>/", views.margin_signal_view, name="margin_signal"),
    path("prices/", views.model_prices_view, name="model_prices"),
    path("prices/<int:price_id>/delete/", views.model_price_delete_view, name="model_price_delete"),
]

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = [
    route("costs/bulk", api.CostBulkApi.as_view()),
    route("margins", margins_api.MarginsApi.as_view()),
    route("margins/signals/{signal_id}", margins_api.SignalMarginApi.as_view()),
]

# OTLP/HTTP (config/urls.py mounts these at the site root: `/v1/traces`).
otlp_urlpatterns = [
    path("v1/traces", otlp.traces_export, name="traces-export"),
]
