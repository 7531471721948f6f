"""Where ``AUTHENTICATION_BACKENDS`` has always found the "Log in with Webex" backend.

The backend lives in :mod:`django_webexteams.oauth.backends`; this module hands on its public
names so that ``"django_webexteams.backends.WebexBackend"`` in settings, and in the sessions
Django stored with that path, keeps working.
"""

from __future__ import annotations

from django_webexteams.oauth.backends import VerifiedWebexLogin, WebexBackend

__all__ = ["VerifiedWebexLogin", "WebexBackend"]
