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

api_urlpatterns = [
    route("orders/", api.OrderCollectionApi.as_view()),
    route("orders/{order_id}", api.OrderItemApi.as_view()),
    route("orders/{order_id}/activate", api.OrderActivateApi.as_view()),
    route("orders/{order_id}/lines", api.OrderLinesApi.as_view()),
    route("orders/{order_id}/seats", api.OrderSeatsApi.as_view()),
    route("orders/{order_id}/seats/{seat_id}", api.OrderSeatItemApi.as_view()),
    route("orders/{order_id}/seat-assignments", api.OrderSeatBatchApi.as_view()),
]
