"""Fixtures of the bot toolkit tests: a fresh bot per test, driven through the test kit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_webexteams.bot import Bot
from django_webexteams.bot.testing import BotTestKit


@pytest.fixture(autouse=True)
def _without_example_bot() -> Iterator[None]:
    """The test project's bot answers every message; these tests drive their own bot."""
    from testproject.bot.receivers import bot as example_bot

    example_bot.disconnect()
    yield
    example_bot.connect()


@pytest.fixture
def bot() -> Iterator[Bot]:
    """An empty bot (the BOT_TOKEN one) that each test teaches its commands."""
    b = Bot("test")
    yield b
    b.disconnect()


@pytest.fixture
def kit(fake_webex: Any, db: None, bot: Bot) -> Iterator[BotTestKit]:
    with BotTestKit(fake_webex, bot=bot) as k:
        yield k
    # Every card the bot sent in the test: within Webex's limits and valid Adaptive Card 1.3.
    from tests.bot.test_cards import assert_valid_1_3

    for sent in k.cards:
        assert sent.row.attachments is not None
        assert_valid_1_3(sent.row.attachments[0])
