"""``rollsafe notify``: try a plan's notification channels before a rollout needs them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperOption

from rollsafe.cli.exits import Exit
from rollsafe.cli.output import console, print_json, reported_errors

app = typer.Typer(help="Try a plan's notification channels.", no_args_is_help=True)


class _NamingSamples(TyperCommand):
    """Fills in ``--event``'s default and help from ``rollsafe.notify`` when the command
    parses or shows its help: that package loads httpx and the plan models, too much
    to pay at every start of the CLI."""

    def get_params(self, ctx: Any) -> Any:  # typer's vendored click types
        from rollsafe.notify.trial import SAMPLE_EVENTS

        for param in self.params:
            if param.name == "event" and param.default is None:
                param.default = SAMPLE_EVENTS[0]
                if isinstance(param, TyperOption):
                    param.help = f"The sample to send: one of {', '.join(SAMPLE_EVENTS)}."
        return super().get_params(ctx)


@app.command("test", cls=_NamingSamples)
def try_channels(
    file: Annotated[Path, typer.Argument(help="Plan YAML file.")],
    event: Annotated[str | None, typer.Option(help="Named by _NamingSamples.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
) -> None:
    """Send a sample notification (titled [test]) to each channel of the plan's notify:
    list now; exit 1 if any was not delivered, 2 for a bad plan or event."""
    from rollsafe.config import load_plan
    from rollsafe.notify.trial import SAMPLE_EVENTS, send_samples

    with reported_errors():
        plan = load_plan(file)
    if event is None or event not in SAMPLE_EVENTS:
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
