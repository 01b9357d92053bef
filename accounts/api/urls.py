from django.urls import path

from . import views

urlpatterns = [
    path("users/register", views.RegisterView.as_view(), name="user-register"),
    path("users/login", views.LoginView.as_view(), name="user-login"),
    path("users/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("users/logout", views.LogoutView.as_view(), name="user-logout"),
    path("users/me", views.MeView.as_view(), name="user-me"),
    path("users/me/password", views.PasswordChangeView.as_view(), name="user-password"),
]
