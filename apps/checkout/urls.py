from django.urls import path

from apps.checkout import api, portal, views
from apps.common.api import route

app_name = "checkout"

# Public pages (config/urls.py mounts them at the site root: `/c/<token>/` checkout, `/portal/<token>/`).
urlpatterns = [
    path("c/<str:token>/", views.checkout_page, name="page"),
    path("c/<str:token>/start/", views.checkout_start, name="start"),
    path("c/<str:token>/complete/", views.checkout_complete, name="complete"),
    *portal.portal_urlpatterns,
]

# /api/v2 routes (config/api_urls.py gathers them).
api_urlpatterns = [
    route("checkouts/", api.CheckoutCollectionApi.as_view()),
    route("checkouts/{checkout_id}", api.CheckoutItemApi.as_view()),
    *portal.portal_api_urlpatterns,
]
