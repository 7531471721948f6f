from __future__ import annotations

from django.apps import AppConfig


class BotConfig(AppConfig):
    """The example bot: receivers that answer webhook events (see receivers.py)."""

    name = "testproject.bot"
    label = "bot"

    def ready(self) -> None:
        from testproject.bot import receivers  # noqa: F401
