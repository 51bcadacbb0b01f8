"""``rollsafe risk BASE..HEAD``: the regression risk of a git range, explained.

Reads git, the coverage report if given, and the journal's past rollbacks (from
``--home``/``--store`` when there is state there; none otherwise). With ``--plan``
the plan's ``risk:`` section gives the repository, critical paths, coverage and
weights, and the output shows the caution the plan would apply at this level.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, fail, print_json, reported_errors
from rollsafe.errors import RiskInputError
from rollsafe.journal import JournalEntry
from rollsafe.store import open_store_url
from rollsafe.support.redaction import is_postgres_url


def risk(
    ctx: typer.Context,
    span: Annotated[str, typer.Argument(metavar="BASE..HEAD", help="The git range to score.")],
    plan: Annotated[
        Path | None, typer.Option("--plan", help="A plan whose risk: section to use.")
    ] = None,
    repo: Annotated[
        Path | None, typer.Option("--repo", help="The git repository (default: the plan's).")
    ] = None,
    coverage: Annotated[
        Path | None, typer.Option("--coverage", help="A Cobertura coverage.xml of HEAD.")
    ] = None,
    critical: Annotated[
        list[str] | None,
        typer.Option(
            "--critical", help="A critical path pattern (repeatable; adds to the plan's)."
        ),
    ] = None,
    fail_at: Annotated[
        str | None,
        typer.Option("--fail-at", help="Exit 1 when the level is this or higher (for CI)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the score as JSON.")] = False,
) -> None:
    """Score BASE..HEAD from 0 to 100 (low, medium, high, critical) and say why.

    Exits 0, 1 with --fail-at when the level reaches it, 2 for a bad range or input.
    """
    from rollsafe.config import load_plan
    from rollsafe.config.risk import RiskConfig
    from rollsafe.gates.assessment import assess_range
    from rollsafe.gates.risk import LEVEL_NAMES

    if fail_at is not None and fail_at not in LEVEL_NAMES:
        fail(f"--fail-at must be one of {', '.join(LEVEL_NAMES)}", Exit.USAGE)
    with reported_errors():
        config, base = RiskConfig(), Path.cwd()
        if plan is not None:
            loaded = load_plan(plan)
            config, base = loaded.risk or RiskConfig(), plan.resolve().parent
        where = repo if repo is not None else base / config.repo
        report = coverage or (base / config.coverage if config.coverage else None)
        try:
            scored = assess_range(
                where,
                span,
                critical_paths=[*config.critical_paths, *(critical or [])],
                coverage=report,
                weights=config.weights,
                journal=_journal(ctx),
            )
        except RiskInputError as error:
            fail(str(error), Exit.USAGE)
    result: dict[str, Any] = scored.to_dict()
    caution = config.caution.get(scored.level)  # type: ignore[call-overload]
    result["caution"] = caution.model_dump() if caution is not None else None
    if as_json:
        print_json(result)
    else:
        _show(result)
    if fail_at is not None and LEVEL_NAMES.index(scored.level) >= LEVEL_NAMES.index(fail_at):
        raise typer.Exit(Exit.ERROR)


def _journal(ctx: typer.Context) -> list[JournalEntry]:
    """The journal, when there is state to read; none otherwise (nothing is created)."""
    home = home_of(ctx)
    address = home.store_address
    if not is_postgres_url(address) and not Path(address).exists():
        return []
    with closing(open_store_url(address)) as store:
        return store.journal()


def _show(result: dict[str, Any]) -> None:
    colour = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}
    console.print(
        f"risk of {escape(result['range'])}: [{colour[result['level']]}]"
        f"{result['score']}/100 ({result['level']})[/] — {result['commits']} commits, "
        f"{result['files_total']} files, {result['lines']} lines"
    )
    table = Table("factor", "weight", "signal", "points", "evidence")
    for row in result["breakdown"]:
        table.add_row(
            row["factor"],
            f"{row['weight']:g}",
            f"{row['signal']:.2f}",
            f"{row['points']:.1f}",
            escape(row["why"]),
        )
    console.print(table)
    if result["caution"]:
        console.print(f"the plan's caution at {result['level']}: {result['caution']}")
