"""The fake's responses validate against the official OpenAPI response schemas, for every
operation it serves (parametrized), and it serves every in-scope operation of the specs.

Strictness: objects defined as component schemas get ``additionalProperties: false`` so the
fake cannot invent fields; the few fields the service really sends but the spec's schema
lacks are allow-listed below, each with its reason. Error bodies validate against the admin
spec's ``Error`` schema with message, errors and trackingId required.

The specs are read from ../shared/webex-openapi/ (or WEBEX_OPENAPI_DIR) when present, else
from the committed subset (openapi_subset.py), which a test keeps in sync with the specs.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from django_webexteams.testing import FakeWebex
from django_webexteams.testing.routes import router

from .openapi_subset import ADMIN_PATHS, SUBSET_PATH, derive_all, in_scope

SPEC_DIR = Path(
    os.environ.get("WEBEX_OPENAPI_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "webex-openapi"
)
HAVE_FULL_SPECS = (SPEC_DIR / "webex-messaging.json").exists()

# Fields the service sends that the schema omits. Each entry says why it is allowed.
EXTRA_FIELDS: dict[str, set[str]] = {
    # webex-openapi/SOURCE.md: webhook responses also carry orgId, createdBy, appId.
    "Webhook": {"orgId", "createdBy", "appId"},
    # The Create Message operation's own example has parentId and html.
    "Message": {"parentId", "html"},
    # Direct messages are messages: the list carries the same fields as ListMessage.
    "DirectMessage": {
        "parentId",
        "html",
        "mentionedPeople",
        "mentionedGroups",
        "attachments",
        "updated",
    },
    # Teams carry their creator like rooms do (creatorId), as the service sends it.
    "Team": {"creatorId"},
}
# SOURCE.md: the Attachment schema describes a file while the example is an adaptive card.
ATTACHMENT_SCHEMA = {
    "type": "object",
    "required": ["contentType", "content"],
    "properties": {
        "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
        "content": {"type": "object"},
    },
    "additionalProperties": False,
}
# SOURCE.md: attachment-action create is listed as 202 where the service answers 200.
STATUS_ALIASES = {("post", "/attachment/actions"): {200: "202"}}


@functools.cache
def _load_cached(name: str) -> str:
    if HAVE_FULL_SPECS:
        return (SPEC_DIR / name).read_text()
    return json.dumps(json.loads(SUBSET_PATH.read_text())[name])


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_load_cached(name))
    return data


@pytest.mark.skipif(not HAVE_FULL_SPECS, reason=f"full OpenAPI specs not in {SPEC_DIR}")
def test_committed_subset_matches_the_specs() -> None:
    committed = json.loads(SUBSET_PATH.read_text())
    assert committed == json.loads(json.dumps(derive_all(SPEC_DIR))), (
        "regenerate with: python -m tests.testing.openapi_subset"
    )


def _to_json_schema(spec: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """Inline $refs (one spec), turn ``nullable`` into a null type, and make component
    objects strict."""
    if isinstance(node, list):
        return [_to_json_schema(spec, x, seen) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1]
        if name == "Attachment":
            return ATTACHMENT_SCHEMA
        if name in seen:
            return {}
        target = spec
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        out = _to_json_schema(spec, copy.deepcopy(target), (*seen, name))
        if name == "Webhook":
            # WEBEX-FACTS.md / the Create Webhook docs: resource and event may be "all",
            # which the response schema's enums forget.
            for field in ("resource", "event"):
                out["properties"][field]["enum"].append("all")
        if isinstance(out, dict) and out.get("type") == "object" and "properties" in out:
            allowed = set(out["properties"]) | EXTRA_FIELDS.get(name, set())
            out["propertyNames"] = {"enum": sorted(allowed)}
        return out
    out = {k: _to_json_schema(spec, v, seen) for k, v in node.items() if k not in ("example",)}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _operations() -> list[tuple[str, str, str]]:
    ops = []
    for spec_name in ("webex-messaging.json", "webex-admin.json"):
        for path, item in _load(spec_name)["paths"].items():
            ops += [(spec_name, m, path) for m in item if in_scope(spec_name, m, path)]
    return ops


OPERATIONS = _operations()


def _norm(path: str) -> str:
    return re.sub(r"\{\w+\}", "{}", path)


def test_fake_serves_exactly_the_in_scope_operations() -> None:
    # 46 messaging + 6 admin reads + 2 admin writes the client covers (DELETE
    # /organizations/{orgId}, PATCH /licenses/users); out-of-scope paths excluded.
    assert len(OPERATIONS) == 54
    assert {p for s, _, p in OPERATIONS if s == "webex-admin.json"} == ADMIN_PATHS
    spec_ops = {(m.upper(), _norm(p)) for _, m, p in OPERATIONS}
    served = {(r.method, _norm(r.spec_path)) for r in router.routes if r.spec_path}
    assert spec_ops - served == set(), "operations in the spec the fake does not serve"
    assert served - spec_ops == set(), "routes the fake serves that the spec does not have"


# --- a world with one of everything -------------------------------------------------------
class World:
    def __init__(self, fake: FakeWebex) -> None:
        self.fake = fake
        self.alice = fake.add_admin("alice@example.com", "Alice Admin")
        self.bob = fake.add_person("bob@example.com", "Bob Example")
        self.room = fake.create_room(self.alice, "Spec room", members=[self.bob])
        self.msg = fake.post_message(self.alice, self.room.id, markdown="**hello** there")
        self.reply = fake.post_message(self.bob, self.room.id, text="re", parent_id=self.msg.id)
        self.card = fake.post_message(
            self.alice,
            self.room.id,
            text="card",
            attachments=[
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {"type": "AdaptiveCard", "version": "1.2", "body": []},
                }
            ],
        )
        self.action = fake.submit_card(self.bob, self.card.id, {"a": "1"})
        self.direct = fake.post_message(self.alice, to_person=self.bob, text="psst")
        self.team = fake.create_team(self.alice, "Spec team", members=[self.bob])
        self.hook = fake.create_webhook(self.alice, "h", "http://127.0.0.1:9/", "rooms", "all")
        self.tab = fake.call(
            self.alice,
            "POST",
            "/room/tabs",
            {"roomId": self.room.id, "contentUrl": "https://example.com", "displayName": "T"},
        )
        self.event = fake.call(self.alice, "GET", "/events")["items"][0]
        self.license = fake.license_id("Messaging")
        self.role = fake.role_id("Full Administrator")
        self.customer_org = fake.add_org("Spec customer")

    def membership(self, person: Any) -> str:
        items = self.fake.call(self.alice, "GET", "/memberships", params={"roomId": self.room.id})
        return str(next(m["id"] for m in items["items"] if m["personId"] == person.id))

    def team_membership(self, person: Any) -> str:
        items = self.fake.call(
            self.alice, "GET", "/team/memberships", params={"teamId": self.team.id}
        )
        return str(next(m["id"] for m in items["items"] if m["personId"] == person.id))


def _request(w: World, method: str, path: str) -> tuple[str, str, dict[str, Any]]:
    """(method, concrete path, requests kwargs) for an operation."""
    room, team = w.room.id, w.team.id
    calls: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        ("post", "/attachment/actions"): (
            "/attachment/actions",
            {"json": {"type": "submit", "messageId": w.card.id, "inputs": {"b": "2"}}},
        ),
        ("get", "/attachment/actions/{id}"): (f"/attachment/actions/{w.action.id}", {}),
        ("get", "/events"): ("/events", {"params": {"max": 2}}),
        ("get", "/events/{eventId}"): (f"/events/{w.event['id']}", {}),
        ("get", "/memberships"): ("/memberships", {"params": {"roomId": room}}),
        ("post", "/memberships"): (
            "/memberships",
            {"json": {"roomId": room, "personEmail": "carol@example.com"}},
        ),
        ("get", "/memberships/{membershipId}"): (f"/memberships/{w.membership(w.bob)}", {}),
        ("put", "/memberships/{membershipId}"): (
            f"/memberships/{w.membership(w.bob)}",
            {"json": {"isModerator": True}},
        ),
        ("delete", "/memberships/{membershipId}"): (f"/memberships/{w.membership(w.bob)}", {}),
        ("get", "/messages"): ("/messages", {"params": {"roomId": room, "max": 2}}),
        ("post", "/messages"): ("/messages", {"json": {"roomId": room, "markdown": "*x*"}}),
        ("get", "/messages/direct"): ("/messages/direct", {"params": {"personId": w.bob.id}}),
        ("put", "/messages/{messageId}"): (
            f"/messages/{w.msg.id}",
            {"json": {"roomId": room, "markdown": "**edited**"}},
        ),
        ("get", "/messages/{messageId}"): (f"/messages/{w.card.id}", {}),
        ("delete", "/messages/{messageId}"): (f"/messages/{w.msg.id}", {}),
        ("get", "/people"): ("/people", {"params": {"id": f"{w.bob.id},nope"}}),
        ("post", "/people"): (
            "/people",
            {
                "json": {
                    "emails": ["dave@example.com"],
                    "displayName": "Dave",
                    "licenses": [w.license],
                }
            },
        ),
        ("get", "/people/{personId}"): (f"/people/{w.bob.id}", {}),
        ("put", "/people/{personId}"): (
            f"/people/{w.bob.id}",
            {"json": {"displayName": "Bobby", "roles": [w.role]}},
        ),
        ("delete", "/people/{personId}"): (f"/people/{w.bob.id}", {}),
        ("get", "/people/me"): ("/people/me", {}),
        ("get", "/room/tabs"): ("/room/tabs", {"params": {"roomId": room}}),
        ("post", "/room/tabs"): (
            "/room/tabs",
            {"json": {"roomId": room, "contentUrl": "https://example.org", "displayName": "U"}},
        ),
        ("get", "/room/tabs/{id}"): (f"/room/tabs/{w.tab['id']}", {}),
        ("put", "/room/tabs/{id}"): (
            f"/room/tabs/{w.tab['id']}",
            {"json": {"roomId": room, "contentUrl": "https://example.net", "displayName": "V"}},
        ),
        ("delete", "/room/tabs/{id}"): (f"/room/tabs/{w.tab['id']}", {}),
        ("get", "/rooms"): ("/rooms", {"params": {"sortBy": "lastactivity"}}),
        ("post", "/rooms"): ("/rooms", {"json": {"title": "New", "teamId": team}}),
        ("get", "/rooms/{roomId}"): (f"/rooms/{room}", {}),
        ("put", "/rooms/{roomId}"): (f"/rooms/{room}", {"json": {"title": "Renamed"}}),
        ("delete", "/rooms/{roomId}"): (f"/rooms/{room}", {}),
        ("get", "/team/memberships"): ("/team/memberships", {"params": {"teamId": team}}),
        ("post", "/team/memberships"): (
            "/team/memberships",
            {"json": {"teamId": team, "personEmail": "erin@example.com", "isModerator": False}},
        ),
        ("get", "/team/memberships/{membershipId}"): (
            f"/team/memberships/{w.team_membership(w.bob)}",
            {},
        ),
        ("put", "/team/memberships/{membershipId}"): (
            f"/team/memberships/{w.team_membership(w.bob)}",
            {"json": {"isModerator": True}},
        ),
        ("delete", "/team/memberships/{membershipId}"): (
            f"/team/memberships/{w.team_membership(w.bob)}",
            {},
        ),
        ("get", "/teams"): ("/teams", {}),
        ("post", "/teams"): ("/teams", {"json": {"name": "Another", "description": "d"}}),
        ("get", "/teams/{teamId}"): (f"/teams/{team}", {}),
        ("put", "/teams/{teamId}"): (f"/teams/{team}", {"json": {"name": "Renamed team"}}),
        ("delete", "/teams/{teamId}"): (f"/teams/{team}", {}),
        ("get", "/webhooks"): ("/webhooks", {}),
        ("post", "/webhooks"): (
            "/webhooks",
            {
                "json": {
                    "name": "n",
                    "targetUrl": "https://example.com/h",
                    "resource": "messages",
                    "event": "created",
                    "filter": f"roomId={room}",
                    "secret": "s",
                }
            },
        ),
        ("get", "/webhooks/{webhookId}"): (f"/webhooks/{w.hook.id}", {}),
        ("put", "/webhooks/{webhookId}"): (
            f"/webhooks/{w.hook.id}",
            {"json": {"name": "n2", "targetUrl": "https://example.com/h2", "status": "active"}},
        ),
        ("delete", "/webhooks/{webhookId}"): (f"/webhooks/{w.hook.id}", {}),
        ("get", "/licenses"): ("/licenses", {"params": {"orgId": w.fake.org_id}}),
        ("get", "/licenses/{licenseId}"): (f"/licenses/{w.license}", {}),
        ("get", "/organizations"): ("/organizations", {}),
        ("get", "/organizations/{orgId}"): (f"/organizations/{w.fake.org_id}", {}),
        ("delete", "/organizations/{orgId}"): (f"/organizations/{w.customer_org}", {}),
        ("patch", "/licenses/users"): (
            "/licenses/users",
            {
                "json": {
                    "personId": w.bob.id,
                    "orgId": w.fake.org_id,
                    "licenses": [
                        {"id": w.fake.license_id("Advanced Messaging"), "operation": "add"}
                    ],
                    "siteUrls": [{"siteUrl": "fakeorg.webex.com", "accountType": "attendee"}],
                }
            },
        ),
        ("get", "/roles"): ("/roles", {}),
        ("get", "/roles/{roleId}"): (f"/roles/{w.role}", {}),
    }
    by_shape = {(m, _norm(p)): v for (m, p), v in calls.items()}
    concrete, kwargs = by_shape[(method, _norm(path))]
    return method, concrete, kwargs


def _response_schema(spec: dict[str, Any], method: str, path: str, status: int) -> Any:
    responses = spec["paths"][path][method]["responses"]
    code = STATUS_ALIASES.get((method, path), {}).get(status, str(status))
    assert code in responses, f"{method.upper()} {path} answered {status}, not in the spec"
    content = responses[code].get("content", {}).get("application/json")
    if content is None:
        return None
    return _to_json_schema(spec, content["schema"])


@pytest.mark.parametrize(
    ("spec_name", "method", "path"),
    OPERATIONS,
    ids=[f"{m.upper()} {p}" for _, m, p in OPERATIONS],
)
def test_response_matches_spec_schema(
    fake_webex: Any, spec_name: Any, method: Any, path: Any
) -> None:
    spec = _load(spec_name)
    world = World(fake_webex)
    method, concrete, kwargs = _request(world, method, path)
    resp = requests.request(
        method.upper(),
        fake_webex.base_url + concrete,
        headers={"Authorization": f"Bearer {world.alice.token}"},
        timeout=10,
        **kwargs,
    )
    assert resp.status_code < 300, resp.text
    assert resp.headers["TrackingID"].startswith("ROUTER_")
    schema = _response_schema(spec, method, path, resp.status_code)
    if resp.status_code == 204:
        assert resp.content == b""
        return
    assert schema is not None
    body = resp.json()
    jsonschema.validate(body, schema)
    if "items" in body:
        assert body["items"], "validate a non-empty list"


def test_strict_schema_rejects_invented_fields() -> None:
    # The check can fail: a made-up field on a Room is refused.
    spec = _load("webex-messaging.json")
    schema = _response_schema(spec, "get", "/rooms/{roomId}", 200)
    jsonschema.validate({"id": "x", "title": "t"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "title": "t", "invented": 1}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "isLocked": "yes"}, schema)


ERROR_SCHEMA_NAME = "Error"


def _error_schema() -> Any:
    admin = _load("webex-admin.json")
    schema = _to_json_schema(admin, {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"})
    schema["required"] = ["message", "errors", "trackingId"]
    schema["properties"]["errors"]["minItems"] = 1
    schema["properties"]["errors"]["items"]["required"] = ["description"]
    return schema


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/nope", {}, 404),
        ("GET", "/rooms/bad-id", {}, 404),
        ("POST", "/rooms", {"data": "{not json"}, 400),
        ("POST", "/rooms", {"json": {}}, 400),
        ("GET", "/messages", {}, 400),
        ("PATCH", "/rooms", {}, 405),
        ("GET", "/licenses", {"as": "bob"}, 403),
    ],
)
def test_error_bodies_match_the_error_schema(
    fake_webex: Any, method: Any, path: Any, kwargs: Any, status: Any
) -> None:
    alice = fake_webex.add_admin("alice@example.com")
    bob = fake_webex.add_person("bob@example.com")
    who = bob if kwargs.pop("as", None) == "bob" else alice
    resp = requests.request(
        method,
        fake_webex.base_url + path,
        headers={"Authorization": f"Bearer {who.token}"},
        timeout=10,
        **kwargs,
    )
    assert resp.status_code == status
    jsonschema.validate(resp.json(), _error_schema())
    assert resp.json()["trackingId"] == resp.headers["TrackingID"]


def _required_fields(spec: dict[str, Any], method: str, path: str) -> list[tuple[str, str]]:
    """(where, name) of required body fields and query parameters of an operation."""
    op = spec["paths"][path][method]
    out = [
        ("query", p["name"])
        for p in op.get("parameters", [])
        if p.get("required") and p.get("in") == "query"
    ]
    body = op.get("requestBody")
    while isinstance(body, dict) and "$ref" in body:
        target: Any = spec
        for part in body["$ref"].lstrip("#/").split("/"):
            target = target[part]
        body = target
    for content in (body or {}).get("content", {}).values():
        schema = _to_json_schema(spec, content.get("schema", {}))
        out += [("json", name) for name in schema.get("required", [])]
        break
    return out


# Fields the spec marks required although Webex (and the fake) accept either one of them:
# PUT /memberships/{membershipId} updates isModerator and/or isRoomHidden.
EITHER_OR: dict[tuple[str, str], set[str]] = {
    ("put", "/memberships/{membershipId}"): {"isModerator", "isRoomHidden"},
}

REQUIRED_CASES = [
    (spec_name, method, path, where, name)
    for spec_name, method, path in OPERATIONS
    for where, name in _required_fields(_load(spec_name), method, path)
    if name not in EITHER_OR.get((method, path), set())
]
EITHER_OR_CASES = [
    (spec_name, method, path)
    for spec_name, method, path in OPERATIONS
    if (method, path) in EITHER_OR
]


@pytest.mark.parametrize(
    ("spec_name", "method", "path", "where", "name"),
    REQUIRED_CASES,
    ids=[f"{m.upper()} {p} without {n}" for _, m, p, _, n in REQUIRED_CASES],
)
def test_missing_required_field_is_400_naming_it(
    fake_webex: Any, spec_name: str, method: str, path: str, where: str, name: str
) -> None:
    world = World(fake_webex)
    method, concrete, kwargs = _request(world, method, path)
    container = kwargs.get("params" if where == "query" else "json")
    assert container is not None and name in container, f"the valid request lacks {name}"
    kwargs = copy.deepcopy(kwargs)
    del kwargs["params" if where == "query" else "json"][name]
    resp = requests.request(
        method.upper(),
        fake_webex.base_url + concrete,
        headers={"Authorization": f"Bearer {world.alice.token}"},
        timeout=10,
        **kwargs,
    )
    assert resp.status_code == 400, resp.text
    jsonschema.validate(resp.json(), _error_schema())
    assert name in resp.json()["message"]


@pytest.mark.parametrize(("spec_name", "method", "path"), EITHER_OR_CASES)
def test_either_or_fields_need_at_least_one(
    fake_webex: Any, spec_name: str, method: str, path: str
) -> None:
    world = World(fake_webex)
    method, concrete, kwargs = _request(world, method, path)
    body = copy.deepcopy(kwargs["json"])
    group = EITHER_OR[(method, path)]
    headers = {"Authorization": f"Bearer {world.alice.token}"}
    url = fake_webex.base_url + concrete
    for keep in sorted(group):
        # Each field of the group alone satisfies the requirement (the request may still be
        # refused for another reason: only the member may hide a room for themselves) ...
        alone = {k: v for k, v in body.items() if k not in group or k == keep}
        alone.setdefault(keep, False)
        resp = requests.request(method.upper(), url, headers=headers, json=alone, timeout=10)
        assert resp.status_code in (200, 403), resp.text
        assert not any(name in resp.json().get("message", "") for name in group - {keep})
    # ... and none of them is a 400 naming the group.
    none = {k: v for k, v in body.items() if k not in group}
    resp = requests.request(method.upper(), url, headers=headers, json=none, timeout=10)
    assert resp.status_code == 400, resp.text
    jsonschema.validate(resp.json(), _error_schema())
    assert any(name in resp.json()["message"] for name in group)


def _second_org_requests(fake: FakeWebex) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(spec, method, spec path, concrete path, kwargs) as the admin of a second organization,
    over what the multi-organization and fidelity features add."""
    globex = fake.add_organization("Globex")
    fake.add_person("user@globex.example", org=globex)
    fake.add_bot("Globex Bot", org=globex)
    lic = fake.license_id("Messaging", org=globex)
    admin = "webex-admin.json"
    messaging = "webex-messaging.json"
    return [
        (admin, "get", "/licenses", "/licenses", {}),
        (admin, "get", "/licenses/{licenseId}", f"/licenses/{lic}", {}),
        (
            admin,
            "get",
            "/licenses/{licenseId}",
            f"/licenses/{lic}",
            {"params": {"includeAssignedTo": "user", "limit": 1}},
        ),
        (admin, "get", "/organizations", "/organizations", {}),
        (admin, "get", "/organizations/{orgId}", f"/organizations/{globex.id}", {}),
        (messaging, "get", "/people", "/people", {"params": {"orgId": globex.id}}),
        (
            messaging,
            "post",
            "/people",
            "/people",
            {"json": {"emails": ["new@globex.example"], "orgId": globex.id}},
        ),
        (
            messaging,
            "post",
            "/webhooks",
            "/webhooks",
            {
                "json": {
                    "name": "f",
                    "targetUrl": "http://127.0.0.1:9/",
                    "resource": "memberships",
                    "event": "created",
                    "filter": "isModerator=true",
                }
            },
        ),
    ]


def test_second_organization_answers_match_spec_schema(fake_webex: FakeWebex) -> None:
    globex_requests = _second_org_requests(fake_webex)
    (globex,) = [o for o in fake_webex.state.orgs.values() if o.display_name == "Globex"]
    admin = fake_webex.add_admin("admin@globex.example", org=globex)
    checked = 0
    for spec_name, method, path, concrete, kwargs in globex_requests:
        resp = requests.request(
            method.upper(),
            fake_webex.base_url + concrete,
            headers={"Authorization": f"Bearer {admin.token}"},
            timeout=10,
            **kwargs,
        )
        assert resp.status_code < 300, (concrete, resp.text)
        schema = _response_schema(_load(spec_name), method, path, resp.status_code)
        body = resp.json()
        jsonschema.validate(body, schema)
        if kwargs.get("params", {}).get("includeAssignedTo"):
            assert len(body["users"]) == 1 and 'rel="next"' in resp.headers["Link"]
        if "items" in body:
            assert body["items"], "validate a non-empty list"
        checked += 1
    assert checked == len(globex_requests) == 8
