"""Lazy pagination: RFC 8288 Link parsing, Webex's next-link faults, pages() API, flat memory."""

from __future__ import annotations

import gc
import weakref
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from django_webexteams.client import MalformedResponseError, Page, WebexClient
from django_webexteams.client.pagination import next_link, parse_link_header, reapply_params

from .conftest import BASE_URL


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://x/v1/rooms?max=2&cursor=a>; rel="next"', "https://x/v1/rooms?max=2&cursor=a"),
        ("<https://x/next>; rel=next", "https://x/next"),
        ('<https://x/prev>; rel="prev", <https://x/next>; rel="next"', "https://x/next"),
        ('<https://x/a,b;c>; rel="next"', "https://x/a,b;c"),  # , and ; inside <>
        ('<https://x/n>; rel="first next"', "https://x/n"),  # several relation types
        ('<https://x/n>;REL="NEXT"', "https://x/n"),  # case-insensitive
        ('<https://x/n>; title="a, b; c"; rel="next"', "https://x/n"),  # quoted , and ;
        ('<https://x/n>; title="say \\"hi\\""; rel=next', "https://x/n"),  # escapes
        ('<https://x/p>; rel="prev"', None),
        ('<https://x/n>; rel="nextpage"', None),
        ("", None),
        (None, None),
        ("garbage", None),
        ('<https://x/unterminated; rel="next"', None),
    ],
)
def test_next_link(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


def test_parse_link_header_keeps_first_param_occurrence() -> None:
    links = parse_link_header('<a>; rel="next"; rel="prev"; anchor="#x", <b>; rel=prev')
    assert links == [("a", {"rel": "next", "anchor": "#x"}), ("b", {"rel": "prev"})]


def test_reapply_params_restores_dropped_filters_and_max_null() -> None:
    url = reapply_params(
        "https://x/v1/messages?max=null&cursor=abc",
        {"roomId": "R", "mentionedPeople": "me", "max": 50},
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {"max": ["50"], "cursor": ["abc"], "roomId": ["R"], "mentionedPeople": ["me"]}


def test_reapply_params_drops_max_null_without_original_and_keeps_link_values() -> None:
    url = reapply_params("https://x/v1/rooms?max=null&type=direct", {"type": "group"})
    assert parse_qs(urlsplit(url).query) == {"type": ["direct"]}


def _page(
    rsps: responses.RequestsMock,
    url: str,
    ids: list[str],
    next_url: str | None = None,
    tid: str = "T",
) -> None:
    headers = {"TrackingID": tid}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    rsps.get(
        url,
        json={"items": [{"id": i} for i in ids]},
        headers=headers,
        match=[responses.matchers.query_string_matcher(urlsplit(url).query)],
    )


def test_list_is_lazy_and_follows_next_links(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    _page(
        rsps,
        f"{BASE_URL}/rooms?type=group&max=2",
        ["a", "b"],
        f"{BASE_URL}/rooms?type=group&max=2&cursor=c1",
    )
    _page(rsps, f"{BASE_URL}/rooms?type=group&max=2&cursor=c1", ["c"])
    rooms = client.rooms.list(type="group", max=2)
    assert len(rsps.calls) == 0  # nothing until iterated
    it = iter(rooms)
    assert next(it).id == "a"
    assert len(rsps.calls) == 1
    assert [r.id for r in it] == ["b", "c"]
    assert len(rsps.calls) == 2
    assert [r.id for r in rooms] == ["a", "b", "c"]  # iterating again starts over


def test_next_link_that_drops_filters_gets_them_back(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    # Webex fault: the next link lost mentionedPeople (bots then get 403) and says max=null.
    _page(
        rsps,
        f"{BASE_URL}/messages?roomId=R&mentionedPeople=me&max=1",
        ["m1"],
        f"{BASE_URL}/messages?max=null&beforeMessage=m1",
    )
    _page(rsps, f"{BASE_URL}/messages?max=1&beforeMessage=m1&roomId=R&mentionedPeople=me", ["m2"])
    assert [m.id for m in client.messages.list("R", mentioned_people="me", max=1)] == ["m1", "m2"]


def test_pages_api(client: WebexClient, rsps: responses.RequestsMock) -> None:
    _page(rsps, f"{BASE_URL}/teams?max=2", ["a", "b"], f"{BASE_URL}/teams?max=2&cursor=2", tid="T1")
    _page(
        rsps, f"{BASE_URL}/teams?max=2&cursor=2", [], f"{BASE_URL}/teams?max=2&cursor=3", tid="T2"
    )  # a next link may lead to an empty page
    _page(rsps, f"{BASE_URL}/teams?max=2&cursor=3", ["c"], tid="T3")
    pages = list(client.teams.list(max=2).pages())
    assert [[t.id for t in p.items] for p in pages] == [["a", "b"], [], ["c"]]
    assert [p.has_next for p in pages] == [True, True, False]
    assert [p.tracking_id for p in pages] == ["T1", "T2", "T3"]
    assert pages[-1].next() is None
    second = pages[0].next()
    assert isinstance(second, Page) and second.items == [] and second.tracking_id == "T2"


def test_first_page_and_first(client: WebexClient, rsps: responses.RequestsMock) -> None:
    _page(rsps, f"{BASE_URL}/roles", ["r1", "r2"], f"{BASE_URL}/roles?cursor=x")
    page = client.roles.list().first_page()
    assert page.has_next and len(page) == 2
    first = client.roles.list().first()
    assert first is not None and first.id == "r1"
    assert len(rsps.calls) == 2  # never followed the next link


def test_relative_next_link_is_resolved(client: WebexClient, rsps: responses.RequestsMock) -> None:
    _page(rsps, f"{BASE_URL}/webhooks", ["w1"], "/v1/webhooks?cursor=z")
    _page(rsps, f"{BASE_URL}/webhooks?cursor=z", ["w2"])
    assert [w.id for w in client.webhooks.list()] == ["w1", "w2"]


def test_next_link_to_another_host_is_refused(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    _page(rsps, f"{BASE_URL}/rooms", ["a"], "https://evil.example/v1/rooms?cursor=1")
    with pytest.raises(ValueError, match=r"evil\.example"):
        list(client.rooms.list())
    assert len(rsps.calls) == 1  # the token never went to evil.example


def test_list_without_items_is_malformed(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{BASE_URL}/rooms", json={"rooms": []}, headers={"TrackingID": "ROUTER_9"})
    with pytest.raises(MalformedResponseError) as info:
        list(client.rooms.list())
    assert "ROUTER_9" in str(info.value) and "200" in str(info.value)


def test_memory_stays_flat(client: WebexClient, rsps: responses.RequestsMock) -> None:
    """Pages already consumed are not kept alive by the iterator."""
    n = 6
    for i in range(n):
        nxt = f"{BASE_URL}/events?cursor={i + 1}" if i < n - 1 else None
        url = f"{BASE_URL}/events" + (f"?cursor={i}" if i else "")
        _page(rsps, url, [f"e{i}-{j}" for j in range(50)], nxt)
    refs: list[weakref.ref[Page[Any]]] = []
    count = 0
    for page in client.events.list().pages():
        refs.append(weakref.ref(page))
        count += len(page.items)
        del page
        gc.collect()
        alive = sum(1 for r in refs if r() is not None)
        assert alive == 1, f"{alive} pages kept alive"
    assert count == n * 50


def test_next_link_to_the_same_page_stops(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    _page(rsps, f"{BASE_URL}/rooms?max=2", ["a"], f"{BASE_URL}/rooms?max=2")
    assert [r.id for r in client.rooms.list(max=2)] == ["a"]
    assert len(rsps.calls) == 1
