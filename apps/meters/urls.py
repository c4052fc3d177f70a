from apps.common.api import route
from apps.meters import api

app_name = "meters"

urlpatterns: list = []

# `meters/preview` before `meters/{meter_id}`.
api_urlpatterns = [
    route("meters/preview", api.MeterDefinitionPreviewApi.as_view()),
    route("meters", api.MeterCollectionApi.as_view()),
    route("meters/{meter_id}/preview", api.MeterPreviewApi.as_view()),
    route("meters/{meter_id}", api.MeterItemApi.as_view()),
]
