"""Where ``WEBEXTEAMS["ADAPTER"]`` and projects' subclasses have always found the adapter.

The adapter lives in :mod:`django_webexteams.oauth.adapter`; this module hands on its public
names so that ``django_webexteams.adapter.DefaultAdapter`` (the setting's default, and the
base class projects subclass) keeps working.
"""

from __future__ import annotations

from django_webexteams.oauth.adapter import DefaultAdapter, OAuthLoginError, get_adapter

__all__ = ["DefaultAdapter", "OAuthLoginError", "get_adapter"]
