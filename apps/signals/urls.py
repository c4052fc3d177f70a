from django.urls import path

from apps.common.api import route
from apps.signals import api, views

app_name = "signals"

urlpatterns = [
    path("", views.signal_list_view, name="list"),
    path("stream/", views.signal_stream_view, name="stream"),
    path("<str:signal_id>/", views.signal_detail_view, name="detail"),
]

# `signals/bulk` before `signals/{signal_id}`.
api_urlpatterns = [
    route("signals/bulk", api.SignalBulkApi.as_view()),
    route("signals", api.SignalCollectionApi.as_view()),
    route("signals/{signal_id}", api.SignalItemApi.as_view()),
    route("analytics/signals/metadata", api.SignalMetadataApi.as_view()),
]
