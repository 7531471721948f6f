"""Reading a message as a command: the bot's mention removed, then the words split.

Webex puts a mention in three places (https://developer.webex.com/docs/bots, "Differences
Between Bot Accounts and User Accounts"): ``mentionedPeople`` holds the bot's id, ``html``
holds ``<spark-mention data-object-id="...">Name</spark-mention>``, and ``text`` holds the
mention's shown name - the bot's display name, or whatever part of it the person kept
(clients let people shorten a mention to the first name). The shown name is taken from the
``html`` so that a shortened mention is stripped too, and only the *bot's* mention is
removed: another person mentioned in the command is an argument.
"""

from __future__ import annotations

import html as html_lib
import re
import shlex
from collections.abc import Iterable

__all__ = ["CommandLine", "mention_names", "split_command", "strip_mentions"]

_MENTION = re.compile(
    r"<spark-mention\b(?P<attrs>[^>]*)>(?P<name>.*?)</spark-mention>", re.S | re.I
)
_OBJECT_ID = re.compile(r"""data-object-id\s*=\s*(["'])(?P<id>.*?)\1""", re.I)
_TAG = re.compile(r"<[^>]+>")

# Webex clients (macOS and iOS in particular) may turn typed quotes into typographic ones;
# a person who typed deploy "web app" expects one argument.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def mention_names(html: str | None, person_id: str) -> list[str]:
    """The shown names of every mention of ``person_id`` in a message's ``html``."""
    if not html or not person_id:
        return []
    names = []
    for match in _MENTION.finditer(html):
        found = _OBJECT_ID.search(match.group("attrs"))
        if found and html_lib.unescape(found.group("id")) == person_id:
            name = html_lib.unescape(_TAG.sub("", match.group("name"))).strip()
            if name:
                names.append(name)
    return names


def strip_mentions(text: str, names: Iterable[str]) -> str:
    """``text`` without the first occurrence of each mention name, whitespace collapsed at
    the seams. A name that does not occur is skipped (the text is never guessed at)."""
    for name in names:
        at = text.find(name)
        if at >= 0:
            text = text[:at].rstrip() + " " + text[at + len(name) :].lstrip()
    return text.strip()


class CommandLine:
    """A message split into a command name and its arguments.

    ``name`` is the first word, lower-cased, without a leading ``/`` (``"/Deploy"`` ->
    ``"deploy"``); ``rest`` is what follows it, verbatim; ``args`` is ``rest`` split like a
    shell would (``deploy "web app" prod`` -> ``["web app", "prod"]``). ``error`` is set when
    ``rest`` cannot be split (an unclosed quote); ``args`` is then ``rest.split()``.
    """

    __slots__ = ("args", "error", "name", "rest")

    def __init__(self, name: str, rest: str, args: list[str], error: str | None) -> None:
        self.name, self.rest, self.args, self.error = name, rest, args, error

    def __repr__(self) -> str:
        return f"CommandLine(name={self.name!r}, args={self.args!r})"


def split_command(text: str) -> CommandLine:
    """Split ``text`` (the mention already stripped) into a :class:`CommandLine`."""
    text = text.strip()
    head, _, rest = text.partition(" ")
    if "\n" in head:  # "deploy\nweb": a newline separates words too
        head, _, more = head.partition("\n")
        rest = (more + " " + rest).strip()
    name = head.lstrip("/").lower()
    rest = rest.strip()
    error = None
    try:
        lexer = shlex.shlex(rest.translate(_QUOTES), posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""  # "#42" is an argument, not a comment
        args = list(lexer)
    except ValueError as exc:
        error = str(exc)
        args = rest.split()
    return CommandLine(name, rest, args, error)
