"""Coverage of the official OpenAPI specs: every in-scope operation has a client method, the
method really calls that operation with parameters the spec knows, parses the spec's own
example response, and docs/client.md's generated table is up to date."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from django_webexteams.client import WebexClient, WebexObject, _spec_snapshot, docgen
from django_webexteams.client._operations import EXCLUDED, IN_SCOPE_TAGS, OPERATIONS
from django_webexteams.client._spec import find_spec_dir, read_spec_operations
from django_webexteams.client.pagination import PaginatedList

from .conftest import BASE_URL

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)
SNAPSHOT = docgen.snapshot_operations()
_SPEC_DIR = find_spec_dir()
# The official spec files when they are there (../shared/webex-openapi or $WEBEX_OPENAPI_DIR),
# else the committed snapshot derived from them (a clean clone without the specs).
SPEC_OPS = read_spec_operations(_SPEC_DIR) if _SPEC_DIR else SNAPSHOT
IN_SCOPE = [op for op in SPEC_OPS if op.tag in IN_SCOPE_TAGS]


def _resolve(client: WebexClient, dotted: str) -> Any:
    resource, method = dotted.split(".")
    return getattr(getattr(client, resource), method)


def test_snapshot_matches_the_official_specs() -> None:
    if _SPEC_DIR is None:
        pytest.skip("OpenAPI specs not available (set WEBEX_OPENAPI_DIR); snapshot used")
    assert read_spec_operations(_SPEC_DIR) == SNAPSHOT, (
        "the specs changed: run python -m django_webexteams.client.docgen --update-snapshot"
    )


def test_scope_is_what_issue_2_says() -> None:
    tags = {op.tag for op in SNAPSHOT}
    assert IN_SCOPE_TAGS <= tags, "an in-scope tag disappeared from the specs"
    assert "ECM folder linking" not in IN_SCOPE_TAGS and "HDS" not in IN_SCOPE_TAGS
    assert len(IN_SCOPE) >= 55


@pytest.mark.parametrize("op", IN_SCOPE, ids=lambda o: f"{o.method} {o.path}")
def test_every_in_scope_operation_has_a_client_method(op: Any, client: WebexClient) -> None:
    by_key = {(o.method, o.path): o.client_method for o in OPERATIONS}
    key = (op.method, op.path)
    assert key in by_key or key in EXCLUDED, f"no client method for {op.method} {op.path}"
    if key in by_key:
        assert callable(_resolve(client, by_key[key]))


def test_operations_table_has_no_stale_or_duplicate_entries() -> None:
    keys = [(o.method, o.path) for o in OPERATIONS]
    assert len(keys) == len(set(keys))
    known = {(o.method, o.path) for o in IN_SCOPE}
    assert set(keys) <= known, set(keys) - known
    assert set(EXCLUDED) <= known


def test_docs_operation_table_is_up_to_date() -> None:
    doc = docgen.DOC
    assert doc.exists(), "docs/client.md is missing"
    text = doc.read_text(encoding="utf-8")
    assert docgen.updated_document(text, docgen.render_table()) == text, (
        "docs/client.md is stale: run python -m django_webexteams.client.docgen"
    )
    assert "**MISSING**" not in text


def test_docgen_check_detects_a_stale_doc(tmp_path: Path) -> None:
    stale = tmp_path / "client.md"
    stale.write_text(f"# x\n\n{docgen.BEGIN}\nold\n{docgen.END}\n")
    assert docgen.main(["--check", "--doc", str(stale)]) == 1
    assert docgen.main(["--doc", str(stale)]) == 0
    assert docgen.main(["--check", "--doc", str(stale)]) == 0
    assert stale.read_text().startswith("# x\n")


def test_snapshot_module_renders_itself() -> None:
    source = Path(_spec_snapshot.__file__).read_text(encoding="utf-8")
    assert docgen.render_snapshot(SNAPSHOT) == source


# -- every operation, called for real against the spec's example ----------------------------
CARD = {
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {"type": "AdaptiveCard", "version": "1.0", "body": []},
}

#: client method -> (args, kwargs) of a call; ids become "ID1".
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "people.list": ((), {"email": "a@example.com", "max": 10}),
    "people.create": ((["a@example.com"],), {"display_name": "A", "org_id": "O"}),
    "people.me": ((), {}),
    "people.get": (("ID1",), {"calling_data": True}),
    "people.update": (("ID1",), {"display_name": "A", "emails": ["a@example.com"]}),
    "people.delete": (("ID1",), {}),
    "rooms.list": ((), {"type": "group", "sort_by": "lastactivity", "max": 5}),
    "rooms.create": (("Title",), {"team_id": "T"}),
    "rooms.get": (("ID1",), {}),
    "rooms.update": (("ID1",), {"title": "New"}),
    "rooms.delete": (("ID1",), {}),
    "memberships.list": ((), {"room_id": "R", "person_email": "a@example.com"}),
    "memberships.create": (("R",), {"person_email": "a@example.com", "is_moderator": True}),
    "memberships.get": (("ID1",), {}),
    "memberships.update": (("ID1",), {"is_moderator": False}),
    "memberships.delete": (("ID1",), {}),
    "messages.list": (("R",), {"mentioned_people": "me", "max": 50}),
    "messages.create": ((), {"room_id": "R", "markdown": "**x**", "attachments": [CARD]}),
    "messages.list_direct": ((), {"person_email": "a@example.com"}),
    "messages.get": (("ID1",), {}),
    "messages.edit": (("ID1", "R"), {"text": "edited"}),
    "messages.delete": (("ID1",), {}),
    "teams.list": ((), {"max": 3}),
    "teams.create": (("Squad",), {"description": "d"}),
    "teams.get": (("ID1",), {}),
    "teams.update": (("ID1",), {"name": "n"}),
    "teams.delete": (("ID1",), {}),
    "team_memberships.list": (("T",), {"max": 10}),
    "team_memberships.create": (("T",), {"person_id": "P"}),
    "team_memberships.get": (("ID1",), {}),
    "team_memberships.update": (("ID1",), {"is_moderator": True}),
    "team_memberships.delete": (("ID1",), {}),
    "webhooks.list": ((), {"owned_by": "org"}),
    "webhooks.create": (
        ("n", "https://example.com/h", "messages", "created"),
        {"filter": "roomId=R", "secret": "s3cr3t"},
    ),
    "webhooks.get": (("ID1",), {}),
    "webhooks.update": (("ID1", "n", "https://example.com/h"), {"status": "active"}),
    "webhooks.delete": (("ID1",), {}),
    "attachment_actions.create": ((), {"message_id": "M", "inputs": {"a": "b"}}),
    "attachment_actions.get": (("ID1",), {}),
    "room_tabs.list": (("R",), {}),
    "room_tabs.create": (("R", "https://example.com", "Home"), {}),
    "room_tabs.get": (("ID1",), {}),
    "room_tabs.update": (
        ("ID1",),
        {"room_id": "R", "content_url": "https://e.com", "display_name": "d"},
    ),
    "room_tabs.delete": (("ID1",), {}),
    "events.list": ((), {"resource": "messages", "type": "created", "from_": "2016-01-01"}),
    "events.get": (("ID1",), {}),
    "organizations.list": ((), {}),
    "organizations.get": (("ID1",), {}),
    "organizations.delete": (("ID1",), {}),
    "licenses.list": ((), {"org_id": "O"}),
    "licenses.get": (("ID1",), {"include_assigned_to": "user"}),
    "licenses.assign_to_user": (
        (),
        {"email": "a@example.com", "licenses": [{"id": "L", "operation": "add"}]},
    ),
    "roles.list": ((), {}),
    "roles.get": (("ID1",), {}),
}


def test_every_operation_has_a_sample_call() -> None:
    assert set(CALLS) == {o.client_method for o in OPERATIONS}


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda o: o.client_method)
def test_operation_round_trip_with_spec_example(
    op: Any, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    spec = EXAMPLES[f"{op.method} {op.path}"]
    path = re.sub(r"\{[^}]+\}", "ID1", op.path)
    example = spec["response"]
    status = 200 if spec["status"] == 202 else spec["status"]  # spec quirk, see SOURCE.md
    kwargs: dict[str, Any] = {"status": status, "headers": {"TrackingID": "ROUTER_X"}}
    if example is not None:
        kwargs["json"] = example
    rsps.add(op.method, re.compile(re.escape(BASE_URL + path) + r"(\?.*)?$"), **kwargs)

    args, kw = CALLS[op.client_method]
    result = _resolve(client, op.client_method)(*args, **kw)
    if isinstance(result, PaginatedList):
        items = list(result)
        assert [i.raw for i in items] == example["items"]
        assert all(i.tracking_id == "ROUTER_X" for i in items)
    elif isinstance(result, WebexObject):
        assert result.raw == example
        assert result.tracking_id == "ROUTER_X"
        if "id" in example:
            assert result.id == example["id"]  # type: ignore[attr-defined]
    else:
        assert result == "ROUTER_X"  # deletes return the tracking id

    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    assert request.method == op.method
    url = urlsplit(request.url)
    assert url.path == urlsplit(BASE_URL).path + path
    query = {k for k, _ in parse_qsl(url.query)}
    assert query <= set(spec["query_params"]), f"unknown query params {query}"
    if request.body:
        sent = json.loads(request.body)
        allowed = set(spec["request_properties"] or [])
        assert set(sent) <= allowed, f"unknown body fields {set(sent) - allowed}"
