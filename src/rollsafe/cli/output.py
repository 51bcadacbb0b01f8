"""Terminal output shared by the commands: one console, errors with exit codes, journal lines."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.gatelines import describe_gate
from rollsafe.cli.readable import first_line, plain, step_result
from rollsafe.errors import PlanError, RefusedError, RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    STEP_STATE_KINDS,
    FlagDefinition,
    LoadVerdict,
    StepMoved,
    analysis_verdict,
    budget_checked,
    drill_finished,
    enabled,
    flag_changed,
    load_verdict,
    metrics_blind,
    rollout_created,
    rollouts,
    step_moved,
    step_retry,
)
from rollsafe.store import JournalFollower

# No emoji codes: a message such as "plan.yaml:100: ..." must not print as "plan.yaml💯 ...".
console = Console(highlight=False, emoji=False)
# Errors are not wrapped at the (assumed 80-column) width: a long path in a message stays
# whole, to copy and to grep (tests under xdist run in longer temporary paths).
errors = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

# The names the commands used before cli.exits; they stay for the modules that import them.
EXIT_FAILED = Exit.ERROR
EXIT_INVALID = Exit.USAGE


def fail(message: str, code: int = Exit.ERROR) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn rollsafe errors into a message and an exit code (2 for invalid input)."""
    try:
        yield
    except PlanError as error:
        for problem in error.problems:
            errors.print(f"[red]error:[/red] {escape(problem)}")
        raise typer.Exit(Exit.USAGE) from None
    except RefusedError as error:
        fail(str(error), Exit.REFUSED)
    except RollsafeError as error:
        fail(str(error))


def print_json(value: Any) -> None:
    # Plain print, not Rich: the output must stay machine-readable (no wrapping, no markup).
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def describe(entry: JournalEntry) -> str | None:
    """One human line for a journal entry, or None for entries too fine-grained to show live.

    Reasons show their first line only: a command's own end prints the whole once.
    """
    data, kind = entry.data, entry.kind
    if (gate := describe_gate(entry)) is not None:
        return gate
    if kind == Kind.ROLLOUT_CREATED:
        steps = rollout_created(entry)["steps"]
        return f"[bold]rollout {entry.rollout_id}[/bold] created: {len(steps)} steps"
    if kind in STEP_STATE_KINDS:
        return _step_moved(entry)
    if kind == Kind.STEP_RETRY:
        retry = step_retry(entry)
        error = escape(first_line(str(retry.get("error", ""))))
        return (
            f"[yellow]↻ step {retry['index']}: {retry['kind']}[/yellow] "
            f"retry {retry['attempt']} in {retry['delay']:g} s: {error}"
        )
    if kind == Kind.ANALYSIS_OBSERVATION:
        return "  " + "  ".join(_arm(o) for o in data["observations"])
    if kind == Kind.ANALYSIS_METRICS_ERROR:
        error = escape(first_line(data["error"]))
        return f"  [yellow]metrics unavailable at t={data['t']}s: {error}[/yellow]"
    if kind == Kind.GUARD_METRICS_UNAVAILABLE:
        return (
            f"  [yellow]guards have no metrics at t={data['t']}s: "
            f"{escape(first_line(data['error']))}[/yellow]"
        )
    if kind == Kind.GUARD_METRICS_RESTORED:
        return f"  [green]guards see metrics again at t={data['t']}s[/green]"
    if kind == Kind.METRICS_BLIND:
        blind = metrics_blind(entry)
        return (
            f"[bold red]◌ {blind['watcher']} blind for {blind['blind_for']}s[/bold red]: "
            f"{escape(first_line(blind['error']))}; on_blind: {blind['action']}"
        )
    if kind == Kind.ANALYSIS_PASSED_EARLY:
        counts = ", ".join(f"{arm} {n:g}" for arm, n in data["requests"].items())
        return (
            f"  [green]passed early[/green] after {data['elapsed']:.0f}s of "
            f"{data['duration']:g}s ({counts} requests, every metric within its margin)"
        )
    if kind == Kind.ANALYSIS_VERDICT:
        analysis = analysis_verdict(entry)
        outcome = analysis["verdict"]["verdict"]
        colour = {"pass": "green", "fail": "red"}.get(outcome, "yellow")
        return f"  verdict [{colour}]{outcome}[/{colour}] after {analysis['elapsed']}s"
    if kind == Kind.LOAD_VERDICT:
        return _load_verdict(load_verdict(entry))
    if kind == Kind.ROLLBACK_LEVEL_ENDED:
        return _level_ended(data)
    if kind.startswith("rollback."):
        # rollback.started's reason is the rollout's, already on the rolling_back line.
        hidden = {"levels", "reason"} if kind == Kind.ROLLBACK_STARTED else {"levels"}
        detail = plain({k: v for k, v in data.items() if k not in hidden})
        return f"[red]↺ {kind}[/red] {escape(detail)}"
    if kind == Kind.TARGET_COMMAND:
        return f"  $ {escape(shlex.join(data['argv']))}: {escape(data['outcome'])}"
    if kind == Kind.FLAG_CHANGED:
        change = flag_changed(entry)
        return f"⚑ flag {change['name']} v{change['version']}: {_flag_state(change.get('after'))}"
    if kind == Kind.SLO_BUDGET_CHECKED:
        checked = budget_checked(entry)
        left = ", ".join(
            f"{b['slo']} {'unknown' if b['remaining'] is None else format(b['remaining'], '.1%')}"
            for b in checked["budgets"]
        )
        return f"  error budget left: {escape(left)} (floor {checked['floor']:.0%})"
    if kind == Kind.SLO_BUDGET_OVERRIDE:
        return f"[yellow]⚠ error budget overridden by {escape(entry.actor)}[/yellow]"
    if kind.startswith("rollout."):
        reason = f": {escape(first_line(data['reason']))}" if data.get("reason") else ""
        return f"[bold]● {kind}[/bold]{reason}"
    if kind == Kind.ALERT_ROLLBACK:
        alert = data["alert"]
        return f"[bold red]⚠ alert {escape(alert['name'])}[/bold red]: {escape(data['action'])}"
    if kind == Kind.DRILL_FINISHED:
        verdict = "[green]passed[/green]" if drill_finished(entry)["ok"] else "[red]failed[/red]"
        return f"[bold]drill {verdict}[/bold]"
    return None


def _load_verdict(data: LoadVerdict) -> str:
    """``load.verdict``: the outcome, each arm's p50/p99 and rate, the throughput ratio."""
    colour = {"pass": "green", "fail": "red"}.get(data.get("outcome", ""), "yellow")
    arms = "  ".join(
        f"{arm} p50 {values.get('p50_ms')} ms p99 {values.get('p99_ms')} ms {values.get('rps')}/s"
        for arm, values in data.get("arms", {}).items()
    )
    ratio = data.get("throughput", {}).get("ratio")
    return f"  load [{colour}]{data.get('outcome')}[/{colour}]: {arms}; throughput ratio {ratio}"


def _arm(observation: dict[str, Any]) -> str:
    requests, errs = observation.get("requests", 0), observation.get("errors", 0)
    return f"{observation['arm']}: {requests:.0f} req {errs:.0f} err"


def _level_ended(data: dict[str, Any]) -> str:
    if not data.get("applied", True):
        outcome, why = "not applied", (data.get("result") or {}).get("error", "")
    elif data.get("recovered"):
        outcome, why = "[green]recovered[/green]", ""
    else:
        outcome, why = "not recovered", (data.get("verification") or {}).get("reason", "")
    detail = f": {escape(first_line(str(why)))}" if why else ""
    seconds = plain(data.get("seconds"))
    return f"[red]↺ level {data['level']} ({data['name']})[/red] {outcome} after {seconds}s{detail}"


def _step_moved(entry: JournalEntry) -> str | None:
    """A step's move: running (with its spec), succeeded, failed, or left pending with a result."""
    step = step_moved(entry)
    head = f"step {step['index']}: {step['kind']}"
    if entry.kind == Kind.STEP_RUNNING:
        spec = plain(step.get("spec", {}))
        retry = f" (attempt {step['attempt']})" if step.get("attempt", 1) > 1 else ""
        return f"▶ {head} {escape(spec)}{retry}"
    if entry.kind == Kind.STEP_SUCCEEDED:
        return f"[green]✔ {head}[/green] {_summary(step)}"
    if entry.kind == Kind.STEP_FAILED:
        # Its error is the rollout's reason, shown on the rolling_back line next.
        return f"[red]✘ {head}[/red] {_summary(step, 'error')}".rstrip()
    if step.get("result"):
        # A step cut short or undecided (an inconclusive analysis): it runs again on resume.
        return f"[yellow]⏸ {head}[/yellow] {_summary(step)} [dim](runs again on resume)[/dim]"
    return None


def _summary(step: StepMoved, *left_out: str) -> str:
    result = step.get("result") or {}
    return escape(step_result({k: v for k, v in result.items() if k not in left_out}))


def _flag_state(feature: FlagDefinition | None) -> str:
    if not enabled(feature):
        return "off"
    percents = rollouts(feature)
    return f"on, rollout {percents[0]}%" if percents else "on"


def journal_tail(store_address: str, rollout_id: str) -> JournalFollower:
    """Print a rollout's journal entries as they land, while a command drives it."""
    return JournalFollower(store_address, print_entry, rollout_id=rollout_id)


def print_entry(entry: JournalEntry) -> None:
    line = describe(entry)
    if line is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.ts))
        console.print(f"[dim]{stamp}[/dim] {line}")
