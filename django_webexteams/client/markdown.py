"""A fluent builder for Webex Markdown, with mentions.

    str(MarkdownBuilder().text("Hi ").mention_person(pid, "Ann").text(", build ")
        .bold("#42").text(" passed.").list(["unit", "e2e"]))

``text()`` escapes (CommonMark backslash escapes for ASCII punctuation), everything else
formats. Webex mention syntax: ``<@personId:ID|Name>``, ``<@personEmail:EMAIL|Name>``,
``<@all>`` (group spaces only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MarkdownBuilder", "escape"]

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")
_MENTION_ID = re.compile(r"^[^\s<>|]+$")


def escape(text: str) -> str:
    """Escape text so that Webex shows it literally (no formatting, no mention, no link)."""
    return _SPECIAL.sub(r"\\\1", str(text))


def _label(name: str) -> str:
    # Inside <@...|Name> a '>' would end the mention and '|' is the separator.
    return re.sub(r"[<>|\r\n]", " ", name).strip()


def _fence(content: str, char: str = "`", minimum: int = 1) -> str:
    runs = [len(m) for m in re.findall(re.escape(char) + "+", content)]
    return char * max(minimum, (max(runs) + 1) if runs else minimum)


class MarkdownBuilder:
    """Builds a Markdown string piece by piece; every method returns the builder.
    ``build()`` / ``str()`` give the result."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def __str__(self) -> str:
        return self.build()

    def __repr__(self) -> str:
        return f"MarkdownBuilder({self.build()!r})"

    def build(self) -> str:
        """The Markdown text (trailing newlines removed)."""
        return "".join(self._parts).rstrip("\n")

    def __len__(self) -> int:
        return len(self.build().encode("utf-8"))

    # -- inline ------------------------------------------------------------------------
    def text(self, text: str) -> MarkdownBuilder:
        """Plain text, escaped."""
        self._parts.append(escape(text))
        return self

    def raw(self, markdown: str) -> MarkdownBuilder:
        """Markdown as-is (not escaped): only for trusted input."""
        self._parts.append(str(markdown))
        return self

    def bold(self, text: str) -> MarkdownBuilder:
        self._parts.append(f"**{escape(text)}**")
        return self

    def italic(self, text: str) -> MarkdownBuilder:
        self._parts.append(f"*{escape(text)}*")
        return self

    def code(self, text: str) -> MarkdownBuilder:
        """Inline code; backticks inside are handled with a longer fence."""
        text = str(text)
        fence = _fence(text)
        pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
        self._parts.append(f"{fence}{pad}{text}{pad}{fence}")
        return self

    def link(self, url: str, label: str | None = None) -> MarkdownBuilder:
        """``[label](url)``; spaces, parentheses and angle brackets in the URL are
        percent-encoded so they cannot end the link."""
        safe_url = quote(str(url), safe=":/?#[]@!$&'*+,;=%~-._")
        safe_url = safe_url.replace("(", "%28").replace(")", "%29")
        self._parts.append(f"[{escape(label if label is not None else url)}]({safe_url})")
        return self

    def mention_person(self, person_id: str, name: str | None = None) -> MarkdownBuilder:
        """``<@personId:ID|Name>``."""
        self._parts.append(self._mention("personId", person_id, name))
        return self

    def mention_email(self, email: str, name: str | None = None) -> MarkdownBuilder:
        """``<@personEmail:EMAIL|Name>``."""
        self._parts.append(self._mention("personEmail", email, name))
        return self

    def mention_all(self) -> MarkdownBuilder:
        """``<@all>``: notifies everyone in a group space."""
        self._parts.append("<@all>")
        return self

    @staticmethod
    def _mention(kind: str, value: str, name: str | None) -> str:
        if not isinstance(value, str) or not _MENTION_ID.match(value):
            raise ValueError(f"invalid {kind} for a mention: {value!r}")
        label = _label(name) if name else ""
        return f"<@{kind}:{value}|{label}>" if label else f"<@{kind}:{value}>"

    def newline(self) -> MarkdownBuilder:
        """A hard line break."""
        self._parts.append("  \n")
        return self

    line_break = newline

    # -- blocks ------------------------------------------------------------------------
    def _block(self, block: str) -> MarkdownBuilder:
        current = "".join(self._parts)
        if current and not current.endswith("\n\n"):
            self._parts.append("\n\n" if not current.endswith("\n") else "\n")
        self._parts.append(block.rstrip("\n") + "\n\n")
        return self

    def paragraph(self, text: str) -> MarkdownBuilder:
        """An escaped paragraph of its own."""
        return self._block(escape(text))

    def heading(self, text: str, level: int = 1) -> MarkdownBuilder:
        if not 1 <= level <= 6:
            raise ValueError("heading level must be 1..6")
        return self._block(f"{'#' * level} {escape(text)}")

    def code_block(self, code: str, language: str | None = None) -> MarkdownBuilder:
        """A fenced code block; the fence is longer than any backtick run inside."""
        code = str(code)
        fence = _fence(code, minimum=3)
        lang = re.sub(r"[^\w+-]", "", language or "")
        return self._block(f"{fence}{lang}\n{code.rstrip(chr(10))}\n{fence}")

    def quote(self, text: str | MarkdownBuilder) -> MarkdownBuilder:
        """A block quote (``> ``). A :class:`MarkdownBuilder` is embedded unescaped."""
        content = text.build() if isinstance(text, MarkdownBuilder) else escape(text)
        return self._block("\n".join(f"> {line}".rstrip() for line in content.split("\n")))

    blockquote = quote

    def list(
        self, items: Iterable[str | MarkdownBuilder], ordered: bool = False
    ) -> MarkdownBuilder:
        """A bulleted (``- ``) or numbered (``1. ``) list. Strings are escaped; builders are
        embedded as they are."""
        lines = []
        for number, item in enumerate(items, start=1):
            content = item.build() if isinstance(item, MarkdownBuilder) else escape(item)
            marker = f"{number}. " if ordered else "- "
            indent = " " * len(marker)
            lines.append(marker + content.replace("\n", "\n" + indent))
        if not lines:
            return self
        return self._block("\n".join(lines))

    def bullet_list(self, items: Iterable[str | MarkdownBuilder]) -> MarkdownBuilder:
        return self.list(items, ordered=False)

    unordered_list = bullet_list

    def ordered_list(self, items: Iterable[str | MarkdownBuilder]) -> MarkdownBuilder:
        return self.list(items, ordered=True)
