from django.urls import path

from apps.common.api import route
from apps.meters import api, views

app_name = "meters"

urlpatterns = [
    path("", views.meter_list_view, name="list"),
    path("new/", views.meter_create_view, name="create"),
    path("preview/", views.meter_preview_view, name="preview"),
    path("fields/", views.meter_fields_view, name="fields"),
    path("filter-row/", views.meter_filter_row_view, name="filter_row"),
    path("<str:meter_id>/", views.meter_edit_view, name="edit"),
    path("<str:meter_id>/preview/", views.meter_saved_preview_view, name="saved_preview"),
    path("<str:meter_id>/rename/", views.meter_rename_view, name="rename"),
    path("<str:meter_id>/archive/", views.meter_archive_view, name="archive"),
    path("<str:meter_id>/pricing/", views.meter_pricing_view, name="pricing"),
]

# `meters/preview` before `meters/{meter_id}`.
api_urlpatterns = [
    route("meters/preview", api.MeterDefinitionPreviewApi.as_view()),
    route("meters", api.MeterCollectionApi.as_view()),
    route("meters/{meter_id}/preview", api.MeterPreviewApi.as_view()),
    route("meters/{meter_id}", api.MeterItemApi.as_view()),
]
