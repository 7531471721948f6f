"""A bot toolkit on top of the webhook signals: commands, cards as Django forms, access rules
and a test kit (docs/bot.md).

``from django_webexteams.bot import Bot`` loads Django models: import it from an app's module
(``yourapp/bot.py``, imported in ``AppConfig.ready``), not from settings.
"""

from __future__ import annotations

from .access import Access
from .cards import CardError, check_card, form_card, form_data
from .context import Context
from .router import Bot

__all__ = ["Access", "Bot", "CardError", "Context", "check_card", "form_card", "form_data"]
