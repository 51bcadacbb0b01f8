"""Terminal output shared by the commands: one console, errors with exit codes, journal lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from rollsafe.errors import PlanError, RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.store import JournalFollower

# No emoji codes: a message such as "plan.yaml:100: ..." must not print as "plan.yaml💯 ...".
console = Console(highlight=False, emoji=False)
errors = Console(stderr=True, highlight=False, emoji=False)

EXIT_FAILED = 1
EXIT_INVALID = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
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
        raise typer.Exit(EXIT_INVALID) from None
    except RollsafeError as error:
        fail(str(error))


def print_json(value: Any) -> None:
    # Plain print, not Rich: the output must stay machine-readable (no wrapping, no markup).
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def describe(entry: JournalEntry) -> str | None:
    """One human line for a journal entry, or None for entries too fine-grained to show live."""
    data, kind = entry.data, entry.kind
    if kind == "rollout.created":
        return f"[bold]rollout {entry.rollout_id}[/bold] created: {len(data['steps'])} steps"
    if kind == "step.running":
        spec = " ".join(f"{k}={v}" for k, v in data.get("spec", {}).items())
        retry = f" (attempt {data['attempt']})" if data.get("attempt", 1) > 1 else ""
        return f"▶ step {data['index']}: {data['kind']} {spec}{retry}"
    if kind == "step.succeeded":
        return f"[green]✔ step {data['index']}: {data['kind']}[/green] {_summary(data)}"
    if kind == "step.failed":
        return f"[red]✘ step {data['index']}: {data['kind']}[/red] {_summary(data)}"
    if kind == "analysis.observation":
        return "  " + "  ".join(_arm(o) for o in data["observations"])
    if kind == "analysis.metrics_error":
        return f"  [yellow]metrics unavailable at t={data['t']}s: {escape(data['error'])}[/yellow]"
    if kind == "analysis.verdict":
        verdict = data["verdict"]
        colour = {"pass": "green", "fail": "red"}.get(verdict["verdict"], "yellow")
        return f"  verdict [{colour}]{verdict['verdict']}[/{colour}] after {data['elapsed']}s"
    if kind.startswith("rollback."):
        detail = " ".join(f"{k}={v}" for k, v in data.items() if k not in {"levels"})
        return f"[red]↺ {kind}[/red] {escape(detail)}"
    if kind == "flag.changed":
        after = data.get("after") or {}
        return f"⚑ flag {data['name']} v{data['version']}: {_flag_state(after)}"
    if kind.startswith("rollout."):
        reason = f": {escape(data['reason'])}" if data.get("reason") else ""
        return f"[bold]● {kind}[/bold]{reason}"
    return None


def _arm(observation: dict[str, Any]) -> str:
    requests, errs = observation.get("requests", 0), observation.get("errors", 0)
    return f"{observation['arm']}: {requests:.0f} req {errs:.0f} err"


def _summary(data: dict[str, Any]) -> str:
    result = data.get("result") or {}
    shown = {k: v for k, v in result.items() if k not in {"verdict", "observations"}}
    return escape(" ".join(f"{k}={v}" for k, v in shown.items()))


def _flag_state(feature: dict[str, Any]) -> str:
    if not feature.get("enabled"):
        return "off"
    rollouts = [s.get("parameters", {}).get("rollout") for s in feature.get("strategies", []) or []]
    return f"on, rollout {rollouts[0]}%" if rollouts else "on"


def journal_tail(store_address: str, rollout_id: str) -> JournalFollower:
    """Print a rollout's journal entries as they land, while a command drives it."""
    return JournalFollower(store_address, print_entry, rollout_id=rollout_id)


def print_entry(entry: JournalEntry) -> None:
    line = describe(entry)
    if line is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.ts))
        console.print(f"[dim]{stamp}[/dim] {line}")
