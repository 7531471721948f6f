"""Derive the OpenAPI subset the fake's tests need from the official Webex specs.

The official files (../shared/webex-openapi/, CC BY 4.0, (c) Cisco Systems / Webex) are not
copied into the project. This keeps only the in-scope operations (parameters, request and
response schemas) and the component schemas they reference, without prose or examples, so
that ``test_openapi.py`` runs where the full specs are not available.

Regenerate: ``python -m tests.testing.openapi_subset`` (with the specs in
../shared/webex-openapi/ or WEBEX_OPENAPI_DIR); ``test_openapi.py`` fails when the committed
subset drifts from the specs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).with_name("webex-openapi-subset.json")
ATTRIBUTION = (
    "Derived from the official Webex OpenAPI specs (webex/webex-openapi-specs, "
    "public-spec/{name}, snapshot of 2026-05-04), CC BY 4.0, (c) Cisco Systems / Webex. "
    "Descriptions and examples removed; only the operations the fake serves are kept."
)
OUT_OF_SCOPE = re.compile(r"^/(room/linkedFolders|hds/)|/meetingInfo$")
ADMIN_PATHS = {
    "/licenses",
    "/licenses/{licenseId}",
    "/organizations",
    "/organizations/{orgId}",
    "/roles",
    "/roles/{roleId}",
    "/licenses/users",
}
ADMIN_METHODS = {"get"}
#: Admin writes the client covers (client/_operations.py), so the fake serves them too.
ADMIN_WRITES = {("delete", "/organizations/{orgId}"), ("patch", "/licenses/users")}
_DROP_KEYS = {"description", "example", "examples", "summary", "externalDocs"}


def in_scope(spec_name: str, method: str, path: str) -> bool:
    if spec_name == "webex-admin.json":
        return path in ADMIN_PATHS and (method in ADMIN_METHODS or (method, path) in ADMIN_WRITES)
    if method not in ("get", "post", "put", "delete"):
        return False
    return not OUT_OF_SCOPE.search(path)


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(x) for x in node]
    if isinstance(node, dict):
        return (
            {
                k: _strip(v)
                for k, v in node.items()
                if k not in _DROP_KEYS and not k.startswith("x-")
                # "properties" keys are field names, never prose: keep them all.
            }
            if "properties" not in node
            else {
                **{
                    k: _strip(v)
                    for k, v in node.items()
                    if k not in _DROP_KEYS and not k.startswith("x-") and k != "properties"
                },
                "properties": {name: _strip(v) for name, v in node["properties"].items()},
            }
        )
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def derive(spec_name: str, spec: dict[str, Any], extra_schemas: tuple[str, ...] = ()) -> Any:
    """The in-scope subset of one spec."""
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        ops = {m: _strip(op) for m, op in item.items() if in_scope(spec_name, m, path)}
        if ops:
            paths[path] = ops
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(paths) | {f"#/components/schemas/{n}" for n in extra_schemas}
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        target = _strip(spec["components"][section][name])
        components.setdefault(section, {})[name] = target
        pending |= _refs(target) - seen
    return {
        "info": {"attribution": ATTRIBUTION.format(name=spec_name)},
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def derive_all(spec_dir: Path) -> dict[str, Any]:
    messaging = json.loads((spec_dir / "webex-messaging.json").read_text())
    admin = json.loads((spec_dir / "webex-admin.json").read_text())
    return {
        "webex-messaging.json": derive("webex-messaging.json", messaging),
        "webex-admin.json": derive("webex-admin.json", admin, extra_schemas=("Error",)),
    }


if __name__ == "__main__":
    import os

    spec_dir = Path(
        os.environ.get("WEBEX_OPENAPI_DIR")
        or Path(__file__).resolve().parents[3] / "shared" / "webex-openapi"
    )
    SUBSET_PATH.write_text(json.dumps(derive_all(spec_dir), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SUBSET_PATH} ({SUBSET_PATH.stat().st_size} bytes)")
