"""``rollsafe controller run``: a long-running controller sharing the store with others."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from rollsafe.cli.home import home_of
from rollsafe.cli.incidents import write_incident_if_due
from rollsafe.cli.output import console, reported_errors
from rollsafe.errors import RollsafeError
from rollsafe.store import Rollout

app = typer.Typer(
    help="Run controllers that pick up rollouts from the store.", no_args_is_help=True
)


@app.command()
def run(
    ctx: typer.Context,
    max_concurrent: Annotated[
        int, typer.Option("--max-concurrent", min=1, help="Rollouts driven at once.")
    ] = 8,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between store polls.")
    ] = 1.0,
    once: Annotated[
        bool, typer.Option("--once", help="Exit when no rollout is left to drive.")
    ] = False,
) -> None:
    """Claim unowned rollouts (pending, running or rolling back) and drive them until stopped."""
    from rollsafe.controller import ControllerLoop

    home = home_of(ctx)
    with reported_errors(), home.store() as store:

        def report(rollout: Rollout) -> None:
            """What `rollout start` does at the end, for each rollout this loop ends."""
            try:
                path = write_incident_if_due(home.path, store, rollout)
            except (OSError, RollsafeError) as error:  # the loop goes on driving the others
                console.print(f"[red]{rollout.id}: incident report not written: {error}[/red]")
                return
            if path is not None:
                console.print(f"{rollout.id}: {rollout.state}; incident report: {path}")

        loop = ControllerLoop(
            store, home.path, max_concurrent=max_concurrent, poll_interval=poll, on_ended=report
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            loop.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        console.print(f"controller {loop.owner} polling {store.where}")
        loop.run(once=once)
