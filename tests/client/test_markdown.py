"""MarkdownBuilder: escaping, formatting, blocks, mentions."""

from __future__ import annotations

import pytest

from django_webexteams.client import MarkdownBuilder
from django_webexteams.client.markdown import escape


def md() -> MarkdownBuilder:
    return MarkdownBuilder()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ("**not bold**", r"\*\*not bold\*\*"),
        ("_x_ `y` [z](u)", r"\_x\_ \`y\` \[z\]\(u\)"),
        ("<@all>", r"\<@all\>"),
        ("# not a heading", r"\# not a heading"),
        ("1. not a list", r"1\. not a list"),
        ("- nor this", r"\- nor this"),
        ("back\\slash", r"back\\slash"),
        ("a & b", r"a \& b"),
    ],
)
def test_text_is_escaped(text: str, expected: str) -> None:
    assert escape(text) == expected
    assert str(md().text(text)) == expected


def test_inline_formatting() -> None:
    built = (
        md()
        .text("Build ")
        .bold("#42")
        .text(" is ")
        .italic("green")
        .text(", run ")
        .code("make test")
        .text(" or ")
        .link("https://example.com/a b(c)", "the docs")
    )
    assert built.build() == (
        r"Build **\#42** is *green*, run `make test` or "
        "[the docs](https://example.com/a%20b%28c%29)"
    )


def test_code_with_backticks() -> None:
    assert str(md().code("a`b")) == "``a`b``"
    assert str(md().code("`x`")) == "`` `x` ``"


def test_code_block_fence_is_longer_than_content() -> None:
    assert str(md().code_block("print(1)", "python")) == "```python\nprint(1)\n```"
    assert str(md().code_block("```\ninner\n```")) == "````\n```\ninner\n```\n````"
    assert str(md().code_block("x", "py; rm -rf")) == "```pyrm-rf\nx\n```"


def test_mentions() -> None:
    assert str(md().mention_person("Y2lz", "Ann Lee")) == "<@personId:Y2lz|Ann Lee>"
    assert str(md().mention_email("ann@example.com", "Ann")) == "<@personEmail:ann@example.com|Ann>"
    assert str(md().mention_email("ann@example.com")) == "<@personEmail:ann@example.com>"
    assert str(md().mention_all()) == "<@all>"
    # a name cannot close the mention early or inject another one
    assert str(md().mention_person("P", "x>|<@all")) == "<@personId:P|x   @all>"
    with pytest.raises(ValueError):
        md().mention_person("bad id>")
    with pytest.raises(ValueError):
        md().mention_email("")


def test_blocks() -> None:
    built = (
        md()
        .heading("Report", 2)
        .text("intro")
        .list(["a*", "b"])
        .ordered_list(["one", "two"])
        .quote("quoted\nlines")
        .paragraph("end.")
    )
    assert built.build() == (
        "## Report\n\nintro\n\n- a\\*\n- b\n\n1. one\n2. two\n\n> quoted\n> lines\n\nend\\."
    )


def test_nested_builders_are_not_escaped_twice() -> None:
    inner = md().bold("x").text(" y")
    assert str(md().list([inner, "z"])) == "- **x** y\n- z"
    assert str(md().quote(md().mention_all())) == "> <@all>"


def test_fluent_api_and_len() -> None:
    builder = md()
    assert builder.text("a") is builder
    assert builder.raw("**b**").newline().text("c").build() == "a**b**  \nc"
    assert len(md().text("€")) == 3  # bytes, as Webex counts them
    assert str(md()) == "" and str(md().list([])) == ""
    with pytest.raises(ValueError):
        md().heading("x", 7)
