"""``rollsafe judge replay``: run the judge over recorded observations (JSON lines)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from rollsafe.cli.exits import Exit
from rollsafe.cli.output import console, print_json, reported_errors
from rollsafe.errors import PlanError

if TYPE_CHECKING:
    from rollsafe.config import AnalysisConfig

app = typer.Typer(help="Replay observations through the canary judge.", no_args_is_help=True)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Observations, one JSON object per line.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Analysis settings (YAML), as a plan's analysis."),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="compare or health.")] = "compare",
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Look after every observation, as the controller does; exit 1 on fail, 4 when
    still inconclusive (missing evidence never passes, in a CI job either)."""
    from rollsafe.judge import replay as replay_observations

    with reported_errors():
        if mode not in ("compare", "health"):
            raise PlanError([f"--mode: must be compare or health, got {mode!r}"])
        analysis = _load_config(config) if config else None
        fed = _Numbered(_observations(file))
        try:
            verdict = replay_observations(
                fed, analysis, mode="compare" if mode == "compare" else "health"
            )
        except ValueError as error:  # the judge's word for an observation it cannot use
            raise PlanError(
                [f"{file}:{fed.line}: cannot judge this observation: {error}"]
            ) from None
    if as_json:
        print_json(verdict.to_dict())
    else:
        colour = {"pass": "green", "fail": "red"}.get(verdict.verdict, "yellow")
        decided = f" at t={verdict.decided_at}" if verdict.decided_at is not None else ""
        console.print(f"[{colour}]{verdict.verdict}[/{colour}]{decided}: {verdict.reason}")
        table = Table("metric", "verdict", "e-value", "reason")
        for metric in verdict.metrics:
            table.add_row(metric.name, metric.verdict, f"{metric.e_value:.3g}", metric.reason)
        console.print(table)
    if verdict.verdict != "pass":
        raise typer.Exit(Exit.ERROR if verdict.verdict == "fail" else Exit.PAUSED)


def _load_config(path: Path) -> AnalysisConfig:
    # Read as plans are: a regular file of bounded size, never a FIFO that blocks.
    from rollsafe.config import AnalysisConfig, parse_document, read_plan_text

    return parse_document(read_plan_text(path), AnalysisConfig, source=str(path))


def _observations(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Each line one Observation with its line number; a bad line is an error naming it,
    before any verdict."""
    from rollsafe.judge import check_observation

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError([f"{path}: cannot read: {error}"]) from None
    parsed = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            raise PlanError([f"{path}:{number}: not JSON: {error}"]) from None
        except RecursionError:
            raise PlanError(
                [f"{path}:{number}: not JSON an observation can be: nested too deeply"]
            ) from None
        if not isinstance(value, dict) or "t" not in value or "arm" not in value:
            raise PlanError([f"{path}:{number}: an observation needs at least 't' and 'arm'"])
        try:
            check_observation(value)
        except ValueError as error:
            raise PlanError([f"{path}:{number}: {error}"]) from None
        parsed.append((number, value))
    return parsed


class _Numbered(Iterator[dict[str, Any]]):
    """Yields the observations, remembering the line of the one the judge is taking."""

    def __init__(self, observations: list[tuple[int, dict[str, Any]]]) -> None:
        self._rest = iter(observations)
        self.line = 0

    def __next__(self) -> dict[str, Any]:
        self.line, observation = next(self._rest)
        return observation
