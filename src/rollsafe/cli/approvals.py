"""``rollsafe rollout approve``: let a rollout waiting at an approve step continue."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, print_json, reported_errors


def approve(
    ctx: typer.Context,
    rollout_id: Annotated[str, typer.Argument(help="Rollout id.")],
    comment: Annotated[str, typer.Option("--comment", help="Why, for the journal.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Approve the step a rollout waits at; the controller driving it continues.

    Refused (exit 1, nothing journaled) when the rollout waits for no approval.
    The approval is journaled as ``cli (<your user name>)``.
    """
    from rollsafe.controller import approvals

    actor = f"cli ({getpass.getuser()})"
    with reported_errors(), home_of(ctx).existing_store() as store:
        wait, approved = approvals.grant(store, rollout_id, actor=actor, comment=comment)
    by = wait.granted.actor if wait.granted is not None else actor
    if as_json:
        print_json({"id": rollout_id, **wait.to_dict(), "approved_now": approved})
    elif approved:
        console.print(f"approved step {wait.index} of {rollout_id}; the rollout continues")
    else:
        console.print(f"step {wait.index} of {rollout_id} was already approved by {by}")
