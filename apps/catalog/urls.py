from django.urls import path

from apps.catalog import api, views
from apps.common.api import route

app_name = "catalog"

urlpatterns = [
    path("", views.product_list_view, name="list"),
    path("new/", views.product_create_view, name="create"),
    path("credit-currencies/", views.credit_currency_list_view, name="currency_list"),
    path("credit-currencies/<str:currency_id>/edit/", views.credit_currency_edit_view, name="currency_edit"),
    path(
        "credit-currencies/<str:currency_id>/archive/",
        views.credit_currency_archive_view,
        name="currency_archive",
    ),
    path(
        "credit-currencies/<str:currency_id>/unarchive/",
        views.credit_currency_unarchive_view,
        name="currency_unarchive",
    ),
    path("<str:product_id>/", views.product_detail_view, name="detail"),
    path("<str:product_id>/edit/", views.product_edit_view, name="edit"),
    path("<str:product_id>/archive/", views.product_archive_view, name="archive"),
    path("<str:product_id>/unarchive/", views.product_unarchive_view, name="unarchive"),
    path("<str:product_id>/pricing/new/", views.pricing_create_view, name="pricing_create"),
    path("<str:product_id>/pricing/<str:attribute_id>/edit/", views.pricing_edit_view, name="pricing_edit"),
    path("<str:product_id>/plans/new/", views.plan_create_view, name="plan_create"),
    path("<str:product_id>/plans/upgrade-path/", views.plan_upgrade_path_view, name="plan_upgrade_path"),
    path("<str:product_id>/plans/<str:plan_id>/edit/", views.plan_edit_view, name="plan_edit"),
    path("<str:product_id>/plans/<str:plan_id>/default/", views.plan_default_view, name="plan_default"),
    path("<str:product_id>/plans/<str:plan_id>/archive/", views.plan_archive_view, name="plan_archive"),
    path("<str:product_id>/plans/<str:plan_id>/unarchive/", views.plan_unarchive_view, name="plan_unarchive"),
]

api_urlpatterns = [
    route("products", api.ProductCollectionApi.as_view()),
    route("products/external/{external_id}", api.ProductItemApi.as_view()),
    route("products/{product_id}", api.ProductItemApi.as_view()),
    route("plans", api.PlanCollectionApi.as_view()),
    route("plans/upgrade-path", api.PlanUpgradePathApi.as_view()),
    route("plans/external/{external_id}", api.PlanItemApi.as_view()),
    route("plans/{plan_id}", api.PlanItemApi.as_view()),
    route("pricing", api.PricingCollectionApi.as_view()),
    route("pricing/{attribute_id}", api.PricingItemApi.as_view()),
    route("credits/currencies", api.CreditCurrencyCollectionApi.as_view()),
    route("credits/currencies/{currency_id}", api.CreditCurrencyItemApi.as_view()),
]
