"""The example bot's card: a one-question feedback form, as a Django form.

The toolkit renders it as an Adaptive Card 1.3 (``django_webexteams.bot.form_card``) and
validates a submission with the same form (receivers.py).
"""

from __future__ import annotations

from typing import Any

from django import forms


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Your rating",
        choices=[(str(n), str(n)) for n in range(1, 6)],
        coerce=int,
        initial="5",
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Anything to add?"}),
    )


def feedback_card() -> dict[str, Any]:
    """The feedback card as an attachment for ``send_message(attachments=...)``."""
    from testproject.bot.receivers import bot

    attachment, _text = bot.render_card("feedback")
    return attachment
