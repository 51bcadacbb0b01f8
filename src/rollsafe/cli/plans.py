"""``rollsafe plan``: check plans before they run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollsafe.cli.output import console, print_json, reported_errors

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Validate rollout plans and print their JSON Schema.", no_args_is_help=True)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Plan YAML file.")],
    text_only: Annotated[
        bool,
        typer.Option(
            "--text-only",
            help="Check only the plan's text, not that its target root and releases exist"
            " on this machine (e.g. in CI, away from the hosts).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the checked plan as JSON.")
    ] = False,
) -> None:
    """Check a plan, and that the root and releases it names exist; errors name file,
    line and field and exit 2."""
    from rollsafe.config import load_plan

    with reported_errors():
        plan = load_plan(file, on_disk=not text_only)
    steps = [step.describe() for step in plan.steps]
    if as_json:  # not the whole plan: it may hold URLs with credentials
        print_json({"file": str(file), "valid": True, "service": plan.service, "steps": steps})
        return
    console.print(f"[green]{file}: valid[/green] plan for {plan.service}: {', '.join(steps)}")


@app.command()
def schema() -> None:
    """Print the plan JSON Schema (for editor completion)."""
    from rollsafe.config import Plan

    print(json.dumps(Plan.model_json_schema(), indent=2))
