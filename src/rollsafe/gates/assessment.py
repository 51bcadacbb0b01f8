"""Score one git range end to end: git, the coverage report, the journal's rollbacks.

The one place `rollsafe risk` and the controller (when it creates a rollout)
turn a range into a `RiskScore`, so both say the same thing about the same change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from rollsafe.errors import RiskInputError
from rollsafe.gates import git
from rollsafe.gates.coverage import read_cobertura
from rollsafe.gates.history import rollback_counts
from rollsafe.gates.risk import RiskScore, collect, score
from rollsafe.journal import JournalEntry


def release_files(repo: Path) -> Callable[[str, str], list[str]]:
    """Files changed between two releases named as git revisions; [] when they are not."""

    def resolve(base: str, head: str) -> list[str]:
        try:
            span = git.resolve_range(repo, f"{base}..{head}")
        except RiskInputError:
            return []
        return [change.path for change in git.changed_files(repo, span)]

    return resolve


def assess_range(
    repo: Path,
    span_text: str,
    *,
    critical_paths: Sequence[str] = (),
    coverage: Path | None = None,
    weights: Mapping[str, float] | None = None,
    journal: Iterable[JournalEntry] = (),
) -> RiskScore:
    """The risk of ``BASE..HEAD`` in ``repo``; `RiskInputError` for a bad range or report."""
    span = git.resolve_range(repo, span_text)
    files = git.changed_files(repo, span)
    report = read_cobertura(coverage) if coverage is not None else None
    evidence = collect(
        span_text,
        len(git.commits(repo, span)),
        files,
        critical_paths=critical_paths,
        added=git.added_lines(repo, span) if report is not None else None,
        coverage=report,
        rollback_counts=rollback_counts(journal, release_files(repo)),
    )
    try:
        return score(evidence, weights)
    except ValueError as error:
        raise RiskInputError(f"risk weights: {error}") from None
