"""``rollsafe slo``: Prometheus rules from a plan's SLOs or an SLO file (docs/slo.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from rollsafe.cli.exits import Exit
from rollsafe.cli.output import console, print_json, reported_errors
from rollsafe.errors import PlanError

if TYPE_CHECKING:
    from rollsafe.config.slo import SloSettings

app = typer.Typer(
    help="Service-level objectives: Prometheus rules and error budgets.", no_args_is_help=True
)


def load_slos(path: Path) -> tuple[str, SloSettings, object]:
    """(service, SLO settings, the plan's metrics or None) from a plan or an SLO file."""
    from rollsafe.config import load_plan
    from rollsafe.config.reading import read_text
    from rollsafe.config.slo import is_slo_document
    from rollsafe.config.slo_files import load_slo_file

    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # the loader below says where the YAML is wrong
    if is_slo_document(data):
        slo_file = load_slo_file(path)
        return slo_file.service, slo_file, None
    plan = load_plan(path, text)
    if plan.slos is None or not plan.slos.objectives:
        raise PlanError([f"{path}:1: slos: the plan has no SLO objectives"])
    return plan.service, plan.slos, plan.metrics


@app.command()
def rules(
    file: Annotated[Path, typer.Argument(help="A plan with slos:, or an SLO file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the rules to this file.")
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(help="Evaluation interval of each rule group (e.g. 1s); default Prometheus'."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the rules as JSON (with -o: a summary of what was written)."
        ),
    ] = False,
) -> None:
    """Write Prometheus recording and alerting rules (Sloth's names) for FILE's SLOs.

    Check them with `promtool check rules`. Exits 2 on a bad file.
    """
    from rollsafe.config import parse_duration
    from rollsafe.slo.rules import rules as build_rules

    with reported_errors():
        service, settings, metrics = load_slos(file)
        try:
            seconds = None if interval is None else parse_duration(interval)
        except ValueError as error:
            raise PlanError([f"--interval: {error}"]) from None
        ruleset = build_rules(service, settings, metrics, interval=seconds)
    document = ruleset.document()
    text = yaml.safe_dump(document, sort_keys=False, width=100)
    summary: dict[str, Any] = {
        "file": str(file),
        "service": service,
        "objectives": [objective.name for objective in settings.objectives],
        "groups": len(ruleset.groups),
        "records": len(ruleset.records),
        "alerts": [
            {key: alert["labels"][key] for key in ("slo", "severity", "long", "short", "burn")}
            for alert in ruleset.alerts
        ],
    }
    if output is not None:
        output.write_text(text)
        if as_json:
            print_json({**summary, "written": str(output)})
        else:
            console.print(
                f"wrote {summary['records']} recording and {len(ruleset.alerts)} alerting rules "
                f"for {service} to {output}"
            )
        return
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(text, end="")


@app.command()
def budget(
    file: Annotated[Path, typer.Argument(help="A plan with slos:, or an SLO file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the budgets as JSON.")] = False,
) -> None:
    """Show each SLO's remaining error budget, read from Prometheus as the policy reads it.

    Exits 0 when every budget is known and at or above the floor, 1 otherwise.
    """
    from rollsafe.slo.budget import budget_url, remaining_budgets

    with reported_errors():
        service, settings, metrics = load_slos(file)
        if budget_url(settings, metrics) is None:
            raise PlanError(
                [f"{file}:1: slos.budget.prometheus: no Prometheus to read the budgets from"]
            )
        budgets = remaining_budgets(settings, metrics)
    floor = settings.budget.floor
    short = [b for b in budgets if b.remaining is None or b.remaining < floor]
    if as_json:
        print_json(
            {
                "service": service,
                "floor": floor,
                "frozen": bool(short),
                "budgets": [b.to_dict() for b in budgets],
            }
        )
    else:
        for b in budgets:
            left = b.error if b.remaining is None else f"{b.remaining:.1%} left"
            console.print(f"{service} {b.slo} ({b.target:.6g}): {left}")
    if short:
        raise typer.Exit(Exit.ERROR)
