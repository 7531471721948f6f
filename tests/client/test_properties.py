"""Property tests: parsers of remote input never raise and stay within their contracts."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from django_webexteams.client import MarkdownBuilder, sign_body, verify_signature
from django_webexteams.client.files import parse_content_disposition, safe_filename
from django_webexteams.client.markdown import escape
from django_webexteams.client.pagination import next_link, parse_link_header, reapply_params
from django_webexteams.client.retry_after import parse_retry_after

FAST = settings(max_examples=200, deadline=None)


@FAST
@given(st.text())
def test_link_header_parser_never_raises(value: str) -> None:
    for target, params in parse_link_header(value):
        assert isinstance(target, str) and isinstance(params, dict)
    next_link(value)


@FAST
@given(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60),
    st.dictionaries(
        st.sampled_from(["roomId", "max", "mentionedPeople", "x"]),
        st.text(min_size=1, max_size=10),
        max_size=3,
    ),
)
def test_reapply_params_keeps_every_original_param(query: str, original: dict[str, str]) -> None:
    url = reapply_params(f"https://webexapis.com/v1/messages?{query}", original)
    assert url.startswith("https://webexapis.com/v1/messages")
    from urllib.parse import parse_qs, urlsplit

    keys = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for key in original:
        assert key in keys


@FAST
@given(st.one_of(st.none(), st.text(), st.binary(), st.integers(), st.floats()))
def test_retry_after_is_always_bounded(value: object) -> None:
    seconds = parse_retry_after(value)
    assert 1.0 <= seconds <= 3600.0


@FAST
@given(st.text())
def test_content_disposition_never_raises_and_safe_names_are_safe(value: str) -> None:
    name = parse_content_disposition(value)
    safe = safe_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and safe not in (".", "..")
    assert not re.search(r"[\x00-\x1f\x7f]", safe)


@FAST
@given(
    st.binary(),
    st.one_of(st.none(), st.text(), st.binary()),
    st.one_of(st.none(), st.text(), st.binary()),
)
def test_verify_signature_never_raises(body: bytes, secret: object, signature: object) -> None:
    assert verify_signature(secret, body, signature) in (True, False)  # type: ignore[arg-type]


@FAST
@given(st.binary(), st.text(min_size=1))
def test_sign_then_verify(body: bytes, secret: str) -> None:
    assert verify_signature(secret, body, sign_body(secret, body))
    assert not verify_signature(secret + "x", body, sign_body(secret, body))


@FAST
@given(st.text())
def test_escaped_text_has_no_active_markdown(text: str) -> None:
    escaped = escape(text)
    # every special character is preceded by a backslash that is itself not escaped
    unescaped = re.sub(r"\\.", "", escaped, flags=re.S)
    assert not re.search(r"[\\`*_{}\[\]()#+\-.!|<>~&]", unescaped)
    assert str(MarkdownBuilder().text(text)) == escaped.rstrip("\n")
