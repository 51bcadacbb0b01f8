"""``rollsafe rollout``: start, watch, pause, resume and abort rollouts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rollsafe.cli.home import Home, home_of
from rollsafe.cli.output import console, journal_tail, print_json, reported_errors
from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.errors import NotFoundError
from rollsafe.report import write_incident
from rollsafe.store import Rollout, RolloutState, Store

app = typer.Typer(help="Run rollouts from plans and steer them.", no_args_is_help=True)

_ROLLED_BACK = {RolloutState.FAILED, RolloutState.ROLLED_BACK, RolloutState.ABORTED}
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
) -> None:
    """Create a rollout from PLAN and drive it until it ends or pauses."""
    home = home_of(ctx)
    with reported_errors():
        # Refuse a bad plan, or one naming a release not installed, before anything changes.
        load_plan(plan, on_disk=True)
        store = home.open_store()
        controller = Controller(store, home.path)
        rollout = controller.create(plan)
        if detach:
            store.close()
            if as_json:
                print_json(_summary(rollout))
            else:
                console.print(
                    f"rollout [bold]{rollout.id}[/bold] created; a controller will drive it"
                )
            return
        if not as_json:
            console.print(f"rollout [bold]{rollout.id}[/bold] for {rollout.service}")
        rollout = _drive(home, controller, rollout.id, quiet=as_json)
    _finish(store, rollout, as_json, home)


@app.command()
def resume(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Continue a paused rollout, or take over one whose controller died."""
    home = home_of(ctx)
    with reported_errors():
        store = home.open_existing_store()
        rollout = _drive(home, Controller(store, home.path), rollout_id, quiet=as_json, resume=True)
    _finish(store, rollout, as_json, home)


@app.command()
def abort(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Roll back now: the owner does it, or this command when no controller is alive."""
    home = home_of(ctx)
    with reported_errors():
        store = home.open_existing_store()
        with journal_tail(home.store_address, rollout_id):
            rollout = Controller(store, home.path).abort(rollout_id)
    if not rollout.state.is_final:
        console.print(f"abort requested; {rollout.owner} is rolling back {rollout_id}")
    _finish(store, rollout, as_json, home)


@app.command()
def pause(ctx: typer.Context, rollout_id: Annotated[str, typer.Argument()]) -> None:
    """Ask the controller to pause after the current look or step."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        store.request(rollout_id, "pause", actor="cli")
        store.close()
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
    """Show a rollout's state and steps."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        rollout = _pick(store, rollout_id)
        steps = store.steps(rollout.id)
        store.close()
    if as_json:
        print_json(
            {
                **_summary(rollout),
                "steps": [
                    {
                        "index": s.index,
                        "kind": s.kind,
                        "state": s.state,
                        "attempts": s.attempts,
                        "result": s.result,
                    }
                    for s in steps
                ],
            }
        )
        return
    colour = _COLOURS.get(rollout.state, "white")
    console.print(
        f"[bold]{rollout.id}[/bold] {rollout.service}: [{colour}]{rollout.state}[/{colour}]"
        + (f" ({rollout.reason})" if rollout.reason else "")
    )
    table = Table("#", "step", "state", "attempts", "result")
    for s in steps:
        detail = " ".join(f"{k}={v}" for k, v in s.result.items() if k != "verdict")
        table.add_row(
            str(s.index), f"{s.kind} {_spec(s.spec)}", str(s.state), str(s.attempts), detail[:60]
        )
    console.print(table)


@app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List rollouts, newest first."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        rollouts = store.list_rollouts()
        store.close()
    if as_json:
        print_json([_summary(r) for r in rollouts])
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
        if quiet:
            return controller.run(rollout_id, resume=resume)
        with journal_tail(home.store_address, rollout_id):
            return controller.run(rollout_id, resume=resume)
    except KeyboardInterrupt:
        # The store says which step was running; resume picks it up from there.
        console.print(
            f"[yellow]interrupted: rollout {rollout_id} is left as it was; "
            f"continue with 'rollsafe rollout resume {rollout_id}' or roll back with "
            f"'rollsafe rollout abort {rollout_id}'[/yellow]"
        )
        raise typer.Exit(130) from None


def _finish(store: Store, rollout: Rollout, as_json: bool, home: Home | None = None) -> None:
    report = None
    if home is not None and rollout.state in _ROLLED_BACK:
        report = write_incident(home.path / "reports" / rollout.id, store.journal(rollout.id))
    store.close()
    if as_json:
        print_json(_summary(rollout))
    else:
        colour = _COLOURS.get(rollout.state, "white")
        console.print(f"[{colour}]{rollout.id}: {rollout.state}[/{colour}] {rollout.reason}")
        if rollout.state is RolloutState.PAUSED:
            console.print(f"resume with: rollsafe rollout resume {rollout.id}")
        if report is not None:
            console.print(f"incident report: {report}")
    if rollout.state in _ROLLED_BACK:
        raise typer.Exit(1)


def _pick(store: Store, rollout_id: str | None) -> Rollout:
    if rollout_id is not None:
        return store.get_rollout(rollout_id)
    rollouts = store.list_rollouts(limit=1)
    if not rollouts:
        raise NotFoundError("no rollouts yet; start one with 'rollsafe rollout start PLAN'")
    return rollouts[0]


def _summary(rollout: Rollout) -> dict[str, object]:
    return {
        "id": rollout.id,
        "service": rollout.service,
        "state": str(rollout.state),
        "step_index": rollout.step_index,
        "reason": rollout.reason,
        "owner": rollout.owner,
        "created_at": rollout.created_at,
        "updated_at": rollout.updated_at,
    }


def _spec(spec: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in spec.items())


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
    """Roll back by hand: run every rollback level up to --level, each verified and timed."""
    home = home_of(ctx)
    with reported_errors():
        store = home.open_existing_store()
        target = _pick(store, rollout_id)
        with journal_tail(home.store_address, target.id):
            rollout = Controller(store, home.path).roll_back_to(target.id, level)
    _finish(store, rollout, as_json, home)
