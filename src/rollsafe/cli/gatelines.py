"""Live lines for the gates' journal entries (test runs and verdicts, risk and caution)."""

from __future__ import annotations

import shlex

from rich.markup import escape

from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import suite_run, suite_verdict


def describe_gate(entry: JournalEntry) -> str | None:
    data, kind = entry.data, entry.kind
    if kind == Kind.TEST_RUN:
        run = suite_run(entry)
        command = escape(shlex.join(run.get("argv", [])))
        if run.get("problem"):
            return f"  $ {command}: [red]{escape(run['problem'])}[/red]"
        return f"  $ {command}: {run.get('tests', 0)} tests, {run.get('failing', 0)} failing" + (
            f" (re-run {run['attempt']})" if run.get("attempt") else ""
        )
    if kind == Kind.TEST_VERDICT:
        verdict = suite_verdict(entry)
        if not verdict.get("passed"):
            reasons = "; ".join(verdict.get("reasons") or [])
            return f"  [red]test gate failed[/red]: {escape(reasons)}"
        flaky = ", ".join(f["id"] for f in verdict.get("flaky") or [])
        rate = verdict.get("pass_rate")
        return f"  [green]test gate passed[/green]: pass rate {rate}%" + (
            f"; [yellow]flaky[/yellow]: {escape(flaky)}" if flaky else ""
        )
    if kind == Kind.RISK_SCORED:
        span = escape(str(data.get("range")))
        return f"risk of {span}: {data.get('score')}/100 ({data.get('level')})"
    if kind == Kind.RISK_CAUTION_APPLIED:
        changes = "; ".join(data.get("changes") or [])
        return f"caution for {data.get('level')} risk: {escape(changes)}"
    return None
