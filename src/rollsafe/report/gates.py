"""The gates section of a report: test-suite verdicts and the change's risk score.

Read from the journal (``test.verdict``, ``risk.scored``, ``risk.caution_applied``)
so the report says what the gates saw, not what the plan hoped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import suite_verdict


def gates_of(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    tests = [suite_verdict(e) for e in entries if e.kind == Kind.TEST_VERDICT]
    risk = next((dict(e.data) for e in entries if e.kind == Kind.RISK_SCORED), None)
    caution = next((dict(e.data) for e in entries if e.kind == Kind.RISK_CAUTION_APPLIED), None)
    return {"tests": tests, "risk": risk, "caution": caution}


def render_gates(gates: dict[str, Any]) -> list[str]:
    """Markdown lines; none when the rollout had no gates."""
    if not gates["tests"] and gates["risk"] is None:
        return []
    lines = ["", "## Gates", ""]
    for index, verdict in enumerate(gates["tests"], start=1):
        counts = verdict.get("counts") or {}
        outcome = "passed" if verdict.get("passed") else "FAILED"
        rate = verdict.get("pass_rate")
        lines.append(
            f"- test gate {index}: **{outcome}** after {verdict.get('runs', 0)} run(s); "
            + (
                f"pass rate {rate}% (needs {verdict.get('min_pass_rate')}%); "
                if rate is not None
                else ""
            )
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
        lines += [f"  - why: {reason}" for reason in verdict.get("reasons") or []]
        lines += [
            f"  - failed: `{f['id']}` ({' → '.join(f['outcomes'])}){_q(f)}: {f['message']}"
            for f in verdict.get("failures") or []
        ]
        lines += [
            f"  - flaky: `{f['id']}` ({' → '.join(f['outcomes'])}){_q(f)}"
            for f in verdict.get("flaky") or []
        ]
    risk = gates["risk"]
    if risk is not None:
        lines.append(
            f"- risk of {risk.get('range')}: **{risk.get('score')}/100 ({risk.get('level')})**"
        )
        lines += [
            f"  - {part['factor']}: {part['points']} points: {part['why']}"
            for part in risk.get("breakdown") or []
        ]
    caution = gates["caution"]
    if caution is not None:
        lines += [f"  - caution for {caution.get('level')}: {c}" for c in caution["changes"]]
    return lines


def _q(result: dict[str, Any]) -> str:
    return ", quarantined" if result.get("quarantined") else ""
