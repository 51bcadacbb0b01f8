"""Live lines for the gates' journal entries (test runs and verdicts, risk and caution)."""

from __future__ import annotations

import shlex

from rich.markup import escape

from rollsafe.journal import JournalEntry, Kind


def describe_gate(entry: JournalEntry) -> str | None:
    data, kind = entry.data, entry.kind
    if kind == Kind.TEST_RUN:
        command = escape(shlex.join(data.get("argv", [])))
        if data.get("problem"):
            return f"  $ {command}: [red]{escape(data['problem'])}[/red]"
        return f"  $ {command}: {data.get('tests', 0)} tests, {data.get('failing', 0)} failing" + (
            f" (re-run {data['attempt']})" if data.get("attempt") else ""
        )
    if kind == Kind.TEST_VERDICT:
        if not data.get("passed"):
            reasons = "; ".join(data.get("reasons") or [])
            return f"  [red]test gate failed[/red]: {escape(reasons)}"
        flaky = ", ".join(f["id"] for f in data.get("flaky") or [])
        rate = data.get("pass_rate")
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
