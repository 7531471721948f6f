"""The admins of the table-less models ``Space`` and ``License``: their changelist URL is a
live page fetched from Webex (:mod:`django_webexteams.admin.live_pages`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from django_webexteams.admin.live_pages import (
    license_detail_view,
    licenses_view,
    space_detail_view,
    spaces_view,
)
from django_webexteams.models import License, Space

__all__ = [
    "LicenseAdmin",
    "SpaceAdmin",
]


# --- live pages: spaces and licenses ---------------------------------------------------------


class LivePageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Admin of a table-less model whose "changelist" is a live page fetched from Webex.

    Only the view permission exists (``default_permissions = ("view",)``); add, change and
    delete are off. ``get_urls`` replaces the model URLs with the page and its detail view,
    keeping the ``<app>_<model>_changelist`` name that the admin index links to.
    """

    #: URL names of the page and of its detail view (``admin:<name>``).
    page_name = ""
    detail_name = ""
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def page_view(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        # admin_view(): anonymous users go to the login page, non-staff are refused; the views
        # check the model's view permission themselves (403 without it).
        wrap = self.admin_site.admin_view
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", wrap(self.page_view), name=self.page_name),
            path("", wrap(self.page_view), name=changelist),
            path("<str:object_id>/", wrap(self.detail_view), name=self.detail_name),
        ]


@admin.register(Space)
class SpaceAdmin(LivePageAdmin):
    """The spaces (rooms) visible to a chosen credential, live from Webex."""

    page_name = "webexteams_spaces"
    detail_name = "webexteams_space_detail"

    def page_view(self, request: HttpRequest) -> HttpResponse:
        return spaces_view(self, request)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return space_detail_view(self, request, object_id)


@admin.register(License)
class LicenseAdmin(LivePageAdmin):
    """The organisation's licenses and their usage, live from Webex (admin tokens only)."""

    page_name = "webexteams_licenses"
    detail_name = "webexteams_license_detail"

    def page_view(self, request: HttpRequest) -> HttpResponse:
        return licenses_view(self, request)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return license_detail_view(self, request, object_id)
