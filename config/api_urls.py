"""Every /api/v2 route, gathered from the apps; unknown paths answer 404 in the error envelope."""

from django.urls import re_path

from apps.billing.urls import api_urlpatterns as billing
from apps.catalog.urls import api_urlpatterns as catalog
from apps.checkout.urls import api_urlpatterns as checkout
from apps.common.api import api_not_found
from apps.costs.urls import api_urlpatterns as costs
from apps.credits.urls import api_urlpatterns as credits
from apps.credits.urls import customer_state_urlpatterns as customer_states
from apps.customers.urls import api_urlpatterns as customers
from apps.meters.urls import api_urlpatterns as meters
from apps.orders.urls import api_urlpatterns as orders
from apps.signals.urls import api_urlpatterns as signals
from apps.value.urls import api_urlpatterns as value
from apps.webhooks.urls import api_urlpatterns as webhooks

urlpatterns = [
    *customer_states,  # before customers: see apps/credits/urls.py
    *customers,
    *orders,
    *catalog,
    *signals,
    *meters,
    *credits,
    *billing,
    *webhooks,
    *checkout,
    *costs,
    *value,
    re_path(r"^.*$", api_not_found),
]
