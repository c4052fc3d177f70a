from django.urls import path

from apps.common.api import route
from apps.webhooks import api, views

app_name = "webhooks"

# Dashboard pages (config/urls.py mounts them under `webhooks/`).
urlpatterns = [
    path("", views.webhook_settings_view, name="settings"),
    path("endpoints/<str:name>/", views.webhook_endpoint_view, name="endpoint"),
    path("endpoints/<str:name>/test/", views.webhook_test_view, name="test"),
    path("rotate-secret/", views.webhook_rotate_secret_view, name="rotate_secret"),
    path("deliveries/", views.webhook_delivery_list_view, name="deliveries"),
    path("deliveries/<str:message_id>/", views.webhook_delivery_detail_view, name="delivery"),
]

# /api/v2 routes (config/api_urls.py gathers them). The literal `rotate-secret` comes before `{name}`.
api_urlpatterns = [
    route("webhooks/", api.WebhookListApi.as_view()),
    route("webhooks/rotate-secret", api.WebhookRotateSecretApi.as_view()),
    route("webhooks/{name}/test", api.WebhookTestApi.as_view()),
    route("webhooks/{name}", api.WebhookUpdateApi.as_view()),
]
