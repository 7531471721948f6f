"""The benchmarks' goal table (benchmarks/goals.py, ``make bench``'s last output): every goal
of every result file, computed from the measured values; no timing is measured here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import goals
from benchmarks.ingest import faster_reference_goal
from benchmarks.run import NAMES, goal_table, render


def _runs(**rps: list[float]) -> dict[str, list[dict[str, Any]]]:
    return {v: [{"requests_per_second": x} for x in xs] for v, xs in rps.items()}


def test_the_goal_is_per_round_against_that_rounds_faster_reference() -> None:
    runs = _runs(
        minimal=[1000.0, 800.0, 900.0],
        floor=[900.0, 1000.0, 900.0],
        **{"full-sync": [850.0, 850.0, 720.0], "full-celery": [900.0, 790.0, 900.0]},
    )
    result = faster_reference_goal(runs)
    assert result["full-sync"]["per_round"] == [0.85, 0.85, 0.8]
    assert result["full-sync"]["goal_met"] is True
    # Round 2: 790 over the floor's 1,000 (the minimal view's 800 would give 0.99).
    assert result["full-celery"]["per_round"] == [0.9, 0.79, 1.0]
    assert result["full-celery"]["min"] == 0.79
    assert result["full-celery"]["median"] == 0.9
    assert result["full-celery"]["goal_met"] is False


def _row(lines: list[str], benchmark: str, measure_start: str) -> list[str]:
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == benchmark and cells[1].startswith(measure_start):
            return cells
    raise AssertionError(f"no row {benchmark} / {measure_start} in:\n" + "\n".join(lines))


def test_missing_files_show_as_not_measured(tmp_path: Path) -> None:
    lines = goal_table(tmp_path)
    assert lines[0] == "| benchmark | measure | value | goal | met |"
    for name in NAMES:
        assert _row(lines, name, "not measured")[4] == "not measured"
    text = render(tmp_path)  # RESULTS.md starts with the same table
    assert text.split("\n## ")[1].startswith("Goals")
    assert "\n".join(lines) in text


def test_a_files_own_goals_are_used_and_a_miss_shows_as_not_met(tmp_path: Path) -> None:
    own = [
        {"measure": "ours: goodput / R, worst of 5", "value": 0.87, "goal": ">= 0.9", "met": False},
        {"measure": "ours: lost", "value": 0.0, "goal": "0", "met": True},
    ]
    (tmp_path / "sending.json").write_text(json.dumps({"goals": own, "approaches": {}}))
    lines = goal_table(tmp_path)
    assert _row(lines, "sending", "ours: goodput")[2:] == ["0.870", ">= 0.9", "no"]
    assert _row(lines, "sending", "ours: lost")[2:] == ["0", "0", "yes"]


def test_files_without_goals_get_rows_derived_from_their_fields(tmp_path: Path) -> None:
    files = {
        # An ingest file from before the per-round goal: the old ratios.
        "ingest": {"ratios": {"full-sync_over_minimal": 0.75, "full-celery_over_minimal": 0.81}},
        "listing": {"time_ratio_ours_over_sdk": 1.02, "memory_growth_ours": 1.17},
        "overhead": {"operations": {"rooms.get": {"ratio_ours_over_sdk": 0.54}}},
        "websocket": {"ratio": 2.7, "ours_rest_calls_per_event": 2.0,
                      "webex_bot_rest_calls_per_event": 4.0, "ours_lost": [0, 1, 0]},
        "sending": {"approaches": {
            "ours": {"goodput_over_rate": 0.93, "share_429": 0.003, "lost": 0, "duplicated": 0},
            "sdk-celery": {"goodput_over_rate": 0.77, "share_429": 0.13, "lost": 0,
                           "duplicated": 0},
        }},
    }  # fmt: skip
    for name, doc in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    lines = goal_table(tmp_path)
    assert _row(lines, "ingest", "full-sync / minimal")[4] == "no"
    assert _row(lines, "ingest", "full-celery / minimal")[4] == "yes"
    assert _row(lines, "listing", "time ours")[2:] == ["1.02", "<= 1.0", "no"]
    assert _row(lines, "listing", "peak memory")[4] == "yes"
    assert _row(lines, "overhead", "rooms.get")[4] == "yes"
    assert _row(lines, "websocket", "events/s")[4] == "yes"
    assert _row(lines, "websocket", "REST calls")[2] == "0.500"
    assert _row(lines, "websocket", "events lost")[2:] == ["1", "0", "no"]
    assert _row(lines, "sending", "ours: goodput")[4] == "yes"
    assert not [line for line in lines if "sdk-celery" in line]  # the baseline has no goal


def test_the_ingest_writer_and_the_derivation_agree() -> None:
    """A new ingest file carries its goals; derived from the same fields they are the same."""
    doc: dict[str, Any] = {
        "goal_per_round": faster_reference_goal(
            _runs(minimal=[1000.0], floor=[900.0], **{"full-sync": [700.0]})
        ),
        "e2e": {"p50_ms": 12.0, "p99_ms": 30.0, "drain_seconds": 4.0, "worker_kept_up": False,
                "unprocessed": 0, "complete": True},
    }  # fmt: skip
    rows = goals.ingest(doc)
    assert goals.rows("ingest", {**doc, "goals": rows}) == goals.derive("ingest", doc)
    by_measure = {r["measure"].split(",")[0]: r for r in rows}
    assert by_measure["full-sync / faster of (minimal"]["met"] is False
    assert by_measure["full-sync / faster of (minimal"]["value"] == 0.7
    assert by_measure["celery-e2e drain after wrk"]["met"] is False
    assert by_measure["celery-e2e p50 ms"]["met"] is None  # reported, no goal set
