from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebexTeamsConfig(AppConfig):
    name = "django_webexteams"
    label = "webexteams"
    verbose_name = _("Webex")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks; the import has that side effect only.
        from django_webexteams import checks  # noqa: F401
