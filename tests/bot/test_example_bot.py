"""The test project's bot (testproject/bot/receivers.py), as the demo uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_webexteams.bot.testing import BotTestKit
from testproject.bot.receivers import bot as example_bot


@pytest.fixture
def example(fake_webex: Any, db: None) -> Iterator[BotTestKit]:
    example_bot.connect()  # the package conftest disconnects it for the other tests
    with BotTestKit(fake_webex, bot=example_bot) as kit:
        yield kit
    example_bot.disconnect()


def test_it_echoes_without_its_mention_and_never_answers_itself(example: BotTestKit) -> None:
    done = example.simulate_message("hello", space="group")
    assert [s.text for s in done.sent] == ["You said: hello"]
    # Its own reply comes back as an event (the fake would deliver it): not answered.
    reply = example.messages_in(done.obj["roomId"])[-1]
    assert reply["personId"] == example.bot_person.id
    data = {k: reply[k] for k in ("id", "roomId", "roomType", "personId", "personEmail")}
    for transport in ("webhook", "signal"):
        example._event(
            "messages", data, actor_id=example.bot_person.id, obj=reply, transport=transport
        )
    assert len(example.outbox) == 1


def test_feedback_card_round_trip_as_in_the_demo(example: BotTestKit, fake_webex: Any) -> None:
    [card] = example.simulate_message("feedback").sent
    assert card.inputs() == {"rating": "5", "comment": None}
    # The demo submits through the API with the inputs only (no button data): still routed,
    # by the card on the bot's message.
    action = fake_webex.submit_card(
        example.user, card.message_id, {"rating": "4", "comment": "works on my machine"}
    )
    data = {k: v for k, v in action.items() if k != "inputs"}
    done = example._event(
        "attachmentActions", data, actor_id=example.user.id, obj=action, transport="webhook"
    )
    assert [s.text for s in done.sent] == [
        'Thanks! You rated the demo 4/5 and said "works on my machine".'
    ]
    assert done.sent[0].row.idempotency_key == example_bot.answer_key(action["id"])
    [bad] = example.simulate_card_submit(card, {"rating": "9"}).sent
    assert bad.errors() and bad.card is not None


def test_help_lists_the_feedback_command(example: BotTestKit) -> None:
    [help_reply] = example.simulate_message("help").sent
    assert "`feedback`: I ask how the demo is going, with a card" in help_reply.markdown
