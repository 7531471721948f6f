"""Admin APIs (people with licenses, organizations, licenses, roles), compliance events,
teams, room tabs, memberships and moderation rules."""

from __future__ import annotations

from typing import Any

from .conftest import assert_webex_error


def test_non_admins_get_403_on_admin_endpoints(fake_webex: Any, alice: Any, api: Any) -> None:
    for path in (
        "/licenses",
        "/roles",
        "/organizations",
        "/events",
        f"/organizations/{fake_webex.org_id}",
    ):
        assert_webex_error(api(alice).get(path), 403)
    assert_webex_error(api(alice).post("/people", json={"emails": ["x@example.com"]}), 403)


def test_admin_creates_updates_deletes_people_with_licenses(
    fake_webex: Any, admin: Any, api: Any
) -> None:
    adv = fake_webex.license_id("Advanced Messaging")

    def consumed() -> int:
        return int(api(admin).get(f"/licenses/{adv}").json()["consumedUnits"])

    before = consumed()
    created = api(admin).post(
        "/people",
        json={"emails": ["new@example.com"], "displayName": "New Person", "licenses": [adv]},
    )
    assert created.status_code == 200, created.text
    person = created.json()
    assert person["licenses"] == [adv] and person["invitePending"] == "true"
    assert consumed() == before + 1
    dup = api(admin).post("/people", json={"emails": ["new@example.com"]})
    assert_webex_error(dup, 409)
    updated = (
        api(admin)
        .put(f"/people/{person['id']}", json={"displayName": "Renamed", "licenses": []})
        .json()
    )
    assert updated["displayName"] == "Renamed" and updated["licenses"] == []
    assert consumed() == before
    assert api(admin).delete(f"/people/{person['id']}").status_code == 204
    assert_webex_error(api(admin).get(f"/people/{person['id']}"), 404)


def test_license_seats_run_out(fake_webex: Any, admin: Any, api: Any) -> None:
    calling = fake_webex.license_id("Webex Calling - Professional")
    total = api(admin).get(f"/licenses/{calling}").json()["totalUnits"]
    for i in range(total):
        ok = api(admin).post(
            "/people", json={"emails": [f"u{i}@example.com"], "licenses": [calling]}
        )
        assert ok.status_code == 200
    full = api(admin).post("/people", json={"emails": ["late@example.com"], "licenses": [calling]})
    assert_webex_error(full, 400)


def test_unknown_license_is_400(fake_webex: Any, admin: Any, api: Any) -> None:
    resp = api(admin).post("/people", json={"emails": ["a@example.com"], "licenses": ["nope"]})
    assert_webex_error(resp, 400)


def test_license_names_and_units(fake_webex: Any, admin: Any, api: Any) -> None:
    items = api(admin).get("/licenses").json()["items"]
    by_name = {x["name"]: x for x in items}
    assert {"Messaging", "Advanced Messaging", "Meeting - Webex Enterprise Edition"} <= set(by_name)
    assert by_name["Messaging"]["consumedUnits"] >= 1  # the admin has one
    assert all(x["consumedUnits"] <= x["totalUnits"] for x in items)


def test_roles_only_for_admins_in_person_json(
    fake_webex: Any, admin: Any, alice: Any, api: Any
) -> None:
    as_admin = api(admin).get(f"/people/{alice.id}").json()
    as_peer = api(alice).get(f"/people/{admin.id}").json()
    assert "licenses" in as_admin and "roles" not in as_peer


def test_people_list_requires_a_filter_for_non_admins(
    fake_webex: Any, alice: Any, bob: Any, admin: Any, api: Any
) -> None:
    assert_webex_error(api(alice).get("/people"), 400)
    assert [
        p["id"] for p in api(alice).get("/people", params={"email": bob.email}).json()["items"]
    ] == [bob.id]
    assert len(api(admin).get("/people").json()["items"]) == 3
    not_found = api(alice).get("/people", params={"id": f"{bob.id},missing"}).json()
    assert not_found["notFoundIds"] == ["missing"]


def test_compliance_events_recorded(
    fake_webex: Any, admin: Any, alice: Any, bob: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Audited", members=[bob])
    msg = fake_webex.post_message(alice, room.id, text="on the record")
    api(alice).put(f"/messages/{msg.id}", json={"roomId": room.id, "text": "edited"})
    api(alice).delete(f"/messages/{msg.id}")
    events = api(admin).get("/events", params={"resource": "messages"}).json()["items"]
    assert [e["type"] for e in events] == ["deleted", "updated", "created"]
    assert events[-1]["data"]["text"] == "on the record"
    assert all(e["actorId"] == alice.id for e in events)
    memberships = api(admin).get("/events", params={"resource": "memberships"}).json()["items"]
    assert len(memberships) == 2
    one = api(admin).get(f"/events/{events[0]['id']}").json()
    assert one["id"] == events[0]["id"]


def test_teams_and_team_rooms(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    team = api(alice).post("/teams", json={"name": "Team A"}).json()
    rooms = api(alice).get("/rooms", params={"teamId": team["id"]}).json()["items"]
    assert [r["title"] for r in rooms] == ["Team A"]  # the General room
    assert_webex_error(api(bob).get(f"/teams/{team['id']}"), 404)
    api(alice).post("/team/memberships", json={"teamId": team["id"], "personId": bob.id})
    assert api(bob).get(f"/teams/{team['id']}").status_code == 200
    assert [r["id"] for r in api(bob).get("/rooms").json()["items"]] == [rooms[0]["id"]]
    # Only moderators rename.
    assert_webex_error(api(bob).put(f"/teams/{team['id']}", json={"name": "Mine"}), 403)
    assert_webex_error(api(alice).get("/team/memberships"), 400)


def test_room_tabs(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Tabs")
    tab = (
        api(alice)
        .post(
            "/room/tabs",
            json={
                "roomId": room.id,
                "displayName": "Docs",
                "contentUrl": "https://example.com/docs",
            },
        )
        .json()
    )
    assert tab["roomType"] == "group"
    assert_webex_error(api(bob).get(f"/room/tabs/{tab['id']}"), 404)
    assert [
        t["id"] for t in api(alice).get("/room/tabs", params={"roomId": room.id}).json()["items"]
    ] == [tab["id"]]
    assert api(alice).delete(f"/room/tabs/{tab['id']}").status_code == 204


def test_membership_rules(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Members", members=[bob])
    dup = api(alice).post("/memberships", json={"roomId": room.id, "personId": bob.id})
    assert_webex_error(dup, 409)
    invited = api(alice).post(
        "/memberships", json={"roomId": room.id, "personEmail": "guest@example.com"}
    )
    assert invited.status_code == 200 and invited.json()["personEmail"] == "guest@example.com"
    mine = api(bob).get("/memberships").json()["items"]
    assert [m["roomId"] for m in mine] == [room.id]


def test_locked_room_moderation(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = api(alice).post("/rooms", json={"title": "Locked", "isLocked": True}).json()
    fake_webex.add_member(alice, room["id"], bob)
    assert_webex_error(api(bob).put(f"/rooms/{room['id']}", json={"title": "x"}), 403)
    # A non-moderator "deleting" a moderated room just leaves it.
    assert api(bob).delete(f"/rooms/{room['id']}").status_code == 204
    assert api(alice).get(f"/rooms/{room['id']}").status_code == 200
    assert_webex_error(api(bob).get(f"/rooms/{room['id']}"), 404)


def test_delete_room_removes_messages(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Gone")
    msg = fake_webex.post_message(alice, room.id, text="bye")
    assert api(alice).delete(f"/rooms/{room.id}").status_code == 204
    assert_webex_error(api(alice).get(f"/messages/{msg.id}"), 404)


def test_message_threads_reply_to_reply_refused(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Threads")
    parent = fake_webex.post_message(alice, room.id, text="p")
    reply = fake_webex.post_message(alice, room.id, text="r", parent_id=parent.id)
    resp = api(alice).post(
        "/messages", json={"roomId": room.id, "text": "rr", "parentId": reply.id}
    )
    assert_webex_error(resp, 400)


def test_card_actions_visible_to_sender_and_submitter_only(
    fake_webex: Any, alice: Any, bob: Any, api: Any
) -> None:
    carol = fake_webex.add_person("carol@example.com")
    room = fake_webex.create_room(alice, "Cards", members=[bob, carol])
    card = fake_webex.post_message(
        alice,
        room.id,
        text="card",
        attachments=[
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.2"},
            }
        ],
    )
    action = fake_webex.submit_card(bob, card.id, {"answer": "42"})
    assert api(alice).get(f"/attachment/actions/{action.id}").json()["inputs"] == {"answer": "42"}
    assert_webex_error(api(carol).get(f"/attachment/actions/{action.id}"), 404)
    plain = fake_webex.post_message(alice, room.id, text="no card")
    resp = api(bob).post(
        "/attachment/actions", json={"type": "submit", "messageId": plain.id, "inputs": {}}
    )
    assert_webex_error(resp, 400)
