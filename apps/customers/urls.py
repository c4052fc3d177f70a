from django.urls import path

from apps.common.api import route
from apps.customers import api, views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("new/", views.customer_create_view, name="create"),
    path("<str:customer_id>/", views.customer_detail_view, name="detail"),
    path("<str:customer_id>/edit/", views.customer_edit_view, name="edit"),
    path("<str:customer_id>/delete/", views.customer_delete_view, name="delete"),
    path("<str:customer_id>/contacts/", views.contact_create_view, name="contact_create"),
    path(
        "<str:customer_id>/contacts/<str:contact_id>/delete/",
        views.contact_delete_view,
        name="contact_delete",
    ),
]

# Literal segments (`external`) come before `{id}` parameters.
api_urlpatterns = [
    route("customers", api.CustomerCollectionApi.as_view()),
    route("customers/external/{external_id}", api.CustomerItemApi.as_view()),
    route("customers/external/{external_id}/aliases", api.CustomerAliasCollectionApi.as_view()),
    route("customers/external/{external_id}/aliases/{alias}", api.CustomerAliasItemApi.as_view()),
    route("customers/{customer_id}", api.CustomerItemApi.as_view()),
    route("customers/{customer_id}/aliases", api.CustomerAliasCollectionApi.as_view()),
    route("customers/{customer_id}/aliases/{alias}", api.CustomerAliasItemApi.as_view()),
    # The one customer route addressed by external id without `external/` (§1.9). Last among the customer
    # routes: `customers/external/users/state` is the state of customer "users", not user "state" of a
    # customer "external" (which stays reachable for every other user id).
    route("customers/{customer_external_id}/users/{user_external_id}", api.CustomerUserItemApi.as_view()),
    route("contacts", api.ContactCollectionApi.as_view()),
    route("contacts/external/{external_id}", api.ContactItemApi.as_view()),
    route("contacts/{contact_id}", api.ContactItemApi.as_view()),
]
