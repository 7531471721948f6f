"""``/messages``: create (text, markdown, threads, 1:1, file URL or local upload, cards),
list, list_direct, get, edit, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..files import FileInput, Upload, prepare_file
from ..models import Message
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, merge_body, query, seg

#: Webex: "The maximum message length is 7439 bytes" (text and markdown each, UTF-8).
MAX_MESSAGE_BYTES = 7439


def _check_length(name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    size = len(value.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"{name} is {size} bytes in UTF-8; Webex accepts at most {MAX_MESSAGE_BYTES}. "
            "Split it into several messages or send it as a file."
        )


class MessagesResource(Resource):
    def create(
        self,
        room_id: str | None = None,
        to_person_id: str | None = None,
        to_person_email: str | None = None,
        text: str | None = None,
        markdown: str | None = None,
        parent_id: str | None = None,
        files: Sequence[FileInput] | FileInput | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Message:
        """``POST /messages``. Exactly one target (``room_id``, ``to_person_id`` or
        ``to_person_email``); something to send (``text``, ``markdown``, a file or a card).

        ``files``: a list with ONE item: a URL (Webex fetches it), a ``Path``, bytes, a binary
        file object or ``(filename, data, content_type)``; local files go as multipart.
        ``attachments``: adaptive cards
        (``{"contentType": "application/vnd.microsoft.card.adaptive", "content": {...}}``).
        Never retried on 5xx or connection errors (POST): a retry could post the message
        twice. (An opted-in 429 wait does resend: Webex refused the first one unprocessed.)
        With a local file (multipart), ``extra_body`` values go as form fields.
        Raises :class:`ValueError` on bad combinations before any request."""
        targets = [t for t in (room_id, to_person_id, to_person_email) if t]  # "" = absent
        if len(targets) != 1:
            raise ValueError(
                f"pass exactly one of room_id, to_person_id or to_person_email (got {len(targets)})"
            )
        _check_length("text", text)
        _check_length("markdown", markdown)
        file_list: list[Any]
        if files is None:
            file_list = []
        elif isinstance(files, list | tuple) and not (
            isinstance(files, tuple)
            and files
            and isinstance(files[0], str)
            and len(files) in (2, 3)
            and not isinstance(files[1], str)
        ):
            file_list = list(files)
        else:
            file_list = [files]
        if len(file_list) > 1:
            raise ValueError("Webex accepts one file per message; send several messages")
        if attachments is not None:
            if not isinstance(attachments, list | tuple):
                raise ValueError("attachments must be a list of card dicts")
            if len(attachments) > 1:
                raise ValueError("Webex accepts one card (attachment) per message")
        if not (text or markdown or file_list or attachments):
            raise ValueError("nothing to send: pass text, markdown, files or attachments")
        prepared = prepare_file(file_list[0]) if file_list else None
        fields = body(
            roomId=room_id or None,
            toPersonId=to_person_id or None,
            toPersonEmail=to_person_email or None,
            parentId=parent_id or None,
            text=text,
            markdown=markdown,
        )
        if isinstance(prepared, Upload):
            fields = merge_body(fields, extra_body)
            if attachments:
                raise ValueError(
                    "a card cannot be combined with a local file upload (multipart); "
                    "send the card in its own message"
                )
            return self._upload(fields, prepared, query(None, extra_params))
        if prepared is not None:
            fields["files"] = [prepared]
        if attachments:
            fields["attachments"] = [dict(a) for a in attachments]
        return self._post(
            Message, "/messages", fields, extra_params=extra_params, extra_body=extra_body
        )

    def _upload(
        self, fields: dict[str, Any], upload: Upload, params: dict[str, Any] | None
    ) -> Message:
        try:
            result = self._transport.request(
                "POST",
                "/messages",
                params=params,
                data=fields,
                files=lambda: {"files": upload.open()},
            )
        finally:
            upload.close()
        return self._model(Message, result)

    def list(
        self,
        room_id: str,
        parent_id: str | None = None,
        mentioned_people: str | Sequence[str] | None = None,
        before: str | None = None,
        before_message: str | None = None,
        max: int | None = None,
        *,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Message]:
        """``GET /messages`` (newest first). Bots must pass ``mentioned_people="me"`` in
        group spaces; ``max`` is at most 100 with ``mentioned_people``."""
        if not room_id:
            raise ValueError("room_id is required to list messages")
        return self._list(
            Message,
            "/messages",
            {
                "roomId": room_id,
                "parentId": parent_id,
                "mentionedPeople": mentioned_people,
                "before": before,
                "beforeMessage": before_message,
                "max": max,
            },
            extra_params,
        )

    def list_direct(
        self,
        person_id: str | None = None,
        person_email: str | None = None,
        parent_id: str | None = None,
        *,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Message]:
        """``GET /messages/direct``: the 1:1 space with a person (exactly one of
        ``person_id`` / ``person_email``)."""
        if (person_id is None) == (person_email is None):
            raise ValueError("pass exactly one of person_id or person_email")
        return self._list(
            Message,
            "/messages/direct",
            {
                "personId": person_id,
                "personEmail": person_email,
                "parentId": parent_id,
            },
            extra_params,
        )

    def get(self, message_id: str, *, extra_params: ExtraParams | None = None) -> Message:
        """``GET /messages/{messageId}``."""
        return self._get(Message, f"/messages/{seg(message_id)}", None, extra_params)

    def edit(
        self,
        message_id: str,
        room_id: str,
        text: str | None = None,
        markdown: str | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Message:
        """``PUT /messages/{messageId}``. Webex: at most 10 edits; messages with files or
        cards cannot be edited."""
        if text is None and markdown is None:
            raise ValueError("pass text and/or markdown")
        if not room_id:
            raise ValueError("room_id is required to edit a message")
        _check_length("text", text)
        _check_length("markdown", markdown)
        return self._put(
            Message,
            f"/messages/{seg(message_id)}",
            body(roomId=room_id, text=text, markdown=markdown),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, message_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /messages/{messageId}``; returns the tracking id."""
        return self._delete(f"/messages/{seg(message_id)}", extra_params)
