"""``rollsafe pipeline``: promote one release through stages, each gated (docs/pipelines.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, print_json, reported_errors

app = typer.Typer(help="Promote a release through stages with gates.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="The pipeline file (YAML).")]
ReleaseOption = Annotated[
    str | None, typer.Option("--release", help="The release to promote (the file's by default).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the status as JSON.")]


@app.command()
def run(
    ctx: typer.Context,
    file: FileArgument,
    release: ReleaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline, or continue its unfinished run: exit 0 promoted through every
    stage, 3 stopped at a stage (rolled back), 4 waiting (approval, a paused stage)."""
    _drive(ctx, file, release, as_json)


@app.command()
def promote(
    ctx: typer.Context,
    file: FileArgument,
    release: Annotated[str, typer.Argument(help="The release to move stage by stage.")],
    as_json: JsonOption = False,
) -> None:
    """``run`` for RELEASE: move it through the stages."""
    _drive(ctx, file, release, as_json)


@app.command()
def status(
    ctx: typer.Context,
    file: FileArgument,
    release: ReleaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where the latest run of the release stands, stage by stage."""
    from rollsafe.config.pipeline import load_pipeline
    from rollsafe.controller.pipeline import PipelineRunner

    with reported_errors():
        pipeline, plans = load_pipeline(file, release=release)
        with home_of(ctx).existing_store() as store:
            report = PipelineRunner(pipeline, file, plans, store).status()
    _show(report, as_json)
    raise typer.Exit(_exit(report))


@app.command()
def approve(
    ctx: typer.Context,
    file: FileArgument,
    stage: Annotated[str, typer.Argument(help="The stage whose approval gate to pass.")],
    release: ReleaseOption = None,
) -> None:
    """Approve STAGE's approval gate in the unfinished run; ``run`` then continues."""
    from rollsafe.config.pipeline import load_pipeline
    from rollsafe.controller.pipeline import PipelineRunner

    with reported_errors():
        pipeline, plans = load_pipeline(file, release=release)
        with home_of(ctx).store() as store:
            PipelineRunner(pipeline, file, plans, store).approve(stage)
    console.print(f"approved {escape(stage)}; run the pipeline again to continue")


def _drive(ctx: typer.Context, file: Path, release: str | None, as_json: bool) -> None:
    from rollsafe.config.pipeline import load_pipeline
    from rollsafe.controller.pipeline import PipelineRunner

    with reported_errors():
        pipeline, plans = load_pipeline(file, release=release)
        home = home_of(ctx)
        with home.store() as store:
            say = (lambda line: None) if as_json else (lambda line: console.print(escape(line)))
            runner = PipelineRunner(pipeline, file, plans, store, say=say)
            report = runner.run(lock=home.path / f"pipeline-{pipeline.name}.lock")
    _show(report, as_json)
    raise typer.Exit(_exit(report))


def _exit(report: dict[str, Any]) -> Exit:
    if report["state"] == "promoted":
        return Exit.OK
    if report["state"] == "stopped":
        return Exit.ROLLED_BACK
    return Exit.PAUSED


def _show(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    console.print(
        f"pipeline [bold]{escape(report['pipeline'])}[/bold] release "
        f"{escape(str(report['release']))}: {escape(report['state'])}"
        + (f" ({escape(report['reason'])})" if report["reason"] else "")
    )
    table = Table("stage", "state", "rollout", "gates")
    for stage in report["stages"]:
        gates = ", ".join(
            f"{g['kind']}:{ {True: 'pass', False: 'fail', None: 'waiting'}[g['passed']] }"
            for g in stage["gates"]
        )
        table.add_row(stage["name"], stage["state"], stage["rollout"] or "", gates)
    console.print(table)
