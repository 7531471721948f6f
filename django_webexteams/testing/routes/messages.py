"""/messages: create (JSON or multipart upload), list, direct, get, edit, delete.

Rules from the Webex docs (see ../shared/WEBEX-FACTS.md): exactly one of roomId, toPersonId,
toPersonEmail; text and markdown at most 7439 bytes each; one file; one card; ten edits;
messages with files or cards cannot be edited; bots must pass mentionedPeople=me to list
messages in group rooms; lists are newest first.
"""

from __future__ import annotations

import html as html_lib
import ipaddress
import logging
import mimetypes
import re
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import WebexError, bad_request, forbidden, missing, not_found
from ..ids import make_id, parse_iso
from ..pagination import paginate
from ..state import Message, Person, Room, StoredFile
from . import router
from .base import Ctx, items, no_content, ok, str_field
from .memberships import invite

log = logging.getLogger("django_webexteams.testing")

MAX_TEXT_BYTES = 7439
MAX_EDITS = 10
MAX_FILE_BYTES = 100 * 1024 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"

_MENTION = re.compile(r"<@(personId|personEmail):([^|>]+)(?:\|([^>]*))?>|<@all>")


def render_markdown(ctx: Ctx, markdown: str) -> tuple[str, str, list[str], list[str]]:
    """Return (plain text, html, mentioned person ids, mentioned groups) for markdown."""
    people: list[str] = []
    groups: list[str] = []
    html_parts: list[str] = []
    text_parts: list[str] = []
    pos = 0
    for m in _MENTION.finditer(markdown):
        text_parts.append(markdown[pos : m.start()])
        html_parts.append(html_lib.escape(markdown[pos : m.start()]))
        pos = m.end()
        if m.group(0) == "<@all>":
            groups.append("all")
            text_parts.append("All")
            html_parts.append(
                '<spark-mention data-object-type="groupMention" '
                'data-group-type="all">All</spark-mention>'
            )
            continue
        kind, value, label = m.group(1), m.group(2), m.group(3)
        person = (
            ctx.state.people.get(value) if kind == "personId" else ctx.state.person_by_email(value)
        )
        name = label or (person.display_name if person else value)
        if person is not None:
            people.append(person.id)
            html_parts.append(
                f'<spark-mention data-object-type="person" data-object-id="{person.id}">'
                f"{html_lib.escape(name)}</spark-mention>"
            )
        else:
            html_parts.append(html_lib.escape(name))
        text_parts.append(name)
    text_parts.append(markdown[pos:])
    html_parts.append(html_lib.escape(markdown[pos:]))
    text = "".join(text_parts)
    body = "".join(html_parts)
    body = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", body)
    body = re.sub(r"(?<!\*)\*(?!\*)(.+?)\*", r"<em>\1</em>", body)
    plain = re.sub(r"\*\*(.+?)\*\*|\*(.+?)\*", lambda x: x.group(1) or x.group(2), text)
    return plain, f"<p>{body}</p>", list(dict.fromkeys(people)), groups


def _check_len(name: str, value: str | None) -> None:
    if value is not None and len(value.encode()) > MAX_TEXT_BYTES:
        raise bad_request(f"The {name} exceeds the maximum length of {MAX_TEXT_BYTES} bytes.")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _file_from_url(ctx: Ctx, url: str) -> str:
    """Accept a file URL. Our own contents URLs are copied, other loopback URLs are fetched
    (the fake never leaves the machine), anything else is kept as an external reference."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise bad_request("files must be an http(s) URL.")
    match = re.search(r"/contents/([^/?]+)$", parts.path)
    if match and match.group(1) in ctx.state.files:
        src = ctx.state.files[match.group(1)]
        return _store(ctx, src.filename, src.content_type, src.data)
    if not _is_loopback(parts.hostname):
        return url
    try:
        # Loopback only, and never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as resp:
            data = resp.read(MAX_FILE_BYTES + 1)
            ctype = resp.headers.get_content_type() or "application/octet-stream"
            disp = resp.headers.get("Content-Disposition", "")
    except Exception as exc:
        log.warning("fake Webex: could not fetch file URL: %s", type(exc).__name__)
        raise bad_request("Unable to retrieve content from the files URL.") from None
    if len(data) > MAX_FILE_BYTES:
        raise WebexError(413, "The file is larger than 100 MB.")
    name_match = re.search(r'filename="?([^";]+)"?', disp)
    filename = name_match.group(1) if name_match else unquote(parts.path.rsplit("/", 1)[-1])
    return _store(ctx, filename or "file", ctype, data)


def _store(ctx: Ctx, filename: str, content_type: str, data: bytes) -> str:
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    f = StoredFile(make_id("CONTENT"), filename, content_type, data)
    ctx.state.files[f.id] = f
    return f.id


def _target_room(ctx: Ctx, data: dict[str, Any]) -> tuple[Room, Person | None]:
    room_id = str_field(data, "roomId")
    to_id = str_field(data, "toPersonId")
    to_email = str_field(data, "toPersonEmail")
    if sum(x is not None for x in (room_id, to_id, to_email)) != 1:
        raise bad_request(
            "Message destination could not be determined. Provide only one destination "
            "in the roomId, toPersonEmail, or toPersonId field"
        )
    if room_id:
        return ctx.require_room(room_id), None
    if to_id:
        other = ctx.state.people.get(to_id)
        if other is None:
            raise not_found("Could not find a person with provided ID.")
    else:
        assert to_email is not None
        other = invite(ctx, to_email)
    if other.id == ctx.me.id:
        raise bad_request("Cannot send a direct message to yourself.")
    room = ctx.state.direct_room(ctx.me, other)
    if room is None:
        room = ctx.state.create_room(ctx.me, other.display_name, type="direct")
        members = [ctx.state.add_member(room, person) for person in (ctx.me, other)]
        ctx.emit("rooms", "created", room.to_json(), room_id=room.id)
        for m in members:
            ctx.emit("memberships", "created", ctx.state.membership_json(m), room_id=room.id)
    return room, other


def hook_data(ctx: Ctx, msg: Message) -> dict[str, Any]:
    """What a messages webhook envelope carries: ids and metadata, never the text."""
    full = ctx.state.message_json(msg, ctx.req.base_url)
    keep = (
        "id",
        "roomId",
        "roomType",
        "personId",
        "personEmail",
        "mentionedPeople",
        "mentionedGroups",
        "files",
        "parentId",
        "created",
        "updated",
    )
    return {k: full[k] for k in keep if k in full}


def _owners_for(ctx: Ctx, room: Room, msg: Message) -> list[str]:
    # Bots only hear about group-room messages that mention them (or @all), as at Webex.
    return ctx.state.message_audience(room, msg)


@router.route("POST", "/messages")
def create_message(ctx: Ctx) -> Any:
    data = ctx.body()
    text = str_field(data, "text")
    markdown = str_field(data, "markdown")
    _check_len("text", text)
    _check_len("markdown", markdown)
    parent_id = str_field(data, "parentId")
    # files: JSON list of one URL, or a multipart part named "files" (or a URL form field).
    uploads = ctx.req.files().get("files", [])
    files_field = data.get("files")
    if ctx.req.content_type == "multipart/form-data":
        url_values = [v for v in ctx.req.form().get("files", []) if v]
    elif files_field is None:
        url_values = []
    elif isinstance(files_field, str):
        url_values = [files_field]
    elif isinstance(files_field, list) and all(isinstance(x, str) for x in files_field):
        url_values = list(files_field)
    else:
        raise bad_request("Invalid value for files: expected a list with one URL")
    if len(uploads) + len(url_values) > 1:
        raise bad_request("Only one file may be attached to a message.")
    attachments = data.get("attachments")
    if isinstance(attachments, str):  # multipart form field
        try:
            import json

            attachments = json.loads(attachments)
        except ValueError:
            raise bad_request("Invalid value for attachments: expected JSON") from None
    if attachments is not None:
        if isinstance(attachments, dict):
            attachments = [attachments]
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise bad_request("Invalid value for attachments: expected a list of cards")
        if len(attachments) > 1:
            raise bad_request("Only one attachment (card) may be sent per message.")
        for a in attachments:
            if a.get("contentType") != CARD_TYPE or not isinstance(a.get("content"), dict):
                raise bad_request(f"Attachment contentType must be {CARD_TYPE!r} with content.")
    if not (text or markdown or uploads or url_values or attachments):
        raise bad_request("Both text and file cannot be empty.")
    room, other = _target_room(ctx, data)
    mine = ctx.state.membership_of(ctx.me.id, room.id)
    if room.is_announcement_only and mine is not None and not mine.is_moderator:
        raise forbidden("Only moderators may post in an announcement space.")
    if parent_id:
        parent = ctx.state.messages.get(parent_id)
        if parent is None or parent.room_id != room.id:
            raise bad_request("Invalid parentId: the parent message is not in this room.")
        if parent.parent_id:
            raise bad_request("Cannot reply to a reply: use the thread's parent message.")
    files: list[str] = []
    for up in uploads:
        if len(up.data) > MAX_FILE_BYTES:
            raise WebexError(413, "The file is larger than 100 MB.")
        files.append(_store(ctx, up.filename, up.content_type, up.data))
    for url in url_values:
        files.append(_file_from_url(ctx, url))
    html = None
    mentioned: list[str] = []
    groups: list[str] = []
    if markdown:
        plain, html, mentioned, groups = render_markdown(ctx, markdown)
        text = text or plain
    now = ctx.state.clock.now()
    msg = Message(
        id=make_id("MESSAGE"),
        room_id=room.id,
        person_id=ctx.me.id,
        created=now,
        text=text,
        markdown=markdown,
        html=html,
        files=files,
        attachments=list(attachments or []),
        parent_id=parent_id,
        mentioned_people=mentioned,
        mentioned_groups=groups,
    )
    for f in files:
        if f in ctx.state.files:
            ctx.state.files[f].room_id = room.id
    ctx.state.messages[msg.id] = msg
    room.last_activity = now
    body = ctx.state.message_json(msg, ctx.req.base_url)
    ctx.emit(
        "messages",
        "created",
        dict(body),
        hook_data=hook_data(ctx, msg),
        room_id=room.id,
        owner_ids=_owners_for(ctx, room, msg),
    )
    if other is not None:
        if data.get("toPersonId"):
            body["toPersonId"] = other.id
        else:
            body["toPersonEmail"] = other.email
    return ok(body)


def _bot_can_read(ctx: Ctx, room: Room, msg: Message) -> bool:
    if not ctx.me.is_bot or room.type == "direct":
        return True
    return (
        msg.person_id == ctx.me.id
        or ctx.me.id in msg.mentioned_people
        or "all" in msg.mentioned_groups
    )


@router.route("GET", "/messages")
def list_messages(ctx: Ctx) -> Any:
    req = ctx.req
    room_id = req.arg("roomId")
    if not room_id:
        raise missing("roomId")
    room = ctx.require_room(room_id)
    mentioned = req.arg_list("mentionedPeople")
    if ctx.me.is_bot and room.type == "group" and not mentioned:
        raise forbidden(
            "Failed to get activities in room: bots must include mentionedPeople=me to list "
            "messages in a group room."
        )
    for value in mentioned:
        if value not in ("me", ctx.me.id):
            raise bad_request("Only me or the person ID of the current user may be specified.")
    msgs = [m for m in ctx.state.messages.values() if m.room_id == room.id]
    if mentioned:
        # A message in which the caller mentions themselves is not returned: the official
        # SDK's live tests mark that case as "not returned by Webex".
        msgs = [m for m in msgs if ctx.me.id in m.mentioned_people and m.person_id != ctx.me.id]
    parent_id = req.arg("parentId")
    if parent_id:
        msgs = [m for m in msgs if m.parent_id == parent_id]
    before = req.arg("before")
    if before:
        when = parse_iso(before)
        if when is None:
            raise bad_request(f"Invalid value for before: {before!r}")
        msgs = [m for m in msgs if m.created < when]
    before_message = req.arg("beforeMessage")
    if before_message:
        anchor = ctx.state.messages.get(before_message)
        if anchor is None or anchor.room_id != room.id:
            raise not_found("Could not find a message with provided ID.")
        msgs = [m for m in msgs if m.seq < anchor.seq]
    msgs.sort(key=lambda m: m.seq, reverse=True)  # newest first
    page, headers = paginate(
        req,
        msgs,
        key=lambda m: m.id,
        default=50,
        limit=100 if mentioned else 1000,
        quirks=ctx.fake.faults.quirks,
    )
    return items([ctx.state.message_json(m, req.base_url) for m in page], headers)


@router.route("GET", "/messages/direct")
def list_direct(ctx: Ctx) -> Any:
    req = ctx.req
    person_id = req.arg("personId")
    person_email = req.arg("personEmail")
    if not person_id and not person_email:
        raise missing("personId or personEmail")
    other = ctx.person_arg(person_id, person_email)
    room = ctx.state.direct_room(ctx.me, other) if other is not None else None
    msgs = [m for m in ctx.state.messages.values() if room is not None and m.room_id == room.id]
    parent_id = req.arg("parentId")
    if parent_id:
        msgs = [m for m in msgs if m.parent_id == parent_id]
    msgs.sort(key=lambda m: m.seq, reverse=True)
    page, headers = paginate(
        req, msgs, key=lambda m: m.id, default=50, limit=1000, quirks=ctx.fake.faults.quirks
    )
    return items([ctx.state.message_json(m, req.base_url) for m in page], headers)


def _visible(ctx: Ctx, message_id: str) -> tuple[Message, Room]:
    msg = ctx.state.messages.get(message_id)
    room = ctx.state.rooms.get(msg.room_id) if msg else None
    if (
        msg is None
        or room is None
        or ctx.state.membership_of(ctx.me.id, room.id) is None
        or not _bot_can_read(ctx, room, msg)
    ):
        raise not_found("Could not find a message with provided ID.")
    return msg, room


@router.route("GET", "/messages/{id}")
def get_message(ctx: Ctx) -> Any:
    msg, _room = _visible(ctx, ctx.params["id"])
    return ok(ctx.state.message_json(msg, ctx.req.base_url))


@router.route("PUT", "/messages/{id}")
def edit_message(ctx: Ctx) -> Any:
    msg, room = _visible(ctx, ctx.params["id"])
    data = ctx.body()
    room_id = str_field(data, "roomId", required=True)
    text = str_field(data, "text")
    markdown = str_field(data, "markdown")
    if room_id != room.id:
        raise bad_request("roomId does not match the message's room.")
    if not text and not markdown:
        raise missing("text or markdown")
    _check_len("text", text)
    _check_len("markdown", markdown)
    if msg.person_id != ctx.me.id:
        raise forbidden("Only the author of a message can edit it.")
    if msg.files or msg.attachments:
        raise bad_request("Messages with files or cards cannot be edited.")
    if msg.edits >= MAX_EDITS:
        raise bad_request(f"A message can be edited at most {MAX_EDITS} times.")
    msg.markdown = markdown
    msg.text = text
    msg.html = None
    msg.mentioned_people, msg.mentioned_groups = [], []
    if markdown:
        plain, msg.html, msg.mentioned_people, msg.mentioned_groups = render_markdown(ctx, markdown)
        msg.text = text or plain
    msg.edits += 1
    msg.updated = ctx.state.clock.now()
    body = ctx.state.message_json(msg, ctx.req.base_url)
    ctx.emit(
        "messages",
        "updated",
        body,
        hook_data=hook_data(ctx, msg),
        room_id=room.id,
        owner_ids=_owners_for(ctx, room, msg),
    )
    return ok(body)


@router.route("DELETE", "/messages/{id}")
def delete_message(ctx: Ctx) -> Any:
    msg, room = _visible(ctx, ctx.params["id"])
    mine = ctx.state.membership_of(ctx.me.id, room.id)
    allowed = (
        msg.person_id == ctx.me.id
        or (room.is_locked and mine is not None and mine.is_moderator)
        or ctx.me.is_compliance_officer
    )
    if not allowed:
        raise forbidden("You may only delete your own messages.")
    data = hook_data(ctx, msg)
    owners = _owners_for(ctx, room, msg)
    del ctx.state.messages[msg.id]
    ctx.emit("messages", "deleted", data, room_id=room.id, owner_ids=owners)
    return no_content()
