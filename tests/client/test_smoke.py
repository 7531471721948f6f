from __future__ import annotations

import responses

from django_webexteams.client import WebexClient

from .conftest import BASE_URL, TOKEN, body_of


def test_me_and_list_and_create(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{BASE_URL}/people/me",
        json={"id": "P1", "emails": ["a@example.com"], "created": "2015-10-18T14:26:16.000Z"},
        headers={"TrackingID": "ROUTER_1"},
    )
    me = client.people.me()
    assert me.id == "P1" and me.email == "a@example.com" and me.tracking_id == "ROUTER_1"
    assert me.created is not None and me.created.tzinfo is not None
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    rsps.get(
        f"{BASE_URL}/rooms",
        json={"items": [{"id": "R1"}]},
        headers={"Link": f'<{BASE_URL}/rooms?cursor=abc>; rel="next"'},
    )
    rsps.get(f"{BASE_URL}/rooms?cursor=abc&type=group", json={"items": [{"id": "R2"}]})
    assert [r.id for r in client.rooms.list(type="group")] == ["R1", "R2"]
    rsps.post(f"{BASE_URL}/messages", json={"id": "M1", "roomId": "R1", "text": "hi"})
    msg = client.messages.create(room_id="R1", text="hi")
    assert msg.id == "M1"
    assert body_of(rsps.calls[-1]) == {"roomId": "R1", "text": "hi"}
