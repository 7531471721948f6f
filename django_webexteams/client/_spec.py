"""Reading operations out of the official Webex OpenAPI specs.

The specs live outside the package (``../shared/webex-openapi/`` next to the repository, or
wherever ``WEBEX_OPENAPI_DIR`` points). :mod:`._spec_snapshot` is a derived copy of the
operation list (method, path, tag, summary) so that the docs generator works in a clean clone;
a test keeps it equal to the specs whenever they are available.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["SPEC_FILES", "SpecOperation", "find_spec_dir", "read_spec_operations"]

SPEC_FILES = ("webex-messaging.json", "webex-admin.json")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


class SpecOperation(NamedTuple):
    method: str
    path: str
    tag: str
    summary: str
    deprecated: bool
    sources: tuple[str, ...]


def find_spec_dir() -> Path | None:
    """``$WEBEX_OPENAPI_DIR``, else ``<repo>/../shared/webex-openapi``; None if absent."""
    candidates: list[Path] = []
    env = os.environ.get("WEBEX_OPENAPI_DIR")
    if env:
        candidates.append(Path(env))
    repo = Path(__file__).resolve().parents[2]
    candidates += [repo.parent / "shared" / "webex-openapi", repo / "webex-openapi"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in SPEC_FILES):
            return candidate
    return None


def read_spec_operations(spec_dir: Path) -> list[SpecOperation]:
    """Every operation of both spec files, merged by (method, path), sorted."""
    merged: dict[tuple[str, str], SpecOperation] = {}
    for name in SPEC_FILES:
        spec: dict[str, Any] = json.loads((spec_dir / name).read_text(encoding="utf-8"))
        for path, item in spec.get("paths", {}).items():
            for method, op in item.items():
                if method not in HTTP_METHODS or not isinstance(op, dict):
                    continue
                key = (method.upper(), path)
                tags = op.get("tags") or ["(untagged)"]
                summary = " ".join(str(op.get("summary") or op.get("operationId") or "").split())
                if key in merged:
                    old = merged[key]
                    merged[key] = old._replace(sources=(*old.sources, name))
                else:
                    merged[key] = SpecOperation(
                        key[0], path, str(tags[0]), summary, bool(op.get("deprecated")), (name,)
                    )
    return sorted(merged.values(), key=lambda o: (o.tag, o.path, o.method))
