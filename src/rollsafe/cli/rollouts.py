"""``rollsafe rollout``: start, watch, pause, resume and abort rollouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rollsafe.cli.drills import drill_line, drill_summary
from rollsafe.cli.exits import Exit, of_rollback, of_rollout
from rollsafe.cli.home import Home, home_of
from rollsafe.cli.incidents import write_incident_if_due
from rollsafe.cli.output import console, fail, journal_tail, print_json, reported_errors
from rollsafe.cli.readable import plain, step_result
from rollsafe.errors import NotFoundError, RiskInputError
from rollsafe.store import Rollout, RolloutState, StepRecord, Store

if TYPE_CHECKING:
    from rollsafe.controller import Controller

app = typer.Typer(help="Run rollouts from plans and steer them.", no_args_is_help=True)

_COLOURS = {
    RolloutState.PROMOTED: "green",
    RolloutState.ROLLED_BACK: "yellow",
    RolloutState.ABORTED: "yellow",
    RolloutState.FAILED: "red",
    RolloutState.PAUSED: "cyan",
}


@app.command()
def start(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="Plan YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the final state as JSON.")] = False,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Only create it; a 'rollsafe controller run' drives it."),
    ] = False,
    risk_range: Annotated[
        str | None,
        typer.Option(
            "--risk-range",
            metavar="BASE..HEAD",
            help="Score this git range's risk; the plan's risk.caution applies (docs/risk.md).",
        ),
    ] = None,
) -> None:
    """Create a rollout from PLAN and drive it until it ends or pauses.

    Exits 0 promoted, 3 rolled back, 4 paused, 5 failed (docs/cli.md).
    """
    from rollsafe.config import load_plan
    from rollsafe.controller import Controller

    home = home_of(ctx)
    with reported_errors():
        # Refuse a bad plan, or one naming a release not installed, before anything changes.
        load_plan(plan, on_disk=True)
        with home.store() as store:
            controller = Controller(store, home.path)
            try:
                rollout = controller.create(plan, risk_range=risk_range)
            except RiskInputError as error:
                fail(str(error), Exit.USAGE)
            if not detach:
                if not as_json:
                    console.print(f"rollout [bold]{rollout.id}[/bold] for {rollout.service}")
                rollout = _drive(home, controller, rollout.id, quiet=as_json)
                report = write_incident_if_due(home.path, store, rollout)
    if detach:
        if as_json:
            print_json(rollout.summary())
        else:
            console.print(f"rollout [bold]{rollout.id}[/bold] created; a controller will drive it")
        return
    _finish(rollout, report, as_json, of_rollout)


@app.command()
def resume(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Continue a paused rollout, or take over one whose controller died.

    A paused analysis runs again. Exits as 'start' does.
    """
    from rollsafe.controller import Controller

    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        rollout = _drive(home, Controller(store, home.path), rollout_id, quiet=as_json, resume=True)
        report = write_incident_if_due(home.path, store, rollout)
    _finish(rollout, report, as_json, of_rollout)


@app.command()
def abort(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Follow the rollback to its end (the default), or only ask for it (exit 4).",
        ),
    ] = True,
) -> None:
    """Roll back now: the owner does it, or this command when no controller is alive.

    Exits 0 once rolled back, 5 when no level recovered the service (docs/cli.md).
    """
    from rollsafe.controller import Controller

    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        controller = Controller(store, home.path)
        with _progress(home, rollout_id, quiet=as_json):
            rollout = controller.abort(rollout_id)
            if not rollout.state.is_final and not as_json:
                console.print(f"abort requested; {rollout.owner} is rolling back {rollout_id}")
            if wait:
                rollout = _until_final(controller, rollout)
        report = write_incident_if_due(home.path, store, rollout)
    _finish(rollout, report, as_json, of_rollback)


@app.command()
def pause(ctx: typer.Context, rollout_id: Annotated[str, typer.Argument()]) -> None:
    """Ask the controller to pause after the current look or step."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        store.request(rollout_id, "pause", actor="cli")
    console.print(
        f"pause requested for {rollout_id}; resume with 'rollsafe rollout resume {rollout_id}'"
    )


@app.command()
def status(
    ctx: typer.Context,
    rollout_id: Annotated[
        str | None, typer.Argument(help="Rollout id; the newest if omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a rollout's state and steps; exit with its state's code, so a script can poll."""
    from rollsafe.controller.drill_records import last_drill

    with reported_errors(), home_of(ctx).existing_store() as store:
        rollout = _pick(store, rollout_id)
        steps = store.steps(rollout.id)
        drill = last_drill(store, rollout.service)
    if as_json:
        print_json(
            {
                **rollout.summary(),
                "steps": [_step_summary(s) for s in steps],
                "last_drill": drill_summary(drill),
            }
        )
    else:
        colour = _COLOURS.get(rollout.state, "white")
        console.print(
            f"[bold]{rollout.id}[/bold] {escape(rollout.service)}: "
            f"[{colour}]{rollout.state}[/{colour}]"
        )
        if rollout.reason:
            console.print(escape(rollout.reason))
        table = Table("#", "step", "state", "attempts", "result")
        for s in steps:
            table.add_row(
                str(s.index),
                escape(f"{s.kind} {plain(s.spec)}"),
                str(s.state),
                str(s.attempts),
                escape(step_result(s.result)),
            )
        console.print(table)
        console.print(escape(drill_line(rollout.service, drill)))
    _exit(of_rollout(rollout.state))


@app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List rollouts, newest first."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        rollouts = store.list_rollouts()
    if as_json:
        print_json([r.summary() for r in rollouts])
        return
    table = Table("id", "service", "state", "step", "created")
    for r in rollouts:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        table.add_row(r.id, r.service, str(r.state), str(r.step_index), created)
    console.print(table)


def _drive(
    home: Home, controller: Controller, rollout_id: str, *, quiet: bool, resume: bool = False
) -> Rollout:
    try:
        with _progress(home, rollout_id, quiet=quiet):
            return controller.run(rollout_id, resume=resume)
    except KeyboardInterrupt:
        # The store says which step was running; resume picks it up from there.
        console.print(
            f"[yellow]interrupted: rollout {rollout_id} is left as it was; "
            f"continue with 'rollsafe rollout resume {rollout_id}' or roll back with "
            f"'rollsafe rollout abort {rollout_id}'[/yellow]"
        )
        raise typer.Exit(Exit.INTERRUPTED) from None


def _progress(home: Home, rollout_id: str, *, quiet: bool) -> AbstractContextManager[object]:
    """The rollout's journal printed as it lands; nothing with --json (stdout is the JSON)."""
    return nullcontext() if quiet else journal_tail(home.store_address, rollout_id)


def _until_final(controller: Controller, rollout: Rollout) -> Rollout:
    """Wait while the live owner rolls back; take over if it dies on the way."""
    from rollsafe.controller.lease import owner_is_dead

    try:
        while not rollout.state.is_final:
            time.sleep(0.5)
            rollout = controller.store.get_rollout(rollout.id)
            if not rollout.state.is_final and owner_is_dead(rollout.owner):
                rollout = controller.run(rollout.id)
    except KeyboardInterrupt:
        console.print(
            f"[yellow]stopped following: the abort of {rollout.id} goes on; "
            f"see 'rollsafe rollout status {rollout.id}'[/yellow]"
        )
        raise typer.Exit(Exit.INTERRUPTED) from None
    return rollout


def _finish(
    rollout: Rollout,
    report: Path | None,
    as_json: bool,
    exit_of: Callable[[RolloutState], Exit],
) -> None:
    """Print how the rollout stands, its reason in full (once), its incident report (written
    before the store closed), and exit with its code."""
    if as_json:
        print_json(rollout.summary())
    else:
        colour = _COLOURS.get(rollout.state, "white")
        console.print(
            f"[{colour}]{rollout.id}: {rollout.state}[/{colour}] {escape(rollout.reason)}"
        )
        if rollout.state is RolloutState.PAUSED:
            console.print(f"resume with: rollsafe rollout resume {rollout.id}")
        if report is not None:
            console.print(f"incident report: {report}")
    _exit(exit_of(rollout.state))


def _exit(code: Exit) -> None:
    if code is not Exit.OK:
        raise typer.Exit(code)


def _pick(store: Store, rollout_id: str | None) -> Rollout:
    if rollout_id is not None:
        return store.get_rollout(rollout_id)
    rollouts = store.list_rollouts(limit=1)
    if not rollouts:
        raise NotFoundError("no rollouts yet; start one with 'rollsafe rollout start PLAN'")
    return rollouts[0]


def _step_summary(step: StepRecord) -> dict[str, object]:
    return {
        "index": step.index,
        "kind": step.kind,
        "spec": step.spec,
        "state": str(step.state),
        "attempts": step.attempts,
        "result": step.result,
    }


def rollback(
    ctx: typer.Context,
    level: Annotated[
        int,
        typer.Option("--level", min=1, max=3, help="1 flags off, 2 previous release, 3 restore."),
    ],
    rollout_id: Annotated[
        str | None, typer.Argument(help="Rollout id; the newest if omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Roll back by hand: run every rollback level up to --level, each verified and timed.

    Exits 0 once rolled back, 5 when no level recovered the service (docs/cli.md).
    """
    from rollsafe.controller import Controller

    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        target = _pick(store, rollout_id)
        with _progress(home, target.id, quiet=as_json):
            rollout = Controller(store, home.path).roll_back_to(target.id, level)
        report = write_incident_if_due(home.path, store, rollout)
    _finish(rollout, report, as_json, of_rollback)
