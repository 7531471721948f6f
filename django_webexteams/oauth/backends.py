"""Authentication backend for "Log in with Webex".

Add it to ``AUTHENTICATION_BACKENDS`` (next to ``ModelBackend``)::

    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django_webexteams.backends.WebexBackend",
    ]

It authenticates nothing by itself: the OAuth callback does the work (state, PKCE, code
exchange, ``GET /people/me``, the adapter) and hands the resulting user over in a
:class:`VerifiedWebexLogin`. Django keeps the backend's path in the session, and
``get_user`` restores the user on later requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["VerifiedWebexLogin", "WebexBackend"]


@dataclass(frozen=True)
class VerifiedWebexLogin:
    """Proof, built only by the OAuth callback after every check passed, that ``user`` may
    log in as the Webex person ``person_id``."""

    user: Any
    person_id: str


class WebexBackend(BaseBackend):
    """Logs in the user the OAuth callback verified.

    Security: only a :class:`VerifiedWebexLogin` instance is accepted (never a username,
    person id or e-mail passed as a string), so no other caller of ``authenticate()`` (a login
    form, an API) can log someone in through this backend by supplying a Webex id.
    """

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        webex_login: VerifiedWebexLogin | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if not isinstance(webex_login, VerifiedWebexLogin):
            return None
        user = webex_login.user
        if not self.user_can_authenticate(user):
            return None
        return user  # type: ignore[no-any-return]

    def user_can_authenticate(self, user: Any) -> bool:
        """Reject inactive users, like ``ModelBackend``."""
        return bool(getattr(user, "is_active", True))

    def get_user(self, user_id: Any) -> Any:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
