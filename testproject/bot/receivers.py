"""The example bot, written with the bot toolkit (docs/bot.md).

It answers ``help``, sends a feedback card on ``feedback`` (a Django form, cards.py), thanks
people who submit it, and answers anything else with "You said: ...". The toolkit fetches the
message, strips the mention, answers in the thread through ``send_message`` (one answer per
message, however often the delivery is processed) and never answers the bot's own messages.
"""

from __future__ import annotations

from typing import Any

from django_webexteams.bot import Bot, Context
from testproject.bot.cards import FeedbackForm

bot = Bot()

# The receivers the toolkit connected, by name, for code that disconnects them (tests).
ECHO_UID = bot.dispatch_uid("message_created")
CARD_UID = bot.dispatch_uid("attachment_action_created")
echo = bot.message_receiver
card_submitted = bot.card_receiver


@bot.command("feedback", help="I ask how the demo is going, with a card")
def ask_for_feedback(ctx: Context) -> None:
    ctx.reply_card("feedback")


@bot.on_card_submit("feedback", form=FeedbackForm, title="How is the demo going?", submit="Send")
def thank_for_feedback(ctx: Context) -> None:
    data: dict[str, Any] = ctx.cleaned_data or {}
    comment = data["comment"].strip()
    ctx.reply(
        f"Thanks! You rated the demo {data['rating']}/5"
        + (f' and said "{comment}".' if comment else ".")
    )


@bot.fallback
def echo_back(ctx: Context) -> None:
    ctx.reply(f"You said: {ctx.text}")
