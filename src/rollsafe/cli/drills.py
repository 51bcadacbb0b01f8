"""``rollsafe drill PLAN``: deploy the candidate, trigger each rollback level, time it.

Exits 0 when every drilled level recovered within its target, 1 when one did not
(the report says which), 2 for a bad plan or ``--levels``, 5 when no level
recovered the service (look now: it runs the candidate). See docs/drills.md.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, journal_tail, print_json, reported_errors
from rollsafe.errors import PlanError
from rollsafe.journal import JournalEntry
from rollsafe.journal.payloads import drill_finished
from rollsafe.store import RolloutState


def _levels(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        message = f"--levels: must be numbers 1-3 separated by commas, got {value!r}"
        raise PlanError([message]) from None
    return numbers


def drill(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="Plan YAML file.")],
    levels: Annotated[
        str | None,
        typer.Option(
            "--levels",
            help="Levels to drill, e.g. 1,2,3 (default: the plan's drill.levels, else its "
            "rollback.levels).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the drill result as JSON.")
    ] = False,
) -> None:
    """Drill the plan's rollback: deploy its candidate, run each level, compare with targets.

    Writes reports/<drill rollout>/drill.md and drill.json in the home.
    """
    from rollsafe.controller import Controller
    from rollsafe.controller.drills import create_drill, run_drill
    from rollsafe.report.drills import level_line, write_drill_report

    home = home_of(ctx)
    with reported_errors():
        numbers = _levels(levels)
        with home.store() as store:
            controller = Controller(store, home.path)
            created = create_drill(controller, plan, numbers)
            if not as_json:
                console.print(f"drill [bold]{created.rollout.id}[/bold] of {created.service}")
            try:
                with _progress(home.store_address, created.rollout.id, quiet=as_json):
                    run = run_drill(controller, created)
            except KeyboardInterrupt:
                # No controller resumes a drill (it would end promoted): a person decides.
                console.print(
                    f"[yellow]interrupted: drill {created.rollout.id} is left as it was; "
                    f"roll it back with 'rollsafe rollout abort {created.rollout.id}'[/yellow]"
                )
                raise typer.Exit(Exit.INTERRUPTED) from None
            directory = home.path / "reports" / run.rollout.id
            report = write_drill_report(directory, store.journal(run.rollout.id))
    result: dict[str, Any] = {**run.result, "report": str(report)}
    if as_json:
        print_json(result)
    else:
        colour = "green" if result["ok"] else "red"
        verdict = "passed" if result["ok"] else "failed"
        console.print(f"[{colour}]drill of {escape(result['service'])} {verdict}[/{colour}]")
        for level in result["levels"]:
            console.print("  " + escape(level_line(level)))
        for problem in result["problems"]:
            console.print(f"  [red]{escape(problem)}[/red]")
        console.print(f"drill report: {report}")
    if run.rollout.state is RolloutState.FAILED:
        raise typer.Exit(Exit.FAILED)
    if not result["ok"]:
        raise typer.Exit(Exit.ERROR)


def drill_summary(entry: JournalEntry | None) -> dict[str, Any] | None:
    """The last drill of a service as ``rollout status --json`` shows it."""
    from rollsafe.report.drills import level_line

    if entry is None:
        return None
    data = drill_finished(entry)
    return {
        "rollout": entry.rollout_id,
        "ok": data["ok"],
        "at": entry.ts,
        "levels": [level_line(level) for level in data["levels"]],
        "problems": data["problems"],
    }


def drill_line(service: str, entry: JournalEntry | None) -> str:
    """``last drill of shop: passed 2026-12-05 01:40 (ro-…): L1 flags 1.02 s / 2 min ✔, …``."""
    from rollsafe.report.drills import level_line

    if entry is None:
        return f"last drill of {service}: none (rollsafe drill PLAN)"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.ts))
    drill = drill_finished(entry)
    verdict = "passed" if drill["ok"] else "failed"
    levels = ", ".join(level_line(level) for level in drill["levels"])
    return f"last drill of {service}: {verdict} {when} ({entry.rollout_id}): {levels}"


def _progress(address: str, rollout_id: str, *, quiet: bool) -> AbstractContextManager[object]:
    """The drill's journal printed as it lands; nothing with --json (stdout is the JSON)."""
    return nullcontext() if quiet else journal_tail(address, rollout_id)
