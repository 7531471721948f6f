"""The one customisation hook of "Log in with Webex": the adapter (setting ``ADAPTER``).

Subclass :class:`DefaultAdapter`, override what you need, and point
``WEBEXTEAMS["ADAPTER"]`` at your class (a dotted path). The OAuth views call the adapter for
every decision a project may want to make differently: scopes, how a Webex person maps to a
Django user, whether sign-ups are open, where to go afterwards, and how errors look.

To refuse a login from any hook, raise :class:`OAuthLoginError`; the callback renders the
error template with its message and status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from django_webexteams import conf

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from django_webexteams.client.models import Person

__all__ = ["DefaultAdapter", "OAuthLoginError", "get_adapter"]


class OAuthLoginError(Exception):
    """Refuse a Webex login. ``reason`` is a stable code (templates and tests may branch on
    it), ``message`` is shown to the user, ``status`` is the HTTP status (always a 4xx)."""

    def __init__(self, reason: str, message: Any, status: int = 400) -> None:
        super().__init__(str(message))
        self.reason = reason
        self.message = message
        self.status = status


class DefaultAdapter:
    """Maps a Webex person (``GET /people/me``) to a Django user.

    Order: a user already linked to that Webex person id (a stored ``Credential``); then,
    with ``OAUTH_MATCH_EMAIL``, the one active user with that e-mail address; then a new user
    when ``OAUTH_CREATE_USERS`` allows it.
    """

    error_template = "webexteams/oauth_error.html"

    # --- the authorization request ---------------------------------------------------------
    def get_scopes(self, request: HttpRequest) -> list[str]:
        """Scopes to ask for (``OAUTH_SCOPES``). Webex may grant fewer; the granted ones are
        stored on the credential."""
        scopes = conf.get("OAUTH_SCOPES") or ()
        if isinstance(scopes, str):
            scopes = scopes.split()
        return [str(s) for s in scopes]

    # --- finding the user ------------------------------------------------------------------
    def find_user(self, request: HttpRequest, person: Person) -> AbstractBaseUser | None:
        """The existing user for ``person``, or ``None``."""
        user = self.find_user_by_person_id(request, person)
        if user is None and conf.get("OAUTH_MATCH_EMAIL"):
            user = self.find_user_by_email(request, person)
        return user

    def find_user_by_person_id(
        self, request: HttpRequest, person: Person
    ) -> AbstractBaseUser | None:
        from django_webexteams.models import Credential

        owner_ids = set(
            Credential.objects.filter(
                kind=Credential.Kind.USER, webex_person_id=person.id, owner__isnull=False
            ).values_list("owner_id", flat=True)
        )
        if len(owner_ids) > 1:
            # Security: never guess between accounts. Linking refuses this situation, so it
            # only arises from data imported by hand.
            raise OAuthLoginError(
                "identity_ambiguous",
                _(
                    "This Webex account is linked to more than one account here. Ask an "
                    "administrator to fix it."
                ),
                403,
            )
        if not owner_ids:
            return None
        return get_user_model()._default_manager.filter(pk=next(iter(owner_ids))).first()

    def find_user_by_email(self, request: HttpRequest, person: Person) -> AbstractBaseUser | None:
        """The one user whose e-mail equals the Webex person's primary e-mail.

        Security: Webex e-mail addresses are verified (Webex confirms the address when the
        account is created, and an organisation's domain is verified by its admin), which is
        what makes this match acceptable at all. It is still off by default
        (``OAUTH_MATCH_EMAIL``). Two or more users with the address match nobody (no
        guessing), and staff/superusers are never matched by e-mail (see
        :meth:`can_match_by_email`): a privileged account must be linked by its owner, while
        logged in, through the connect flow.
        """
        emails = [e for e in (getattr(person, "emails", None) or []) if e][:1]
        if not emails:
            return None
        email_field = get_user_model().get_email_field_name()
        users = list(
            get_user_model()._default_manager.filter(**{f"{email_field}__iexact": emails[0]})[:2]
        )
        if len(users) != 1 or not self.can_match_by_email(request, users[0]):
            return None
        # Security: a user already linked to another Webex identity is not given a second
        # one by e-mail (the address may have moved to a new Webex account, or been reused);
        # only its owner, logged in, may add one through the connect flow. Same refusal as
        # connect mode's for an identity in use.
        from django_webexteams.models import Credential

        linked_elsewhere = (
            Credential.objects.filter(kind=Credential.Kind.USER, owner=users[0])
            .exclude(webex_person_id=str(person.id))
            .exists()
        )
        if linked_elsewhere:
            raise OAuthLoginError(
                "identity_in_use",
                _(
                    "The account on this site with your e-mail address is already connected "
                    "to another Webex account. Sign in there and connect this one instead."
                ),
                403,
            )
        return users[0]

    def can_match_by_email(self, request: HttpRequest, user: AbstractBaseUser) -> bool:
        """Whether ``user`` may be logged in by an e-mail match. Default: not staff."""
        return not (getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))

    def is_open_for_signup(self, request: HttpRequest, person: Person) -> bool:
        """Whether a new user may be created for ``person`` (``OAUTH_CREATE_USERS``)."""
        return bool(conf.get("OAUTH_CREATE_USERS"))

    def create_user(self, request: HttpRequest, person: Person) -> AbstractBaseUser:
        """Create the Django user for ``person``: username from the e-mail (made unique),
        names and e-mail from Webex, no usable password (they log in with Webex)."""
        user_model = get_user_model()
        user = user_model()
        email = (list(getattr(person, "emails", None) or []) or [""])[0]
        username_field = user_model.USERNAME_FIELD
        base = str(email or person.id or "webex-user")[:140]
        username = base
        suffix = 1
        while user_model._default_manager.filter(**{username_field: username}).exists():
            suffix += 1
            username = f"{base}-{suffix}"
        setattr(user, username_field, username)
        self.populate_user(request, user, person)
        user.set_unusable_password()
        user.save()
        return user

    def populate_user(self, request: HttpRequest, user: Any, person: Person) -> None:
        """Copy Webex profile fields onto a new user (e-mail, first and last name)."""
        emails = list(getattr(person, "emails", None) or [])
        email_field = get_user_model().get_email_field_name()
        if emails and hasattr(user, email_field):
            setattr(user, email_field, emails[0])
        for attr, source in (("first_name", "first_name"), ("last_name", "last_name")):
            value = getattr(person, source, None)
            if value and hasattr(user, attr):
                setattr(user, attr, str(value)[:150])

    def can_login(self, request: HttpRequest, user: AbstractBaseUser) -> bool:
        """Inactive users may not log in (like ``ModelBackend``)."""
        return bool(getattr(user, "is_active", True))

    # --- afterwards --------------------------------------------------------------------------
    def get_login_redirect_url(self, request: HttpRequest, next_url: str | None) -> str:
        """Where to go after a successful login or connect.

        Security: ``next`` came from the query string of the login URL, so it is checked
        (again) with ``url_has_allowed_host_and_scheme``: only this host, only https when
        the request is https. Anything else falls back to ``OAUTH_LOGIN_REDIRECT_URL``.
        """
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return next_url
        return str(conf.get("OAUTH_LOGIN_REDIRECT_URL") or "/")

    def render_error(
        self, request: HttpRequest, reason: str, message: Any, status: int
    ) -> HttpResponse:
        """The error page (template ``webexteams/oauth_error.html``, overridable)."""
        return render(
            request,
            self.error_template,
            {"reason": reason, "message": message, "status": status},
            status=status,
        )


def get_adapter() -> DefaultAdapter:
    """An instance of the class named by ``WEBEXTEAMS["ADAPTER"]``."""
    cls = import_string(str(conf.get("ADAPTER")))
    return cls()  # type: ignore[no-any-return]
