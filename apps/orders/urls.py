from django.urls import path

from apps.common.api import route
from apps.orders import api, views

app_name = "orders"

urlpatterns = [
    path("", views.order_list_view, name="list"),
    path("new/", views.order_create_view, name="create"),
    path("<str:order_id>/", views.order_detail_view, name="detail"),
    path("<str:order_id>/activate/", views.order_activate_view, name="activate"),
    path("<str:order_id>/pause/", views.order_pause_view, name="pause"),
    path("<str:order_id>/resume/", views.order_resume_view, name="resume"),
    path("<str:order_id>/delete/", views.order_delete_view, name="delete"),
    path("<str:order_id>/seats/<str:seat_id>/", views.order_seat_assign_view, name="seat_assign"),
]

# config/api_urls.py lists these BEFORE customers' routes: `customers/external/users/state` is the state of
# the customer "users" (as it always was), not the user "state" of a customer "external".
customer_state_urlpatterns = [
    route("customers/external/{external_id}/state", api.CustomerStateApi.as_view()),
]

# …and these AFTER customers' routes: `customers/external/state` stays the customer whose external id is
# "state" (get/update/delete_customer_by_external_id), not the state of a customer "external".
api_urlpatterns = [
    route("orders/", api.OrderCollectionApi.as_view()),
    route("orders/{order_id}", api.OrderItemApi.as_view()),
    route("orders/{order_id}/activate", api.OrderActivateApi.as_view()),
    route("orders/{order_id}/lines", api.OrderLinesApi.as_view()),
    route("orders/{order_id}/seats", api.OrderSeatsApi.as_view()),
    route("orders/{order_id}/seats/{seat_id}", api.OrderSeatItemApi.as_view()),
    route("orders/{order_id}/seat-assignments", api.OrderSeatBatchApi.as_view()),
    route("customers/{customer_id}/state", api.CustomerStateApi.as_view()),
]
