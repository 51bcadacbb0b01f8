"""The ``rollsafe`` command line (Typer + Rich)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rollsafe import __version__
from rollsafe.cli import (
    approvals,
    backups,
    controllers,
    demo,
    drills,
    flags,
    journal,
    judge,
    notify,
    overrides,
    pipelines,
    plans,
    reports,
    risk,
    rollouts,
    server,
    service,
    slo,
)
from rollsafe.cli.home import Home

app = typer.Typer(
    name="rollsafe",
    help="Progressive rollouts gated by canary analysis, flags and tiered rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(plans.app, name="plan")
app.add_typer(journal.app, name="journal")
app.add_typer(rollouts.app, name="rollout")
rollouts.app.command("approve")(approvals.approve)
app.add_typer(flags.app, name="flags")
app.add_typer(backups.app, name="backup")
app.add_typer(reports.app, name="report")
app.add_typer(controllers.app, name="controller")
app.add_typer(judge.app, name="judge")
app.command("demo")(demo.demo)
app.command("rollback")(rollouts.rollback)
app.add_typer(server.app, name="server")
app.add_typer(service.app, name="service")
app.add_typer(slo.app, name="slo")
rollouts.app.command("override")(overrides.override)
app.command("drill")(drills.drill)
app.command("risk")(risk.risk)
app.add_typer(notify.app, name="notify")
app.add_typer(pipelines.app, name="pipeline")


def _version(value: bool) -> None:
    if value:
        print(f"rollsafe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path,
        typer.Option(
            "--home",
            envvar="ROLLSAFE_HOME",
            help="State directory: rollsafe.db, backups/, reports/, logs/.",
            file_okay=False,
        ),
    ] = Path(".rollsafe"),
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="ROLLSAFE_STORE",
            help="State store: a postgresql:// URL (shared by several controllers) or a "
            "SQLite file. Default: rollsafe.db in --home.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    del version
    ctx.obj = Home(home, store or None)


def main() -> None:
    # Rich wraps at the terminal width; keep a sane width when not attached to one.
    os.environ.setdefault("COLUMNS", "120")
    app()
