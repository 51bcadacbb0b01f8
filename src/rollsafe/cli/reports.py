"""``rollsafe report``: incident reports written from the journal."""

from __future__ import annotations

from typing import Annotated

import typer

from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, fail, print_json, reported_errors
from rollsafe.errors import NotFoundError

app = typer.Typer(help="Write reports from the journal.", no_args_is_help=True)


@app.command()
def incident(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write reports/<ID>/incident.md, incident.json and incident.html (with the charts
    around the decision point; one file that opens offline) in the home, from the journal."""
    from rollsafe.charts.series import plan_of
    from rollsafe.config import Plan
    from rollsafe.report import build_incident, html_report, write_incident

    home = home_of(ctx)
    plan: Plan | None = None
    with reported_errors(), home.existing_store() as store:
        entries = store.journal(rollout_id)
        try:
            rollout = store.get_rollout(rollout_id)
        except NotFoundError:
            pass  # the journal outlived the row: charts without the judge's replay
        else:
            plan = plan_of(rollout.plan_path, rollout.plan_text)
    if not entries:
        fail(f"no journal entries for rollout {rollout_id!r}; see 'rollsafe rollout list'")
    with reported_errors():
        path = write_incident(home.path / "reports" / rollout_id, entries, plan=plan)
    page = html_report(path)
    if as_json:
        print_json({**build_incident(entries), "markdown": str(path), "html": str(page)})
    else:
        console.print(f"incident report: {path} (and incident.json beside it)")
        console.print(f"with charts: {page} (opens offline)")
