"""The live admin pages: Webex spaces and licenses, fetched through the client per request.

They hang off two table-less models (``Space``, ``License`` in ``models.py``) whose admins
(``admin/live_admins.py``) route their changelist URL here, so they show up in the admin
index under the app and are guarded by ``webexteams.view_space`` / ``webexteams.view_license``.

Security decisions:

- Which token acts: the default bot (``WEBEXTEAMS["BOT_TOKEN"]``), an active bot
  ``Credential``, or the staff member's *own* linked Webex account. Another person's user
  credential is never offered, not even to superusers: it would show that person's private
  spaces and messages, and post in their name.
- Pagination cursors travel in the query string, but only as query parameters re-applied to
  a fixed path on the configured API base URL. A next link's host is never followed from user
  input, so no URL in a query string can make us send the bearer token elsewhere.
- Posting a message needs ``webexteams.add_outboundmessage`` on top of the page's view
  permission: it creates an outbox row and speaks as the bot (or as the staff member).
- Every Webex failure becomes an admin message on a 200 page; nothing that reaches the page
  ever contains a token (the client's errors never do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_webexteams import crypto
from django_webexteams.admin.encrypted import defer_encrypted
from django_webexteams.admin.errors import describe_error
from django_webexteams.clients import bot_token, client_for
from django_webexteams.http import ascii_int
from django_webexteams.models import Credential

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    from django_webexteams.client import Page, WebexClient

__all__ = [
    "CredentialChoice",
    "PostMessageForm",
    "credential_choices",
    "license_detail_view",
    "licenses_view",
    "space_detail_view",
    "spaces_view",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.views.admin_pages")


#: Value of the ``credential`` query parameter that picks ``WEBEXTEAMS["BOT_TOKEN"]``.
SETTINGS_BOT = "bot"


#: At most this many cursors are kept in the query string (pages deep).
MAX_CURSOR_STACK = 200


#: Page size bounds: Webex accepts ``max`` up to 1000 on /rooms.
MAX_PAGE_SIZE = 1000


#: Members and messages shown on a space's page (one request each).
DETAIL_MEMBERS = 100


DETAIL_MESSAGES = 20


#: Licenses read at most (organisations have tens, not thousands).
MAX_LICENSES = 1000


#: People scanned at most to find who holds a license when Webex does not say.
MAX_PEOPLE_SCAN = 2000


#: Query parameters that this page sets itself; anything else in a next link is the cursor.
_OWN_PARAMS = frozenset({"type", "sortBy", "max", "teamId", "orgId"})


SORT_BY_CHOICES = (
    ("", _("Webex default")),
    ("lastactivity", _("last activity")),
    ("created", _("created")),
    ("id", _("id")),
)


TYPE_CHOICES = (("", _("All")), ("group", _("Group")), ("direct", _("Direct (1:1)")))


#: Columns sortable within the fetched page: query value -> Room attribute.
ORDER_COLUMNS = {
    "title": "title",
    "type": "type",
    "activity": "last_activity",
    "created": "created",
}


def _handled_errors() -> tuple[type[BaseException], ...]:
    from django_webexteams import client as webex
    from django_webexteams.tokens import TokenError

    return (webex.WebexError, ImproperlyConfigured, crypto.DecryptionError, TokenError)


def _report(request: HttpRequest, exc: BaseException) -> None:
    # Logged without the exception text of unknown types; client errors carry no token.
    logger.info("Webex admin page %s: %s", request.path, type(exc).__name__)
    messages.error(request, describe_error(exc))


# --- the acting credential -----------------------------------------------------------------


@dataclass(frozen=True)
class CredentialChoice:
    """One entry of the credential picker. ``pk`` is ``None`` for the settings bot."""

    key: str
    label: str
    pk: int | None
    is_bot: bool
    scopes: tuple[str, ...] = ()


def credential_choices(request: HttpRequest) -> list[CredentialChoice]:
    """The identities ``request.user`` may act as on these pages (see the module docstring)."""
    choices: list[CredentialChoice] = []
    if bot_token() is not None:
        choices.append(
            CredentialChoice(
                SETTINGS_BOT, gettext('Default bot (WEBEXTEAMS["BOT_TOKEN"])'), None, True
            )
        )
    rows = defer_encrypted(
        Credential.objects.filter(is_active=True, kind=Credential.Kind.BOT)
        | Credential.objects.filter(
            is_active=True, kind=Credential.Kind.USER, owner_id=request.user.pk
        )
    ).order_by("kind", "name", "pk")
    for row in rows:
        is_bot = row.kind == Credential.Kind.BOT
        who = row.display_name or row.email or row.name or row.webex_person_id
        label = str(row) if is_bot else gettext("My Webex account: %(who)s") % {"who": who}
        scopes = tuple(str(x) for x in row.scopes or ()) if isinstance(row.scopes, list) else ()
        choices.append(CredentialChoice(str(row.pk), label, row.pk, is_bot, scopes))
    return choices


def _pick_credential(
    request: HttpRequest, choices: list[CredentialChoice], *, admin_api: bool = False
) -> CredentialChoice | None:
    """The choice named by ``?credential=``, else a default: the first one, or for an admin
    API (``admin_api``: licenses) the choice most likely to be allowed to read it."""
    wanted = request.GET.get("credential")
    for choice in choices:
        if choice.key == wanted:
            return choice
    if wanted:
        messages.warning(request, gettext("That credential is not available to you."))
    if admin_api:
        return next(iter(sorted(choices, key=_admin_rank)), None)
    return choices[0] if choices else None


#: Scopes that let a token read the organisation's licenses
#: (https://developer.webex.com/docs/api/v1/licenses/list-licenses).
LICENSE_SCOPES = frozenset({"spark-admin:licenses_read", "spark:all"})


def _admin_rank(choice: CredentialChoice) -> int:
    """Sort key: Webex never lets a bot read licenses (an administrator's user token only),
    so a person's credential with a license scope comes first, then any person's, then
    bots (issue 15: the default bot's 403 was the page's first impression)."""
    if choice.is_bot:
        return 2
    return 0 if LICENSE_SCOPES & set(choice.scopes) else 1


def _client(choice: CredentialChoice) -> tuple[WebexClient, Credential | None]:
    """The client of ``choice`` (loading, and so decrypting, the row only now).

    One retry at most: staff are waiting for the page, and an error message that says
    "try again" beats a page that hangs through the full backoff."""
    from django_webexteams.client import RetryPolicy

    retry = RetryPolicy(max_retries=1, backoff_max=2.0)
    if choice.pk is None:
        return client_for(None, retry=retry), None
    credential = Credential.objects.get(pk=choice.pk)
    return client_for(credential, retry=retry), credential


# --- cursor pagination ---------------------------------------------------------------------


def cursor_of(page: Page[Any]) -> str | None:
    """The next link of ``page`` reduced to its cursor parameters (urlencoded), or ``None``.

    Webex's next links look like ``/rooms?max=100&cursor=...``; only the parameters this page
    does not set itself are kept (usually just ``cursor``), never the host or the path."""
    if page.next_url is None:
        return None
    query = parse_qsl(urlsplit(page.next_url).query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k not in _OWN_PARAMS]
    return urlencode(kept) if kept else None


def fetch_page(
    client: WebexClient, path: str, model: Any, params: dict[str, Any], cursor: str | None
) -> Page[Any]:
    """One page of ``path`` (e.g. ``"/rooms"``) with ``params``, at ``cursor`` (from
    :func:`cursor_of`) or the first page. The path is fixed by the caller and the request goes
    to the client's base URL, so a cursor from the query string can only add parameters."""
    from django_webexteams.client.pagination import PaginatedList

    merged = dict(params)
    if cursor:
        for key, value in parse_qsl(cursor, keep_blank_values=True):
            if key not in _OWN_PARAMS:
                merged[key] = value

    def factory(item: Any, tracking_id: str | None) -> Any:
        return model.from_json(item, tracking_id=tracking_id)

    return PaginatedList(client.transport, path, merged, factory).first_page()


def _query(request: HttpRequest, **changes: Any) -> str:
    """The current query string with ``changes`` applied (a list value replaces all values,
    ``None`` removes the key)."""
    query: QueryDict = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        elif isinstance(value, list):
            query.setlist(key, value)
        else:
            query[key] = value
    encoded = query.urlencode()
    return "?" + encoded if encoded else "?"


def _page_size(request: HttpRequest, default: int) -> int:
    value = ascii_int(request.GET.get("max"))
    return max(1, min(MAX_PAGE_SIZE, default if value is None else value))


# --- shared context ------------------------------------------------------------------------


def _check_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> None:
    # admin_view() already sent anonymous and non-staff users to the login page; staff without
    # the page's own view permission get a 403.
    if not model_admin.has_view_permission(request):
        raise PermissionDenied


def _context(
    model_admin: ModelAdmin[Any], request: HttpRequest, title: str, **extra: Any
) -> dict[str, Any]:
    opts = model_admin.model._meta
    return {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "app_label": opts.app_label,
        "title": title,
        "subtitle": None,
        "has_view_permission": True,
        **extra,
    }


# --- spaces --------------------------------------------------------------------------------


def spaces_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """The spaces visible to the chosen credential, one Webex page at a time."""
    from django_webexteams.client import Room

    _check_view(model_admin, request)
    choices = credential_choices(request)
    choice = _pick_credential(request, choices)
    room_type = request.GET.get("type", "")
    room_type = room_type if room_type in ("group", "direct") else ""
    sort_by = request.GET.get("sort", "")
    sort_by = sort_by if sort_by in dict(SORT_BY_CHOICES) else ""
    search = request.GET.get("q", "").strip()
    order = request.GET.get("o", "")
    per_page = _page_size(request, model_admin.list_per_page)
    cursors = request.GET.getlist("c")[:MAX_CURSOR_STACK]

    rooms: list[Any] = []
    fetched = 0
    next_cursor: str | None = None
    if choice is None:
        messages.warning(
            request,
            gettext(
                'No Webex credential to use: set WEBEXTEAMS["BOT_TOKEN"], store a bot with '
                "manage.py webexteams_add_credential, or log in with Webex."
            ),
        )
    else:
        try:
            client, _credential = _client(choice)
            page = fetch_page(
                client,
                "/rooms",
                Room,
                {"type": room_type or None, "sortBy": sort_by or None, "max": per_page},
                cursors[-1] if cursors else None,
            )
            rooms = list(page.items)
            fetched = len(rooms)
            next_cursor = cursor_of(page)
        except _handled_errors() as exc:
            _report(request, exc)
    if search:
        # Webex has no title search on /rooms: filter what this page fetched.
        rooms = [r for r in rooms if search.casefold() in (r.title or "").casefold()]
    rooms = _sorted(rooms, order)

    detail_query = urlencode({"credential": choice.key}) if choice else ""
    rows = [
        {
            "room": room,
            "url": reverse(f"{model_admin.admin_site.name}:webexteams_space_detail", args=[room.id])
            + ("?" + detail_query if detail_query else ""),
        }
        for room in rooms
    ]
    context = _context(
        model_admin,
        request,
        gettext("Webex spaces"),
        choices=choices,
        choice=choice,
        room_type=room_type,
        type_choices=TYPE_CHOICES,
        sort_by=sort_by,
        sort_choices=SORT_BY_CHOICES,
        search=search,
        per_page=per_page,
        rows=rows,
        fetched=fetched,
        page_number=len(cursors) + 1,
        cursors=cursors,
        columns=_columns(request, order),
        next_url=_query(request, c=[*cursors, next_cursor]) if next_cursor else None,
        previous_url=_query(request, c=cursors[:-1]) if cursors else None,
        first_url=_query(request, c=None) if len(cursors) > 1 else None,
    )
    return TemplateResponse(request, "admin/webexteams/spaces.html", context)


def _sorted(rooms: list[Any], order: str) -> list[Any]:
    attr = ORDER_COLUMNS.get(order.lstrip("-"))
    if attr is None:
        return rooms

    def key(room: Any) -> tuple[bool, Any]:
        value = getattr(room, attr)
        if isinstance(value, str):
            value = value.casefold()
        return (value is None, value if value is not None else "")

    present = [r for r in rooms if getattr(r, attr) is not None]
    missing = [r for r in rooms if getattr(r, attr) is None]
    return sorted(present, key=key, reverse=order.startswith("-")) + missing


def _columns(request: HttpRequest, order: str) -> list[dict[str, Any]]:
    labels = {
        "title": _("Title"),
        "type": _("Type"),
        "activity": _("Last activity"),
        "created": _("Created"),
    }
    columns = []
    for name, label in labels.items():
        current = order.lstrip("-") == name
        descending = order.startswith("-")
        toggled = ("" if descending else "-") + name if current else name
        columns.append(
            {
                "label": label,
                "sorted": current,
                "ascending": current and not descending,
                "url": _query(request, o=toggled),
            }
        )
    return columns


class PostMessageForm(forms.Form):
    """The form on a space's page; the text is Markdown (Webex renders it)."""

    markdown = forms.CharField(
        label=_("Message (Markdown)"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        # Webex caps a message at 7439 bytes; messaging.send_message checks the bytes.
        max_length=7439,
    )


def space_detail_view(
    model_admin: ModelAdmin[Any], request: HttpRequest, room_id: str
) -> HttpResponse:
    """One space: its details, members, latest messages and a form to post into it."""
    from django_webexteams import client as webex

    _check_view(model_admin, request)
    choices = credential_choices(request)
    choice = _pick_credential(request, choices)
    may_post = request.user.has_perm("webexteams.add_outboundmessage")
    form = PostMessageForm(request.POST or None)

    if request.method == "POST":
        if not may_post:
            raise PermissionDenied
        if choice is not None and form.is_valid():
            response = _post_message(model_admin, request, room_id, choice, form)
            if response is not None:
                return response

    room = None
    members: list[Any] = []
    members_more = False
    latest: list[Any] = []
    messages_note = ""
    if choice is None:
        messages.warning(request, gettext("No Webex credential to use."))
    else:
        try:
            client, _credential = _client(choice)
            room = client.rooms.get(room_id)
            member_page = client.memberships.list(room_id=room_id, max=DETAIL_MEMBERS).first_page()
            members, members_more = list(member_page.items), member_page.has_next
            try:
                latest = list(client.messages.list(room_id, max=DETAIL_MESSAGES).first_page())
            except webex.ForbiddenError:
                if not choice.is_bot:
                    raise
                # Webex lets a bot read only the messages that mention it in a group space
                # (https://developer.webex.com/docs/bots, "Differences Between Bots and
                # People"); list those instead of nothing.
                messages_note = gettext(
                    "Webex lets bots read only the messages that mention them in group "
                    "spaces, so only those are shown."
                )
                latest = list(
                    client.messages.list(
                        room_id, mentioned_people="me", max=DETAIL_MESSAGES
                    ).first_page()
                )
        except _handled_errors() as exc:
            _report(request, exc)

    back = reverse(f"{model_admin.admin_site.name}:webexteams_spaces")
    if choice is not None:
        back += "?" + urlencode({"credential": choice.key})
    context = _context(
        model_admin,
        request,
        (room.title if room is not None and room.title else gettext("Webex space")),
        choices=choices,
        choice=choice,
        room=room,
        room_id=room_id,
        members=members,
        members_more=members_more,
        latest=latest,
        messages_note=messages_note,
        form=form if may_post else None,
        back_url=back,
    )
    return TemplateResponse(request, "admin/webexteams/space_detail.html", context)


def _post_message(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    room_id: str,
    choice: CredentialChoice,
    form: PostMessageForm,
) -> HttpResponse | None:
    from django_webexteams import messaging

    credential = None
    if choice.pk is not None:
        credential = Credential.objects.filter(pk=choice.pk).first()
    try:
        row = messaging.send_message(
            room_id=room_id, markdown=form.cleaned_data["markdown"], credential=credential
        )
    except messaging.InvalidMessageError as exc:
        form.add_error("markdown", str(exc))
        return None
    url = reverse(f"{model_admin.admin_site.name}:webexteams_outboundmessage_change", args=[row.pk])
    messages.success(
        request,
        format_html(
            '{} <a href="{}">{}</a>',
            gettext("Message queued for sending:"),
            url,
            gettext("outbound message %(pk)s") % {"pk": row.pk},
        ),
    )
    # Post/redirect/get: a reload must not post the message twice.
    return HttpResponseRedirect(request.get_full_path())


# --- licenses ------------------------------------------------------------------------------


def _picker_query(choice: CredentialChoice, org_id: str) -> str:
    return urlencode([(k, v) for k, v in (("credential", choice.key), ("org", org_id)) if v])


def licenses_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """The licenses of the chosen credential's organisation (or of the picked one)."""
    from django_webexteams import client as webex

    _check_view(model_admin, request)
    choices = credential_choices(request)
    choice = _pick_credential(request, choices, admin_api=True)
    org_id = request.GET.get("org", "").strip()
    orgs: list[Any] = []
    rows: list[dict[str, Any]] = []
    truncated = False
    if choice is None:
        messages.warning(request, gettext("No Webex credential to use."))
    else:
        try:
            client, _credential = _client(choice)
            try:
                orgs = list(islice(client.organizations.list(), 100))
            except webex.ForbiddenError:
                # Reading organisations needs its own admin scope; the license list below
                # says clearly whether the token may read licenses at all.
                orgs = []
            if org_id and orgs and org_id not in {o.id for o in orgs}:
                messages.warning(request, gettext("That organisation is not visible."))
                org_id = ""
            licenses = list(islice(client.licenses.list(org_id=org_id or None), MAX_LICENSES + 1))
            truncated = len(licenses) > MAX_LICENSES
            detail = f"{model_admin.admin_site.name}:webexteams_license_detail"
            query = _picker_query(choice, org_id)
            for lic in licenses[:MAX_LICENSES]:
                total = lic.total_units or 0
                used = lic.consumed_units or 0
                percent = min(100.0, round(used * 100 / total, 1)) if total > 0 else 0
                rows.append(
                    {
                        "license": lic,
                        "consumed": used,
                        "total": total,
                        "percent": percent,
                        "level": "high" if percent >= 90 else "mid" if percent >= 70 else "low",
                        "url": reverse(detail, args=[lic.id]) + ("?" + query if query else ""),
                    }
                )
        except _handled_errors() as exc:
            _report(request, exc)
    context = _context(
        model_admin,
        request,
        gettext("Webex licenses"),
        choices=choices,
        choice=choice,
        orgs=orgs,
        org_id=org_id,
        show_org_picker=len(orgs) > 1,
        rows=rows,
        truncated=truncated,
    )
    return TemplateResponse(request, "admin/webexteams/licenses.html", context)


def license_detail_view(
    model_admin: ModelAdmin[Any], request: HttpRequest, license_id: str
) -> HttpResponse:
    """One license and who holds it.

    Webex's ``GET /licenses/{id}?includeAssignedTo=user`` lists the holders where the
    organisation supports it. Otherwise the organisation's people are scanned (up to
    ``MAX_PEOPLE_SCAN``; ``GET /people`` has no license filter, each person lists its
    licenses for an administrator) and the page says so.
    """
    _check_view(model_admin, request)
    choices = credential_choices(request)
    choice = _pick_credential(request, choices, admin_api=True)
    org_id = request.GET.get("org", "").strip()
    lic = None
    holders: list[dict[str, Any]] = []
    source = ""
    scanned = 0
    scan_truncated = False
    if choice is None:
        messages.warning(request, gettext("No Webex credential to use."))
    else:
        try:
            client, _credential = _client(choice)
            lic = client.licenses.get(license_id, include_assigned_to="user", limit=300)
            if lic.users is not None:
                source = "webex"
                for user in lic.users:
                    holders.append(
                        {
                            "name": user.get("displayName") or "",
                            "email": user.get("email") or "",
                            "id": user.get("id") or "",
                            "type": user.get("type") or "user",
                        }
                    )
            else:
                source = "scan"
                people = client.people.list(org_id=org_id or None, max=1000)
                for person in islice(people, MAX_PEOPLE_SCAN + 1):
                    scanned += 1
                    if scanned > MAX_PEOPLE_SCAN:
                        scan_truncated = True
                        scanned -= 1
                        break
                    if license_id in (person.licenses or ()):
                        holders.append(
                            {
                                "name": person.display_name or "",
                                "email": (person.emails or [""])[0],
                                "id": person.id or "",
                                "type": "user",
                            }
                        )
        except _handled_errors() as exc:
            _report(request, exc)
    back = reverse(f"{model_admin.admin_site.name}:webexteams_licenses")
    if choice is not None:
        back += "?" + urlencode(
            {k: v for k, v in (("credential", choice.key), ("org", org_id)) if v}
        )
    total = (lic.total_units or 0) if lic is not None else 0
    used = (lic.consumed_units or 0) if lic is not None else 0
    context = _context(
        model_admin,
        request,
        (lic.name if lic is not None and lic.name else gettext("Webex license")),
        choices=choices,
        choice=choice,
        license=lic,
        license_id=license_id,
        consumed=used,
        total=total,
        percent=min(100.0, round(used * 100 / total, 1)) if total > 0 else 0,
        holders=holders,
        source=source,
        scanned=scanned,
        scan_truncated=scan_truncated,
        max_scan=MAX_PEOPLE_SCAN,
        back_url=back,
    )
    return TemplateResponse(request, "admin/webexteams/license_detail.html", context)
