"""The router end to end: a person writes at the fake Webex, the signed delivery goes through
the webhook view, the bot answers through the outbox, and the kit delivers the answer."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django import forms

from django_webexteams.bot import Access, Bot
from django_webexteams.bot.testing import BotTestKit
from django_webexteams.models import OutboundMessage, WebhookDelivery
from django_webexteams.webhooks import process_delivery


def teach_deploy(bot: Bot, calls: list[tuple[str, ...]]) -> None:
    @bot.command("deploy", help="deploy a service")
    def deploy(ctx: Any, service: str, env: str = "staging") -> None:
        calls.append((service, env, ctx.room_type))
        ctx.reply(f"Deploying {service} to {env}")


def test_a_command_in_a_group_space_with_the_mention(kit: BotTestKit, bot: Bot) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    done = kit.simulate_message('deploy "web app" prod', space="group")
    assert calls == [("web app", "prod", "group")]
    [reply] = done.sent
    assert reply.text == "Deploying web app to prod"
    # In the thread of the person's message, in the same space, delivered to the fake.
    assert reply.parent_id == done.obj["id"] and reply.room_id == done.obj["roomId"]
    shown = kit.messages_in(done.obj["roomId"])
    assert [m["text"] for m in shown][-1] == "Deploying web app to prod"
    assert shown[-1]["parentId"] == done.obj["id"]


def test_a_command_in_a_direct_space_without_a_mention(kit: BotTestKit, bot: Bot) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    done = kit.simulate_message("deploy api")
    assert calls == [("api", "staging", "direct")]
    assert [s.text for s in done.sent] == ["Deploying api to staging"]


def test_a_shortened_mention_is_stripped_and_other_mentions_are_kept(
    kit: BotTestKit, bot: Bot, fake_webex: Any
) -> None:
    seen: list[list[str]] = []

    @bot.command("page")
    def page(ctx: Any) -> None:
        seen.append(ctx.args)

    space = kit.group_space()
    bob = fake_webex.add_person("bob@example.com", "Bob Builder")
    fake_webex.add_member(kit.user, space.id, bob)
    bot_id = kit.bot_person.id
    markdown = f"<@personId:{bot_id}|Test> page <@personId:{bob.id}|Bob> now"
    message = fake_webex.post_message(kit.user, space.id, markdown=markdown)
    assert message["text"] == "Test page Bob now"
    data = {k: message[k] for k in ("id", "roomId", "roomType", "personId", "personEmail")}
    kit._event("messages", data, actor_id=kit.user.id, obj=message, transport="webhook")
    assert seen == [["Bob", "now"]]


def test_an_unknown_command_gets_one_line_pointing_at_help(kit: BotTestKit, bot: Bot) -> None:
    teach_deploy(bot, [])
    done = kit.simulate_message("dance", space="group")
    [reply] = done.sent
    assert 'do not know the command "dance"' in reply.markdown and "help" in reply.markdown


def test_an_unknown_command_is_quoted_not_obeyed_as_markdown(kit: BotTestKit) -> None:
    # Plain text (as the API lets anyone post it) that would be a mention in Markdown.
    [reply] = kit.simulate_message("<@all>").sent
    assert "<@all>" not in reply.markdown and r"\<@all\>" in reply.markdown
    shown = kit.messages_in(reply.room_id)[-1]
    assert not shown.get("mentionedGroups")  # nobody was notified


def test_help_is_generated_from_the_commands(kit: BotTestKit, bot: Bot) -> None:
    teach_deploy(bot, [])
    [reply] = kit.simulate_message("help").sent
    assert "`deploy <service> [env]`: deploy a service" in reply.markdown
    # A bare mention is a request for help too.
    [again] = kit.simulate_message("", space="group").sent
    assert again.markdown == reply.markdown


def test_a_wrong_number_of_arguments_is_answered_with_the_usage(kit: BotTestKit, bot: Bot) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    assert [s.text for s in kit.simulate_message("deploy").sent] == [
        "Usage: deploy <service> [env]"
    ]
    assert [s.text for s in kit.simulate_message("deploy a b c").sent] == [
        "Usage: deploy <service> [env]"
    ]
    [bad] = kit.simulate_message('deploy "web').sent
    assert bad.text.startswith("I could not read that (No closing quotation)")
    assert calls == []


def test_hears_and_the_fallback(kit: BotTestKit, bot: Bot) -> None:
    @bot.hears(r"\bthanks?\b")
    def thanks(ctx: Any) -> None:
        ctx.reply(f"You're welcome ({ctx.match.group(0)})")

    @bot.fallback
    def other(ctx: Any) -> None:
        ctx.reply(f"You said: {ctx.text}")

    assert [s.text for s in kit.simulate_message("Thanks a lot").sent] == [
        "You're welcome (Thanks)"
    ]
    assert [s.text for s in kit.simulate_message("what now", space="group").sent] == [
        "You said: what now"
    ]


def test_a_refused_user_gets_one_polite_line_and_the_refusal_is_logged(
    fake_webex: Any, db: None, caplog: pytest.LogCaptureFixture
) -> None:
    bot = Bot("guarded", allow=Access(domains=["example.com"]))
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    try:
        with BotTestKit(fake_webex, bot=bot) as kit:
            mallory = fake_webex.add_person("mallory@evil-example.com", "Mallory")
            with caplog.at_level(logging.WARNING, logger="django_webexteams.bot"):
                done = kit.simulate_message("deploy web", sender=mallory)
            assert [s.text for s in done.sent] == ["Sorry, you are not allowed to use this bot."]
            assert calls == []
            [record] = [r for r in caplog.records if "refused" in r.getMessage()]
            assert mallory.id in record.getMessage() and "the bot" in record.getMessage()
            # The same command from the allowed domain runs.
            assert [s.text for s in kit.simulate_message("deploy web").sent] == [
                "Deploying web to staging"
            ]
    finally:
        bot.disconnect()


def test_a_command_rule_narrows_the_bot_rule(kit: BotTestKit, bot: Bot, fake_webex: Any) -> None:
    ran: list[str] = []

    @bot.command("shutdown", allow=Access(emails=["ops@example.com"]))
    def shutdown(ctx: Any) -> None:
        ran.append(ctx.person_email)
        ctx.reply("Shutting down")

    [refused] = kit.simulate_message("shutdown", space="group").sent
    assert refused.text == 'Sorry, you are not allowed to use the command "shutdown".'
    ops = fake_webex.add_person("OPS@example.com", "Ops")
    assert [s.text for s in kit.simulate_message("shutdown", sender=ops).sent] == ["Shutting down"]
    assert ran == ["ops@example.com"]  # Webex keeps addresses lower-case


def test_an_organisation_rule_asks_webex_for_the_senders_org(fake_webex: Any, db: None) -> None:
    outsider_org = fake_webex.add_org("Partner Inc")
    bot = Bot("org-only", allow=Access(orgs=[fake_webex.org_id]))
    bot.command("ping")(lambda ctx: ctx.reply("pong"))
    try:
        with BotTestKit(fake_webex, bot=bot) as kit:
            assert [s.text for s in kit.simulate_message("ping").sent] == ["pong"]
            guest = fake_webex.add_person("guest@example.com", "Guest")
            with fake_webex.state.lock:
                fake_webex.state.people[guest.id].org_id = outsider_org
            [refused] = kit.simulate_message("ping", sender=guest).sent
            assert refused.text == "Sorry, you are not allowed to use this bot."
    finally:
        bot.disconnect()


class Booking(forms.Form):
    room = forms.ChoiceField(choices=[("a", "Room A"), ("b", "Room B")])
    day = forms.DateField(label="Day")
    people = forms.IntegerField(min_value=1, max_value=12)
    note = forms.CharField(required=False, widget=forms.Textarea)


def teach_booking(bot: Bot, booked: list[dict[str, Any]]) -> None:
    @bot.command("book")
    def book(ctx: Any) -> None:
        ctx.reply_card("booking", initial={"people": 2})

    @bot.on_card_submit("booking", form=Booking, title="Book a room", submit="Book")
    def submitted(ctx: Any) -> None:
        booked.append(ctx.cleaned_data)
        ctx.reply(f"Booked {ctx.cleaned_data['room']} on {ctx.cleaned_data['day']:%d %b}")


def test_a_card_submitted_with_invalid_then_valid_input(kit: BotTestKit, bot: Bot) -> None:
    booked: list[dict[str, Any]] = []
    teach_booking(bot, booked)
    [card] = kit.simulate_message("book", space="group").sent
    assert card.card is not None and card.inputs()["people"] == 2
    assert card.message_id  # delivered to the fake: it can be submitted

    bad = kit.simulate_card_submit(card, {"room": "c", "day": "someday", "people": "40"})
    [again] = bad.sent
    assert booked == []
    assert again.card is not None and again.text == "Please correct the errors in the form."
    errors = again.errors()
    assert any("Select a valid choice" in e for e in errors)
    assert "Enter a valid date." in errors
    assert any("less than or equal to 12" in e for e in errors)
    # The card comes back with what was typed, in the same thread as the first card.
    assert again.inputs()["people"] == 40 and again.parent_id == card.parent_id

    good = kit.simulate_card_submit(again, {"room": "b", "day": "2026-12-24", "people": "3"})
    assert [s.text for s in good.sent] == ["Booked b on 24 Dec"]
    assert booked[0]["people"] == 3 and str(booked[0]["day"]) == "2026-12-24"


def test_a_forged_card_id_does_not_reach_the_handler(
    kit: BotTestKit, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    approved: list[Any] = []

    @bot.command("ask")
    def ask(ctx: Any) -> None:
        ctx.reply_card("feedback")

    class Feedback(forms.Form):
        comment = forms.CharField()

    bot.on_card_submit("feedback", form=Feedback)(lambda ctx: None)
    bot.on_card_submit("approve")(approved.append)
    [card] = kit.simulate_message("ask").sent
    with caplog.at_level(logging.WARNING, logger="django_webexteams.bot"):
        done = kit.simulate_card_submit(card, {"webexteams_card": "approve"})
    assert approved == [] and done.sent == []
    assert any("not that card" in r.getMessage() for r in caplog.records)


def test_a_redelivered_or_reprocessed_event_does_not_answer_twice(
    kit: BotTestKit, bot: Bot
) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    first = kit.simulate_message("deploy web", space="group")
    assert len(first.sent) == 1
    # Webex retries the same signed body: acknowledged, not dispatched.
    again = first.redeliver()
    assert again.response is not None and again.response.status_code == 200
    assert again.sent == [] and len(calls) == 1
    # Staff reprocess the stored delivery: the handler runs, the answer is not queued again.
    delivery = WebhookDelivery.objects.get(data_id=first.obj["id"])
    process_delivery(delivery.pk, force=True)
    assert len(calls) == 2
    assert OutboundMessage.objects.filter(parent_id=first.obj["id"]).count() == 1
    texts = [m["text"] for m in kit.messages_in(first.obj["roomId"])]
    assert texts.count("Deploying web to staging") == 1


def test_the_same_handler_fires_from_the_webhook_view_and_from_the_signals(
    kit: BotTestKit, bot: Bot
) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    via_view = kit.simulate_message("deploy web", space="group")
    # What a websocket listener does: the same signals, with no webhook row or delivery.
    via_listener = kit.simulate_message("deploy api", space="group", transport="signal")
    assert calls == [("web", "staging", "group"), ("api", "staging", "group")]
    assert [s.text for s in via_view.sent + via_listener.sent] == [
        "Deploying web to staging",
        "Deploying api to staging",
    ]
    assert via_listener.sent[0].parent_id == via_listener.obj["id"]


def test_one_message_seen_through_both_transports_is_answered_once(
    kit: BotTestKit, bot: Bot
) -> None:
    calls: list[tuple[str, ...]] = []
    teach_deploy(bot, calls)
    done = kit.simulate_message("deploy web", space="group")
    kit._signal(done.envelope, done.obj)  # the listener saw the same message
    assert len(calls) == 2
    assert OutboundMessage.objects.filter(parent_id=done.obj["id"]).count() == 1


def test_the_bots_own_events_never_reach_a_handler(
    kit: BotTestKit, bot: Bot, settings: Any, fake_webex: Any
) -> None:
    heard: list[Any] = []
    bot.hears(".")(heard.append)
    bot.fallback(heard.append)
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH_OWN_EVENTS": True}
    space = kit.group_space()
    own = fake_webex.post_message(kit.bot_person, space.id, text="I said this")
    data = {k: own[k] for k in ("id", "roomId", "roomType", "personId", "personEmail")}
    for transport in ("webhook", "signal"):
        kit._event("messages", data, actor_id=kit.bot_person.id, obj=own, transport=transport)
    # Even when the envelope's actor is not the bot, the fetched message's sender is.
    kit._event("messages", data, actor_id=kit.user.id, obj=own, transport="signal")
    assert heard == [] and kit.outbox == []


def test_on_join_greets_the_space(kit: BotTestKit, bot: Bot) -> None:
    @bot.on_join
    def hello(ctx: Any) -> None:
        ctx.say(f"Hi! {ctx.sender.display_name} added me. Say help.")

    done = kit.simulate_join(title="Team")
    [greeting] = done.sent
    assert greeting.text == "Hi! Test User added me. Say help." and greeting.parent_id == ""
    assert greeting.room_id == done.obj["roomId"]


def test_a_failing_handler_says_sorry_and_fails_the_delivery(kit: BotTestKit, bot: Bot) -> None:
    @bot.command("boom")
    def boom(ctx: Any) -> None:
        raise RuntimeError("kaboom")

    done = kit.simulate_message("boom")
    assert [s.text for s in done.sent] == ["Sorry, something went wrong while handling that."]
    delivery = WebhookDelivery.objects.get(data_id=done.obj["id"])
    assert delivery.status == WebhookDelivery.Status.FAILED and "kaboom" in delivery.error


def test_a_bot_answers_only_its_own_credentials_webhooks(
    fake_webex: Any, db: None, bot: Bot
) -> None:
    from django_webexteams.models import Credential

    other_person = fake_webex.add_bot("Other Bot")
    credential = Credential.objects.create(
        name="other", access_token=other_person.token, webex_person_id=other_person.id
    )
    other = Bot(credential=credential)
    assert other.name == f"credential-{credential.pk}"
    mine: list[str] = []
    theirs: list[str] = []
    bot.command("who")(lambda ctx: mine.append(ctx.text))
    other.command("who")(lambda ctx: theirs.append(ctx.text))
    try:
        with BotTestKit(fake_webex, bot=other, bot_person=other_person) as kit:
            kit.simulate_message("who")
        assert theirs == ["who"] and mine == []
    finally:
        other.disconnect()


def test_a_bot_nobody_holds_stops_answering(kit: BotTestKit) -> None:
    import gc

    answered: list[str] = []
    temporary = Bot("temporary")
    temporary.command("ping")(lambda ctx: answered.append("pong"))
    del temporary
    gc.collect()
    kit.simulate_message("ping")
    assert answered == []


def test_a_card_on_someone_elses_message_does_not_reach_the_handler(
    kit: BotTestKit, bot: Bot, fake_webex: Any
) -> None:
    booked: list[dict[str, Any]] = []
    teach_booking(bot, booked)
    # Mallory posts her own message carrying a card that claims to be the bot's booking card.
    attachment, _text = bot.render_card("booking")
    space = kit.group_space()
    forged = fake_webex.post_message(kit.user, space.id, text="card", attachments=[attachment])
    action = fake_webex.submit_card(
        kit.user,
        forged["id"],
        {"webexteams_card": "booking", "room": "a", "day": "2026-12-24", "people": "2"},
    )
    data = {k: v for k, v in action.items() if k != "inputs"}
    done = kit._event("attachmentActions", data, actor_id=kit.user.id, obj=action,
                      transport="webhook")  # fmt: skip
    assert booked == [] and done.sent == []


def test_a_refused_user_cannot_submit_a_card_either(
    kit: BotTestKit, bot: Bot, fake_webex: Any
) -> None:
    booked: list[dict[str, Any]] = []

    @bot.command("book")
    def book(ctx: Any) -> None:
        ctx.say("Anyone?", card=bot.render_card("booking")[0])

    bot.on_card_submit("booking", form=Booking, allow=Access(domains=["example.com"]))(
        lambda ctx: booked.append(ctx.cleaned_data)
    )
    [card] = kit.simulate_message("book", space="group").sent
    guest = fake_webex.add_person("guest@partner.org", "Guest")
    fake_webex.add_member(kit.user, card.room_id, guest)
    done = kit.simulate_card_submit(
        card, {"room": "a", "day": "2026-12-24", "people": "2"}, sender=guest
    )
    assert [s.text for s in done.sent] == ["Sorry, you are not allowed to use this form."]
    assert booked == []


def test_answer_keys_fit_the_outbox_column() -> None:
    long = Bot("x" * 300, connect=False)
    key = long.answer_key("Y2lz" * 40)
    assert len(key) <= 255 and key != long.answer_key("Y2lz" * 40, 2)
    assert Bot("ops", connect=False).answer_key("M1") == "webexteams.bot:ops:M1:1"


def test_a_restarted_fake_under_a_warm_cache_neither_loops_nor_breaks_cards(
    bot: Bot, settings: Any, db: None
) -> None:
    """Issue 15 for the toolkit: the fake restarted (same token, new person ids) while the
    cache still holds the bot's old person id, as after a first ``make demo``. The bot still
    recognises its own card (a second demo run refused it as "not that card") and still
    ignores its own messages: the cached id is checked again against ``createdBy``."""
    from django.core.cache import caches

    from django_webexteams.testing import FakeWebex

    caches["default"].clear()
    booked: list[dict[str, Any]] = []
    teach_booking(bot, booked)
    heard: list[Any] = []
    bot.hears("^I said")(heard.append)
    token = "issue15-toolkit-bot-token"
    ids = []
    for _run in range(2):
        with FakeWebex() as fake:
            person = fake.add_bot("Test Bot", token=token)
            ids.append(person.id)
            with BotTestKit(fake, bot=bot, bot_person=person) as kit:
                [card] = kit.simulate_message("book", space="group").sent
                done = kit.simulate_card_submit(
                    card, {"room": "b", "day": "2026-12-24", "people": "3"}
                )
                assert [s.text for s in done.sent] == ["Booked b on 24 Dec"]
                settings.WEBEXTEAMS = {
                    **settings.WEBEXTEAMS,
                    "WEBHOOK_DISPATCH_OWN_EVENTS": True,
                }
                space = kit.group_space()
                own = fake.post_message(person, space.id, text="I said this")
                data = {k: own[k] for k in ("id", "roomId", "roomType", "personId", "personEmail")}
                kit._event("messages", data, actor_id=person.id, obj=own, transport="webhook")
                assert heard == []
    assert ids[0] != ids[1] and len(booked) == 2
