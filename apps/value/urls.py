from apps.common.api import route
from apps.value import api

app_name = "value"

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = [
    route("value-metrics", api.ValueMetricListApi.as_view()),
    route("value-metrics/{slug}", api.ValueMetricApi.as_view()),
]
