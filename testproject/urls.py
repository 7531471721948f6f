from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path

from testproject import views

urlpatterns = [
    path("", views.home, name="home"),
    path("logout/", LogoutView.as_view(next_page="/"), name="logout"),
    path("admin/", admin.site.urls),
    path("webex/", include("django_webexteams.urls")),
]
