"""Reading a message as a command: mentions stripped, words split like a shell."""

from __future__ import annotations

from django_webexteams.bot.parse import mention_names, split_command, strip_mentions

BOT = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q"
BOB = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I"


def html(*parts: str) -> str:
    return "<p>" + "".join(parts) + "</p>"


def mention(person_id: str, name: str) -> str:
    attrs = f'data-object-type="person" data-object-id="{person_id}"'
    return f"<spark-mention {attrs}>{name}</spark-mention>"


def test_only_the_bots_mention_is_stripped_wherever_it_is() -> None:
    page = html(mention(BOT, "Echo"), " page ", mention(BOB, "Bob"), " now")
    names = mention_names(page, BOT)
    assert names == ["Echo"]
    assert strip_mentions("Echo page Bob now", names) == "page Bob now"
    assert strip_mentions("hello Echo Bot", mention_names(html(mention(BOT, "Echo Bot")), BOT)) == (
        "hello"
    )
    # No mention in the html (a 1:1 message): the text is left alone, even if it has the name.
    assert strip_mentions("Echo is my name", mention_names(html("Echo is my name"), BOT)) == (
        "Echo is my name"
    )
    assert mention_names(None, BOT) == [] and mention_names(page, "") == []


def test_escaped_names_and_ids_in_html_are_read_as_text() -> None:
    page = html(mention(BOT, "R&amp;D Bot"), " status")
    assert strip_mentions("R&D Bot status", mention_names(page, BOT)) == "status"


def test_commands_split_like_a_shell() -> None:
    line = split_command('  /Deploy "web app" prod  #42 ')
    assert (line.name, line.args, line.rest) == (
        "deploy",
        ["web app", "prod", "#42"],
        '"web app" prod  #42',
    )
    assert split_command("deploy \u201cweb app\u201d").args == ["web app"]  # typographic quotes
    assert split_command("it\u2019s fine").name == "it\u2019s"
    assert split_command("deploy\nweb").args == ["web"]
    broken = split_command('deploy "web')
    assert broken.error == "No closing quotation" and broken.args == ['"web']
    assert split_command("").name == ""
