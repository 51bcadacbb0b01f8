"""``rollsafe rollout override``: let a rollout frozen by the error-budget policy start."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from rollsafe.cli.exits import of_rollout
from rollsafe.cli.home import home_of
from rollsafe.cli.incidents import write_incident_if_due
from rollsafe.cli.output import console, print_json, reported_errors
from rollsafe.cli.rollouts import _drive, _finish


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "unknown"


def override(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it may start (journaled).")],
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who overrides; default cli:<login name>.")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume/--no-resume", help="Drive the rollout on now (the default)."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a rollout despite its service's error budget: the override is journaled
    (slo.budget_override, with the actor and reason), then the rollout resumes.

    Exits as 'resume' does; with --no-resume, 4 (it waits for 'rollsafe rollout resume').
    """
    from rollsafe.controller import Controller
    from rollsafe.controller.budgets import override as record_override

    if not reason.strip():
        raise typer.BadParameter("must say why", param_hint="--reason")
    home = home_of(ctx)
    who = actor or f"cli:{_login()}"
    report = None
    with reported_errors(), home.existing_store() as store:
        rollout = record_override(store, rollout_id, actor=who, reason=reason)
        if not as_json:
            console.print(f"error budget overridden for {rollout_id} by {who}")
        if resume:
            controller = Controller(store, home.path)
            rollout = _drive(home, controller, rollout_id, quiet=as_json, resume=True)
            report = write_incident_if_due(home.path, store, rollout)
    if not resume:
        if as_json:
            print_json({**rollout.summary(), "overridden_by": who})
        raise typer.Exit(of_rollout(rollout.state))
    _finish(rollout, report, as_json, of_rollout)
