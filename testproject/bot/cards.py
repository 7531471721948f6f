"""The example bot's adaptive card: a one-question feedback form.

Cards are plain dicts in the Adaptive Cards schema
(https://developer.webex.com/docs/api/guides/cards); ``send_message(attachments=...)`` posts
one, and a person's "Submit" arrives as an ``attachmentActions:created`` webhook
(``receivers.card_submitted``).
"""

from __future__ import annotations

from typing import Any


def feedback_card() -> dict[str, Any]:
    """A card asking "How is the demo going?" with a 1-5 choice and a comment box."""
    return {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.3",
            "body": [
                {"type": "TextBlock", "text": "How is the demo going?", "weight": "Bolder"},
                {
                    "type": "Input.ChoiceSet",
                    "id": "rating",
                    "style": "expanded",
                    "value": "5",
                    "choices": [{"title": str(n), "value": str(n)} for n in range(1, 6)],
                },
                {"type": "Input.Text", "id": "comment", "placeholder": "Anything to add?"},
            ],
            "actions": [{"type": "Action.Submit", "title": "Send"}],
        },
    }
