"""Every benchmark's goals as rows ``{"measure", "value", "goal", "met"}`` (issue 21: one table
with every ratio and its goal).

A result file may carry them itself under the key ``"goals"`` (a list of such rows; ``value``
a float or ``None``, ``met`` a bool): the writers of this package add it, and
:func:`rows` uses it when present. For a file without it (written before the key existed)
:func:`derive` computes the rows from the fields the file has, with the same rule each
writer uses, so an old file and a new one say the same. ``met`` is always computed from the
measured value, never assumed: a goal not met shows as not met.
"""

from __future__ import annotations

from typing import Any

#: The per-round goal of the ingest benchmark: full paths against the faster reference.
INGEST_GOAL = 0.8


def row(measure: str, value: float | None, goal: str, met: bool | None) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": None if value is None else float(value),
        "goal": goal,
        "met": met,
    }


def ingest(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    faster = doc.get("goal_per_round")
    if isinstance(faster, dict):
        for variant, g in faster.items():
            out.append(
                row(
                    f"{variant} / faster of (minimal, floor), worst round "
                    f"(median {g['median']:.2f})",
                    g["min"],
                    f">= {INGEST_GOAL:g} every round",
                    bool(g["goal_met"]),
                )
            )
    else:  # a file from before the per-round goal: the goal it was written against
        ratios = doc.get("ratios", {})
        for variant in ("full-sync", "full-celery"):
            value = ratios.get(f"{variant}_over_minimal")
            if value is not None:
                out.append(
                    row(
                        f"{variant} / minimal (medians; old goal)",
                        value,
                        f">= {INGEST_GOAL:g}",
                        value >= INGEST_GOAL,
                    )
                )
    e2e = doc.get("e2e")
    if isinstance(e2e, dict):
        # The issue asks for the figure, sets no bound: reported, no goal to meet.
        out.append(
            row("celery-e2e p50 ms, received -> receiver ran", e2e.get("p50_ms"), "report", None)
        )
        out.append(row("celery-e2e p99 ms", e2e.get("p99_ms"), "report", None))
        drain = e2e.get("drain_seconds")
        out.append(
            row(
                "celery-e2e drain after wrk, s (the worker kept up: else the latencies "
                "include a growing queue)",
                drain,
                "<= 1, last fifth's p50 <= 2 x first's + 10 ms",
                drain is not None and bool(e2e.get("worker_kept_up")),
            )
        )
        complete = bool(e2e.get("complete"))
        out.append(
            row(
                "celery-e2e deliveries not processed",
                e2e.get("unprocessed"),
                "0",
                complete and e2e.get("unprocessed") == 0,
            )
        )
    return out


def listing(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = doc.get("time_ratio_ours_over_sdk")
    growth = doc.get("memory_growth_ours")
    return [
        row(
            "time ours / webexpythonsdk",
            ratio,
            "<= 1.0",
            isinstance(ratio, float) and ratio <= 1.0,
        ),
        row(
            "peak memory, all items / first page's items (ours)",
            growth,
            "< 1.5 (flat)",
            isinstance(growth, float) and growth < 1.5,
        ),
    ]


def sending(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Our approaches only: ``sdk-celery`` is the baseline compared with, not a goal."""
    out = []
    for name, r in doc.get("approaches", {}).items():
        if not name.startswith("ours"):
            continue
        goodput = r.get("goodput_over_rate")
        out.append(
            row(f"{name}: goodput / R", goodput, ">= 0.9", goodput is not None and goodput >= 0.9)
        )
        out.append(
            row(
                f"{name}: share of 429s",
                r.get("share_429"),
                "<= 0.05",
                r.get("share_429", 1) <= 0.05,
            )
        )
        out.append(
            row(
                f"{name}: lost + duplicated",
                r.get("lost", 0) + r.get("duplicated", 0),
                "0",
                r.get("lost") == 0 and r.get("duplicated") == 0,
            )
        )
    return out


def overhead(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        row(f"{op}: time ours / webexpythonsdk", r["ratio_ours_over_sdk"], "<= 1.0",
            r["ratio_ours_over_sdk"] <= 1.0)
        for op, r in doc.get("operations", {}).items()
    ]  # fmt: skip


def websocket(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue (18) asks for the ratios and sets no figure; the goal is the claim of
    docs/benchmarks.md: faster and sturdier than what people use today (webex_bot)."""
    ratio = doc.get("ratio")
    ours_calls = doc.get("ours_rest_calls_per_event")
    their_calls = doc.get("webex_bot_rest_calls_per_event")
    calls = ours_calls / their_calls if ours_calls is not None and their_calls else None
    lost = doc.get("ours_lost") or []
    return [
        row("events/s ours / webex_bot (median of rounds)", ratio, ">= 1.0",
            ratio is not None and ratio >= 1.0),
        row("REST calls per event ours / webex_bot", calls, "<= 1.0",
            calls is not None and calls <= 1.0),
        row("events lost by ours", sum(lost), "0", bool(lost) and sum(lost) == 0),
    ]  # fmt: skip


DERIVE = {
    "ingest": ingest,
    "listing": listing,
    "sending": sending,
    "overhead": overhead,
    "websocket": websocket,
}


def derive(name: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The goal rows of result file ``name`` computed from its fields."""
    return DERIVE[name](doc)


def rows(name: str, doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The goal rows of benchmark ``name``: the file's own ``"goals"`` when it has them,
    else derived; one "not measured" row when there is no result file."""
    if doc is None:
        return [row("not measured (no result file)", None, "-", None) | {"missing": True}]
    goals = doc.get("goals")
    if isinstance(goals, list):
        return [dict(g) for g in goals]
    return derive(name, doc)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _met(g: dict[str, Any]) -> str:
    if g.get("missing"):
        return "not measured"
    met = g.get("met")
    if met is None:
        return "-"  # reported, no goal to meet
    return "yes" if met is True else "no"


def table(docs: dict[str, dict[str, Any] | None]) -> list[str]:
    """One markdown table of every goal of ``docs`` (benchmark name -> result or ``None``)."""
    out = ["| benchmark | measure | value | goal | met |", "|---|---|---:|---|---|"]
    for name, doc in docs.items():
        for g in rows(name, doc):
            out.append(
                f"| {name} | {g['measure']} | {_value(g.get('value'))} | {g['goal']} | {_met(g)} |"
            )
    return out
