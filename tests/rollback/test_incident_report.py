"""The incident report of a canary rollout rolled back at level 2, from its journal.

The journal is the one such a rollout writes (kinds and fields as the controller
journals them); the report must place the change at the canary step, list the
canary release among the changes, name real releases (never "rollout release"),
and count the time to recover without the verification that followed.
"""

from __future__ import annotations

from typing import Any

from rollsafe.journal import JournalEntry
from rollsafe.report import build_incident, render_markdown

T0 = 1_764_800_000.0


def entry(seq: int, offset: float, kind: str, data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(seq, T0 + offset, kind, "controller", "r1", data, "", "")


def canary_journal() -> list[JournalEntry]:
    level_2 = {
        "level": 2,
        "name": "release",
        "applied": True,
        "changed": True,
        "recovered": True,
        "started": T0 + 30.0,
        "ended": T0 + 42.0,
        "action_seconds": 2.0,
        "seconds": 12.0,
        "result": {"release": "1.0.0", "changed": True, "canary_stopped": "1.1.0"},
        "verification": {"recovered": True, "reason": "healthy, guards quiet"},
    }
    return [
        entry(1, 0, "rollout.created", {"service": "shop"}),
        entry(2, 1, "rollout.baseline", {"release": "1.0.0", "flags": {}}),
        entry(3, 2, "step.running", {"index": 0, "kind": "canary"}),
        entry(
            4,
            5,
            "step.succeeded",
            {
                "index": 0,
                "kind": "canary",
                "result": {"release": "1.1.0", "started": True, "weight": 20, "applied": True},
            },
        ),
        entry(
            5,
            20,
            "guard.tripped",
            {
                "guard": "canary-errors",
                "severity": "critical",
                "metric": "error_rate",
                "value": 0.3,
                "threshold": 0.05,
                "unit": "ratio",
                "window": 10,
                "for": 3,
            },
        ),
        entry(6, 21, "rollback.started", {"reason": "guard canary-errors tripped"}),
        entry(
            7,
            21,
            "rollback.level_skipped",
            {"level": 1, "name": "flags", "skipped": True, "reason": "the plan has no flags"},
        ),
        entry(8, 30, "rollback.level_started", {"level": 2, "name": "release"}),
        entry(9, 42, "rollback.level_ended", level_2),
        entry(
            10,
            42,
            "rollback.finished",
            {"ok": True, "final_level": 2, "recovered_by": "rollback level 2 (release)"},
        ),
        entry(11, 43, "rollout.rolled_back", {"reason": "guard canary-errors tripped"}),
    ]


def test_a_canary_rollout_reads_right() -> None:
    report = build_incident(canary_journal())
    assert report["change_introduced_at"] == "2025-12-03T22:13:25.000Z"
    assert report["time_to_detect_seconds"] == 15.0
    # Recovered when level 2's action was done (30 + 2 s), verified 10 s later.
    assert report["time_to_recover_seconds"] == 12.0
    assert report["verification_seconds"] == 10.0
    assert report["time_to_verified_seconds"] == 22.0
    moves = [(m["from"], m["to"], m["how"]) for m in report["releases"]]
    assert moves == [
        ("1.0.0", "1.1.0 (canary, 20% of requests)", "canary step"),
        ("1.1.0 (canary)", "stopped", "rollback level 2"),
    ]
    text = render_markdown(report)
    assert "rollout release" not in text
    assert "an unrecorded time" not in text
    assert "release 1.0.0 → 1.1.0 (canary, 20% of requests) (canary step" in text
    assert "| L1 | flags | skipped |" in text
    assert "12.0 s after detection" in text
    assert "verification then took 10.0 s" in text
