from django.urls import path

from apps.common.api import route
from apps.credits import api, views

app_name = "credits"

# Dashboard pages (config/urls.py mounts them under `credits/`).
urlpatterns = [
    path("customers/<str:customer_id>/", views.customer_credits_view, name="customer"),
    path("customers/<str:customer_id>/grant/", views.credit_grant_view, name="grant"),
    path("signals/<str:signal_id>/", views.signal_spend_view, name="signal"),
]

# config/api_urls.py lists these BEFORE customers' routes: `customers/external/users/state` is the state of
# the customer "users", not the user "state" of a customer "external".
customer_state_urlpatterns = [
    route("customers/external/{external_id}/state", api.CustomerStateApi.as_view()),
]

# …and these AFTER customers' routes: `customers/external/state` stays the customer whose external id is
# "state". Literal segments (`external`) come before `{id}` parameters.
api_urlpatterns = [
    route("customers/external/{external_id}/credits/balances", api.CreditBalancesApi.as_view()),
    route("customers/external/{external_id}/credits/grants", api.CreditGrantsApi.as_view()),
    route(
        "customers/external/{external_id}/credits/pending-consumption",
        api.PendingConsumptionApi.as_view(),
    ),
    route("customers/{customer_id}/credits/balances", api.CreditBalancesApi.as_view()),
    route("customers/{customer_id}/credits/grants", api.CreditGrantsApi.as_view()),
    route("customers/{customer_id}/credits/pending-consumption", api.PendingConsumptionApi.as_view()),
    route("customers/{customer_id}/state", api.CustomerStateApi.as_view()),
    route("credits/transactions", api.CreditTransactionsApi.as_view()),
]
