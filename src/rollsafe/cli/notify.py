"""``rollsafe notify``: try a plan's notification channels before a rollout needs them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.output import console, print_json, reported_errors
from rollsafe.config import load_plan
from rollsafe.notify.trial import SAMPLE_EVENTS, send_samples

app = typer.Typer(help="Try a plan's notification channels.", no_args_is_help=True)


@app.command("test")
def try_channels(
    file: Annotated[Path, typer.Argument(help="Plan YAML file.")],
    event: Annotated[
        str, typer.Option(help=f"The sample to send: one of {', '.join(SAMPLE_EVENTS)}.")
    ] = SAMPLE_EVENTS[0],
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
) -> None:
    """Send a sample notification (titled [test]) to each channel of the plan's notify:
    list now; exit 1 if any was not delivered, 2 for a bad plan or event."""
    with reported_errors():
        plan = load_plan(file)
    if event not in SAMPLE_EVENTS:
        console.print(f"[red]error:[/red] --event must be one of {', '.join(SAMPLE_EVENTS)}")
        raise typer.Exit(Exit.USAGE)
    results = send_samples(plan.notify, plan.service, event)
    if as_json:
        print_json({"file": str(file), "event": event, "channels": results})
    else:
        if not results:
            console.print(f"{file}: no notify: channels")
        for result in results:
            if result["ok"]:
                console.print(f"[green]delivered[/green] {result['channel']}")
            else:
                console.print(
                    f"[red]failed[/red] {result['channel']} after {result['attempts']} "
                    f"attempt(s): {escape(result['error'])}"
                )
    if not all(result["ok"] for result in results):
        raise typer.Exit(Exit.ERROR)
