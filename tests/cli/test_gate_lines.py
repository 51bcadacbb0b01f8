"""The live lines the CLI prints for the gates' journal entries."""

from __future__ import annotations

from typing import Any

from rollsafe.cli.output import describe
from rollsafe.journal import JournalEntry, Kind


def entry(kind: Kind, data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        seq=1, ts=1.0, kind=kind, rollout_id="r", actor="t", data=data, prev_hash="", hash=""
    )


def test_test_runs_and_verdicts() -> None:
    run = entry(Kind.TEST_RUN, {"argv": ["pytest", "-q"], "attempt": 1, "tests": 3, "failing": 1})
    assert describe(run) == "  $ pytest -q: 3 tests, 1 failing (re-run 1)"
    passed = entry(
        Kind.TEST_VERDICT, {"passed": True, "pass_rate": 100.0, "flaky": [{"id": "m::t"}]}
    )
    assert describe(passed) == (
        "  [green]test gate passed[/green]: pass rate 100.0%; [yellow]flaky[/yellow]: m::t"
    )
    failed = entry(Kind.TEST_VERDICT, {"passed": False, "reasons": ["no report"]})
    assert describe(failed) == "  [red]test gate failed[/red]: no report"


def test_risk_lines() -> None:
    scored = entry(Kind.RISK_SCORED, {"range": "v1..v2", "score": 61.2, "level": "high"})
    assert describe(scored) == "risk of v1..v2: 61.2/100 (high)"
    caution = entry(Kind.RISK_CAUTION_APPLIED, {"level": "high", "changes": ["a", "b"]})
    assert describe(caution) == "caution for high risk: a; b"
