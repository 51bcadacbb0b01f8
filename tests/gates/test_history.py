"""Which files were in past rollbacks, from journal entries: the risk.scored link first,
else the diff between the baseline release and the deployed one as git revisions."""

from __future__ import annotations

from typing import Any

from rollsafe.gates.history import rollback_counts
from rollsafe.journal import JournalEntry, Kind


def entry(seq: int, kind: Kind, rollout: str, data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        seq=seq, ts=float(seq), kind=kind, rollout_id=rollout, actor="t",
        data=data, prev_hash="", hash="",
    )  # fmt: skip


def test_linked_files_of_rolled_back_rollouts_only() -> None:
    entries = [
        entry(1, Kind.RISK_SCORED, "a", {"files": ["x.py", "y.py"]}),
        entry(2, Kind.ROLLOUT_ROLLED_BACK, "a", {}),
        entry(3, Kind.RISK_SCORED, "b", {"files": ["x.py"]}),
        entry(4, Kind.ROLLOUT_PROMOTED, "b", {}),
        entry(5, Kind.RISK_SCORED, "c", {"files": ["x.py"]}),
        entry(6, Kind.ROLLOUT_FAILED, "c", {}),
        entry(7, Kind.RISK_SCORED, "d", {"files": ["z.py"]}),
        entry(8, Kind.ROLLOUT_ABORTED, "d", {}),  # a person's choice: no evidence
    ]
    assert rollback_counts(entries) == {"x.py": 2, "y.py": 1}


def test_releases_as_revisions_when_no_range_was_scored() -> None:
    asked: list[tuple[str, str]] = []

    def resolve(base: str, head: str) -> list[str]:
        asked.append((base, head))
        return ["cart.py"] if head == "v2" else []

    entries = [
        entry(1, Kind.ROLLOUT_BASELINE, "a", {"release": "v1"}),
        entry(2, Kind.STEP_SUCCEEDED, "a", {"kind": "deploy", "result": {"release": "v2"}}),
        entry(3, Kind.ROLLOUT_ROLLED_BACK, "a", {}),
    ]
    assert rollback_counts(entries, resolve) == {"cart.py": 1}
    assert asked == [("v1", "v2")]
