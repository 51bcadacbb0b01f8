"""``rollsafe judge``: run the canary judge over recorded observations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from rollsafe.cli.output import EXIT_INVALID, console, errors
from rollsafe.config import AnalysisConfig, parse_document
from rollsafe.errors import PlanError
from rollsafe.judge import Judge, Verdict

app = typer.Typer(
    help="Judge canary observations with anytime-valid sequential statistics.",
    no_args_is_help=True,
)

_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def _invalid(problems: list[str]) -> typer.Exit:
    for problem in problems:
        errors.print(f"[red]error:[/red] {escape(problem)}")
    return typer.Exit(EXIT_INVALID)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _invalid([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _invalid([f"{path}: cannot read: {error}"]) from None


def _observations(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            observation = json.loads(line)
        except json.JSONDecodeError as error:
            raise _invalid([f"{path}:{number}: invalid JSON: {error.msg}"]) from None
        if not isinstance(observation, dict):
            raise _invalid([f"{path}:{number}: an observation must be a JSON object"])
        yield number, observation


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Observations, one JSON object per line.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file with the analysis settings (a plan's analysis)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    mode: Annotated[
        str, typer.Option("--mode", help="compare (canary vs baseline) or health.")
    ] = "compare",
    conclude: Annotated[
        bool,
        typer.Option("--conclude", help="Apply the end-of-step rule if no verdict is final."),
    ] = False,
) -> None:
    """Replay observations in order, looking after each; exit 0 pass, 1 fail, 3 inconclusive."""
    if mode not in ("compare", "health"):
        raise _invalid([f"--mode must be compare or health, got {mode!r}"])
    settings = None
    if config is not None:
        try:
            settings = parse_document(_read(config), AnalysisConfig, source=str(config))
        except PlanError as error:
            raise _invalid(error.problems) from None
    judge = Judge(settings, mode="health" if mode == "health" else "compare")
    verdict = judge.verdict
    for number, observation in _observations(file, _read(file)):
        try:
            verdict = judge.update(observation)
        except ValueError as error:
            raise _invalid([f"{file}:{number}: {error}"]) from None
        if verdict.decided_at is not None:
            break
    if conclude:
        verdict = judge.conclude()
    _print(verdict, as_json)
    raise typer.Exit({"pass": 0, "fail": 1}.get(verdict.verdict, 3))


def _print(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2))
        return
    style = _STYLE[verdict.verdict]
    decided = "" if verdict.decided_at is None else f" at t={verdict.decided_at:g}"
    console.print(f"[{style}]{verdict.verdict}[/{style}]{decided}: {escape(verdict.reason)}")
    for metric in verdict.metrics:
        mark = _STYLE[metric.verdict]
        console.print(f"  [{mark}]{metric.verdict:>12}[/{mark}]  {escape(metric.reason)}")
