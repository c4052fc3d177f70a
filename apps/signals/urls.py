from apps.common.api import route
from apps.signals import api

app_name = "signals"

urlpatterns: list = []

# `signals/bulk` before `signals/{signal_id}`.
api_urlpatterns = [
    route("signals/bulk", api.SignalBulkApi.as_view()),
    route("signals", api.SignalCollectionApi.as_view()),
    route("signals/{signal_id}", api.SignalItemApi.as_view()),
]
