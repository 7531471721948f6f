"""Regenerate tests/client/data/spec_examples.json from the official OpenAPI specs:

    .venv/bin/python -m tests.client.make_spec_examples

It keeps, for each in-scope operation, the success status and the request/response examples
(nothing else). Derived from webex/webex-openapi-specs (c) Cisco Systems / Webex, CC BY 4.0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django_webexteams.client._operations import IN_SCOPE_TAGS
from django_webexteams.client._spec import SPEC_FILES, find_spec_dir

OUT = Path(__file__).parent / "data" / "spec_examples.json"


def _example(content: dict[str, Any], spec: dict[str, Any]) -> Any:
    media = content.get("application/json") or {}
    if "example" in media:
        return media["example"]
    for ex in (media.get("examples") or {}).values():
        if isinstance(ex, dict) and "value" in ex:
            return ex["value"]
    return None


def _resolve(node: Any, spec: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _properties(content: dict[str, Any], spec: dict[str, Any]) -> list[str] | None:
    media = content.get("application/json")
    if not media:
        return None
    schema = _resolve(media.get("schema") or {}, spec)
    return sorted(schema.get("properties") or {})


def build() -> dict[str, Any]:
    spec_dir = find_spec_dir()
    if spec_dir is None:
        raise SystemExit("OpenAPI specs not found; set WEBEX_OPENAPI_DIR")
    out: dict[str, Any] = {
        "_source": "webex/webex-openapi-specs (c) Cisco Systems / Webex, CC BY 4.0; "
        "examples only, regenerate with python -m tests.client.make_spec_examples",
    }
    for name in SPEC_FILES:
        spec = json.loads((spec_dir / name).read_text())
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if not isinstance(op, dict) or not set(op.get("tags") or []) & IN_SCOPE_TAGS:
                    continue
                key = f"{method.upper()} {path}"
                if key in out:
                    continue
                status, response = next(
                    (int(code), r) for code, r in op["responses"].items() if code.startswith("2")
                )
                request = (op.get("requestBody") or {}).get("content") or {}
                out[key] = {
                    "status": status,
                    "request": _example(request, spec) if request else None,
                    "response": _example(response.get("content") or {}, spec),
                    "request_properties": _properties(request, spec) if request else None,
                    "query_params": sorted(
                        p["name"]
                        for p in (_resolve(x, spec) for x in op.get("parameters") or [])
                        if p.get("in") == "query"
                    ),
                }
    return out


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
