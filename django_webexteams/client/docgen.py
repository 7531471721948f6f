"""Generate the operation table of ``docs/client.md``.

    python -m django_webexteams.client.docgen            # rewrite docs/client.md's table
    python -m django_webexteams.client.docgen --check    # exit 1 if it is out of date
    python -m django_webexteams.client.docgen --update-snapshot   # re-read the OpenAPI specs

The table sits between the ``BEGIN``/``END`` markers below; the rest of the file is prose
and is left alone.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import _spec_snapshot
from ._operations import EXCLUDED, EXTRA, IN_SCOPE_TAGS, OPERATIONS
from ._spec import SpecOperation, find_spec_dir, read_spec_operations

BEGIN = "<!-- BEGIN GENERATED OPERATIONS (python -m django_webexteams.client.docgen) -->"
END = "<!-- END GENERATED OPERATIONS -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def snapshot_operations() -> list[SpecOperation]:
    return [SpecOperation(*row) for row in _spec_snapshot.OPERATIONS]


def render_table(operations: Sequence[SpecOperation] | None = None) -> str:
    """The generated section (markers included)."""
    ops = list(operations if operations is not None else snapshot_operations())
    by_key = {(o.method, o.path): o.client_method for o in OPERATIONS}
    lines = [BEGIN, "", "### Operations of the official OpenAPI specs", ""]
    lines += ["| Spec tag | Method | Path | Summary | Client method |", "|---|---|---|---|---|"]
    in_scope = [o for o in ops if o.tag in IN_SCOPE_TAGS]
    for op in in_scope:
        key = (op.method, op.path)
        if key in by_key:
            target = f"`client.{by_key[key]}()`"
        elif key in EXCLUDED:
            target = f"not covered: {EXCLUDED[key]}"
        else:
            target = "**MISSING**"
        summary = op.summary.replace("|", "\\|") + (" (deprecated)" if op.deprecated else "")
        lines.append(f"| {op.tag} | {op.method} | `{op.path}` | {summary} | {target} |")
    covered = sum(1 for o in in_scope if (o.method, o.path) in by_key)
    lines += [
        "",
        f"{covered} of {len(in_scope)} in-scope operations covered; "
        f"{len(in_scope) - covered} deliberately not covered (see the table).",
        "",
    ]
    lines += ["### Covered, but not in the OpenAPI specs", ""]
    lines += ["| Method | Path | Client | Documented in |", "|---|---|---|---|"]
    for method, path, name, where in EXTRA:
        lines.append(f"| {method} | `{path}` | `{name}()` | {where} |")
    other = Counter(o.tag for o in ops if o.tag not in IN_SCOPE_TAGS)
    lines += ["", "### Out of scope", ""]
    lines.append(
        "These tags of the same spec files are not covered: room linked folders (tag "
        '"ECM folder linking") and HDS by decision of issue 2, the rest because they are '
        "outside messaging (SPEC non-goals: meetings, calling, devices, hybrid, identity/SCIM, "
        "reports, partner APIs). Use "
        "`client.transport.request(method, path, ...)` for them; it applies the same auth, "
        "timeouts, retries and errors."
    )
    lines += ["", "| Spec tag | Operations |", "|---|---|"]
    for tag in sorted(other):
        lines.append(f"| {tag} | {other[tag]} |")
    lines += ["", END]
    return "\n".join(lines)


def updated_document(text: str, table: str) -> str:
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        return head + table + tail
    return text.rstrip("\n") + "\n\n" + table + "\n"


SNAPSHOT_HEADER = '''"""GENERATED: python -m django_webexteams.client.docgen --update-snapshot

Operation list (method, path, first tag, summary, deprecated, source files) derived from the
official Webex OpenAPI specs, repository ``webex/webex-openapi-specs`` (snapshot 2026-05-04),
(c) Cisco Systems / Webex, licensed CC BY 4.0. Only this list is copied, not the specs.
"""

# fmt: off
# ruff: noqa: E501

from __future__ import annotations

OPERATIONS: tuple[tuple[str, str, str, str, bool, tuple[str, ...]], ...] = (
'''


def render_snapshot(ops: Sequence[SpecOperation]) -> str:
    rows = "".join(f"    {tuple(op)!r},\n" for op in ops)
    return SNAPSHOT_HEADER + rows + ")\n"


def write_snapshot(ops: Sequence[SpecOperation]) -> Path:
    target = Path(_spec_snapshot.__file__)
    target.write_text(render_snapshot(ops), encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs are out of date")
    parser.add_argument(
        "--update-snapshot",
        action="store_true",
        help="re-derive the operation snapshot from the OpenAPI specs",
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    if args.update_snapshot:
        spec_dir = find_spec_dir()
        if spec_dir is None:
            print("OpenAPI specs not found; set WEBEX_OPENAPI_DIR", file=sys.stderr)
            return 2
        print(f"wrote {write_snapshot(read_spec_operations(spec_dir))}")
        return 0
    current = args.doc.read_text(encoding="utf-8") if args.doc.exists() else ""
    wanted = updated_document(current, render_table())
    if args.check:
        if current != wanted:
            print(
                f"{args.doc} is out of date: run python -m django_webexteams.client.docgen",
                file=sys.stderr,
            )
            return 1
        return 0
    args.doc.write_text(wanted, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
