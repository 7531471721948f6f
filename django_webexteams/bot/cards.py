"""Django forms as Adaptive Cards, and card submissions back into forms.

Webex renders Adaptive Cards 1.3 (https://developer.webex.com/docs/buttons-and-cards: "Support
for Version 1.3 properties: isRequired, label, errorMessage, regex"). :func:`form_card` turns a
``django.forms.Form`` into one such card: ``CharField`` -> ``Input.Text`` (``Textarea`` ->
multi-line, ``EmailField``/``URLField`` -> the matching style), ``IntegerField``/``FloatField``/
``DecimalField`` -> ``Input.Number``, ``DateField`` -> ``Input.Date``, ``TimeField`` ->
``Input.Time``, ``BooleanField`` -> ``Input.Toggle``, ``ChoiceField`` (and ``Typed…``,
``Multiple…``) -> ``Input.ChoiceSet``, each with its label, required mark, initial (or
submitted) value, help text and errors. :func:`form_data` reads a submission's ``inputs``
the way the form's widgets expect, so the *same* form validates it.

Why a small renderer instead of the ``adaptive-cards-py`` package: its Webex target declares
schema 1.2 (it would reject ``label`` and ``isRequired``, which Webex renders), its size limit
for Webex is not Webex's, it pulls pydantic, jsonschema, requests and result into every
project, and it knows nothing of Django forms, which is the work here. Our tests check every
card this module emits against the official Adaptive Cards 1.3 JSON schema instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any

from django import forms
from django.core import validators
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str

__all__ = [
    "CARD_CONTENT_TYPE",
    "CARD_ID_INPUT",
    "CARD_VERSION",
    "MAX_CARD_ACTIONS",
    "MAX_CARD_BYTES",
    "CardError",
    "card_id_of",
    "check_card",
    "form_card",
    "form_data",
]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
#: The version Webex renders (see the module docstring).
CARD_VERSION = "1.3"
#: The key of the submit button's ``data`` naming the card. Webex merges an
#: ``Action.Submit``'s ``data`` into the submission's ``inputs``.
CARD_ID_INPUT = "webexteams_card"
#: Webex: "Cards may include up to five buttons (actions)" (Buttons and Cards guide).
MAX_CARD_ACTIONS = 5
#: Webex documents no size limit for a card. The toolkit refuses a card whose JSON is over
#: 28 KB, the tightest limit an Adaptive Cards host documents (Microsoft Teams), so that a
#: card built here is never refused for its size.
MAX_CARD_BYTES = 28 * 1024

#: The elements a card built here may contain (all render in Webex).
_ELEMENTS = frozenset({
    "TextBlock", "Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle",
    "Input.ChoiceSet", "Container", "ColumnSet", "Column", "FactSet", "Image",
})  # fmt: skip
_ACTIONS = frozenset({"Action.Submit", "Action.OpenUrl", "Action.ShowCard"})


class CardError(ValueError):
    """A card Webex would refuse or not render (too big, too many buttons, a newer version,
    an element Webex does not know, a duplicate input id)."""


# --- rendering --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return force_str(value) if value is not None else ""


def _value(field: forms.Field, value: Any) -> str | None:
    """A form value as the string an Adaptive Card input holds (``None``: no value)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(field, forms.BooleanField):
        if isinstance(value, str):
            return "true" if value.lower() in ("true", "1", "on") else "false"
        return "true" if value else "false"
    if isinstance(field, forms.MultipleChoiceField):
        items = value if isinstance(value, list | tuple) else [value]
        return ",".join(_text(v) for v in items)
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return _text(value)


def _limits(field: forms.Field) -> tuple[Any, Any]:
    low = getattr(field, "min_value", None)
    high = getattr(field, "max_value", None)
    for validator in field.validators:
        if isinstance(validator, validators.MinValueValidator) and low is None:
            low = validator.limit_value
        if isinstance(validator, validators.MaxValueValidator) and high is None:
            high = validator.limit_value
    return low, high


def _number(value: Any) -> int | float | None:
    if value is None or callable(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value if isinstance(value, int | float) else None


def _parse_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _flat_choices(choices: Any) -> list[tuple[Any, Any]]:
    """``(value, title)`` pairs, option groups flattened (a card has no groups)."""
    flat: list[tuple[Any, Any]] = []
    for key, title in list(choices):
        if isinstance(title, list | tuple):
            flat.extend((k, t) for k, t in title)
        else:
            flat.append((key, title))
    return flat


def _input(name: str, bound: forms.BoundField) -> dict[str, Any]:
    field = bound.field
    value = _value(field, bound.value())
    label = _text(bound.label)
    element: dict[str, Any]
    if isinstance(field, forms.BooleanField):
        # A toggle is never "required" in the card: an unticked box is a valid answer to the
        # card, and a BooleanField(required=True) says so itself when validated.
        element = {"type": "Input.Toggle", "id": name, "title": label,
                   "valueOn": "true", "valueOff": "false", "value": value or "false"}  # fmt: skip
        return element
    if isinstance(field, forms.ChoiceField):
        choices = [
            {"title": _text(title), "value": _text(key)}
            for key, title in _flat_choices(field.choices)
            if _text(key) != ""  # Django's "---------" empty choice: the card's placeholder
        ]
        element = {"type": "Input.ChoiceSet", "id": name, "choices": choices}
        if isinstance(field, forms.MultipleChoiceField):
            element["isMultiSelect"] = True
        widget = field.widget
        expanded = isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple)
        element["style"] = "expanded" if expanded else "compact"
    elif isinstance(field, forms.IntegerField | forms.FloatField | forms.DecimalField):
        element = {"type": "Input.Number", "id": name}
        low, high = _limits(field)
        if _number(low) is not None:
            element["min"] = _number(low)
        if _number(high) is not None:
            element["max"] = _number(high)
    elif isinstance(field, forms.DateField):
        element = {"type": "Input.Date", "id": name}
    elif isinstance(field, forms.TimeField):
        element = {"type": "Input.Time", "id": name}
    elif isinstance(field, forms.CharField):
        element = {"type": "Input.Text", "id": name}
        if isinstance(field.widget, forms.Textarea):
            element["isMultiline"] = True
        if isinstance(field, forms.EmailField):
            element["style"] = "email"
        elif isinstance(field, forms.URLField):
            element["style"] = "url"
        if field.max_length:
            element["maxLength"] = int(field.max_length)
    else:
        raise CardError(
            f"{type(field).__name__} ({name!r}) has no Adaptive Card input in Webex: use "
            "CharField, IntegerField, FloatField, DecimalField, DateField, TimeField, "
            "BooleanField or a ChoiceField (a DateTimeField can be a DateField and a TimeField)"
        )
    placeholder = field.widget.attrs.get("placeholder")
    if placeholder:
        element["placeholder"] = _text(placeholder)
    if value is not None:
        if element["type"] == "Input.Number":
            # The schema's Input.Number value is a number; something typed that is not one
            # (a submission that failed validation) is shown empty, its error under it.
            number = _parse_number(value)
            if number is not None:
                element["value"] = number
        else:
            element["value"] = value
    element["label"] = label
    if field.required:
        element["isRequired"] = True
        element["errorMessage"] = _text(field.error_messages.get("required", ""))
    # The order of keys Webex's own samples use: type, id first; label after the input's own.
    return element


def _note(text: str, *, error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True, "size": "Small"}
    if error:
        block["color"] = "Attention"
    else:
        block["isSubtle"] = True
    block["spacing"] = "None"
    return block


def form_card(
    form: forms.BaseForm,
    card_id: str,
    *,
    title: str | None = None,
    submit: str = "Submit",
) -> dict[str, Any]:
    """The attachment (``send_message(attachments=...)``) showing ``form`` as a card.

    An unbound form shows its initial values; a bound one (a submission that did not
    validate) shows what was submitted, with each field's errors under it and the form's
    own errors at the top. ``card_id`` names the card in its submissions (the submit
    button's ``data``), so ``Bot.on_card_submit(card_id)`` receives them. Hidden fields'
    values ride in the same ``data`` (a person can still change them: they are checked by
    the form like every other input). The result has passed :func:`check_card`.
    """
    body: list[dict[str, Any]] = []
    if title:
        body.append({"type": "TextBlock", "text": _text(title), "weight": "Bolder",
                     "size": "Medium", "wrap": True})  # fmt: skip
    if form.is_bound:
        for error in form.non_field_errors():
            body.append(_note(_text(error), error=True))
    data: dict[str, Any] = {CARD_ID_INPUT: card_id}
    for bound in form:
        name = bound.html_name
        if bound.is_hidden:
            hidden = _value(bound.field, bound.value())
            if hidden is not None:
                data[name] = hidden
            continue
        body.append(_input(name, bound))
        if bound.help_text:
            body.append(_note(_text(bound.help_text)))
        if form.is_bound:
            for error in bound.errors:
                body.append(_note(_text(error), error=True))
    card = {
        "contentType": CARD_CONTENT_TYPE,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "body": body,
            "actions": [{"type": "Action.Submit", "title": _text(submit), "data": data}],
        },
    }
    check_card(card)
    return card


# --- submissions ------------------------------------------------------------------------------


def form_data(
    form_class: type[forms.BaseForm], inputs: Mapping[str, Any]
) -> MultiValueDict[str, str]:
    """A card submission's ``inputs`` as the data ``form_class(data=...)`` expects.

    Webex sends every input as a string: a toggle as ``"true"``/``"false"`` (what
    ``CheckboxInput`` reads), a multi-select choice set as ``"a,b"`` (split here for
    ``MultipleChoiceField``), an empty input as ``""``. The card-id key is left out.
    """
    fields = form_class.base_fields  # type: ignore[attr-defined]
    data: MultiValueDict[str, str] = MultiValueDict()
    for key, raw in inputs.items():
        if key == CARD_ID_INPUT:
            continue
        field = fields.get(key)
        if isinstance(field, forms.MultipleChoiceField):
            values = raw if isinstance(raw, list) else [v for v in _text(raw).split(",") if v]
            data.setlist(key, [_text(v) for v in values])
        elif isinstance(raw, bool):
            data[key] = "true" if raw else "false"
        elif isinstance(raw, str | int | float):
            data[key] = _text(raw)
        # Anything else (a nested object forged into the inputs) is not a card value: dropped,
        # so the form sees the field as missing and says so.
    return data


def card_id_of(attachments: Any) -> str | None:
    """The card id a message's card was built with (its submit button's ``data``)."""
    if not isinstance(attachments, list):
        return None
    for attachment in attachments:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        actions = content.get("actions") if isinstance(content, dict) else None
        for action in actions if isinstance(actions, list) else []:
            data = action.get("data") if isinstance(action, dict) else None
            if isinstance(data, dict) and isinstance(data.get(CARD_ID_INPUT), str):
                return str(data[CARD_ID_INPUT])
    return None


# --- Webex's limits ---------------------------------------------------------------------------


def _walk(items: Any, where: str, seen: set[str], counts: dict[str, int]) -> None:
    if not isinstance(items, list):
        raise CardError(f"{where} must be a list")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise CardError(f"every element of {where} needs a type")
        kind = item["type"]
        if kind.startswith("Action."):
            counts["actions"] += 1
            if kind not in _ACTIONS:
                raise CardError(f"{kind} is not an action Webex renders")
            if kind == "Action.ShowCard":
                _walk(item.get("card", {}).get("body", []), f"{where} > ShowCard", seen, counts)
            continue
        if kind not in _ELEMENTS:
            raise CardError(f"{kind} is not an element this toolkit emits for Webex")
        if kind.startswith("Input."):
            input_id = item.get("id")
            if not isinstance(input_id, str) or not input_id:
                raise CardError(f"an {kind} in {where} has no id")
            if input_id in seen or input_id == CARD_ID_INPUT:
                raise CardError(f"input id {input_id!r} is used twice")
            seen.add(input_id)
        for key in ("items", "columns"):
            if key in item:
                _walk(item[key], f"{where} > {kind}", seen, counts)
        if "selectAction" in item:
            _walk([item["selectAction"]], f"{where} > {kind}", seen, counts)


def check_card(attachment: Any) -> None:
    """Raise :class:`CardError` unless ``attachment`` is one card Webex renders: the right
    content type, an ``AdaptiveCard`` of version 1.3 or older, known elements, unique input
    ids, at most five actions, and at most :data:`MAX_CARD_BYTES` of JSON."""
    if isinstance(attachment, list):
        if len(attachment) != 1:
            raise CardError("Webex accepts one card (attachment) per message")
        attachment = attachment[0]
    if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
        raise CardError(f'a card is {{"contentType": "{CARD_CONTENT_TYPE}", "content": {{...}}}}')
    content = attachment.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        raise CardError('a card\'s content is {"type": "AdaptiveCard", ...}')
    version = str(content.get("version", ""))
    try:
        newer = tuple(int(p) for p in version.split(".")) > (1, 3)
    except ValueError:
        raise CardError(f"card version {version!r} is not a version") from None
    if newer:
        raise CardError(f"Webex renders Adaptive Cards up to 1.3, not {version}")
    counts = {"actions": 0}
    seen: set[str] = set()
    _walk(content.get("body", []), "body", seen, counts)
    _walk(content.get("actions", []), "actions", seen, counts)
    if counts["actions"] > MAX_CARD_ACTIONS:
        raise CardError(f"Webex shows at most {MAX_CARD_ACTIONS} buttons (actions) on a card")
    size = len(json.dumps(attachment, separators=(",", ":")).encode("utf-8"))
    if size > MAX_CARD_BYTES:
        raise CardError(f"the card is {size} bytes of JSON; keep it under {MAX_CARD_BYTES}")
