from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views
from apps.accounts.forms import LoginForm

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api-keys/", views.api_key_list_view, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("settings/", views.organization_settings_view, name="settings"),
]
