from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from apps.billing.urls import public_urlpatterns as billing_public
from apps.costs.urls import otlp_urlpatterns as costs_otlp

urlpatterns = [
    re_path(r"^api/v2/schema/?$", SpectacularAPIView.as_view(api_version="2"), name="api-schema"),
    re_path(r"^api/v2/docs/?$", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v2/", include("config.api_urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("customers/", include("apps.customers.urls")),
    path("products/", include("apps.catalog.urls")),
    path("orders/", include("apps.orders.urls")),
    path("signals/", include("apps.signals.urls")),
    path("meters/", include("apps.meters.urls")),
    path("credits/", include("apps.credits.urls")),
    path("billing/", include("apps.billing.urls")),
    path("invoices/", include((billing_public, "billing_public"))),
    path("webhooks/", include("apps.webhooks.urls")),
    path("costs/", include("apps.costs.urls")),
    path("", include((costs_otlp, "otlp"))),
    path("", include("apps.checkout.urls")),
    path("", include("apps.common.urls")),
]
