"""``rollsafe report``: incident reports written from the journal."""

from __future__ import annotations

from typing import Annotated

import typer

from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, fail, print_json, reported_errors
from rollsafe.report import build_incident, write_incident

app = typer.Typer(help="Write reports from the journal.", no_args_is_help=True)


@app.command()
def incident(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write reports/<ID>/incident.md and incident.json in the home, from the journal alone."""
    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        entries = store.journal(rollout_id)
    if not entries:
        fail(f"no journal entries for rollout {rollout_id!r}; see 'rollsafe rollout list'")
    path = write_incident(home.path / "reports" / rollout_id, entries)
    if as_json:
        print_json(build_incident(entries))
    else:
        console.print(f"incident report: {path} (and incident.json beside it)")
