"""A health step's reference, read from the rollout's journal (`rollsafe.judge.reference`).

The counts come from the ``analysis.verdict`` entries of this rollout's earlier
compare steps, not from memory: a controller that crashes and resumes before the
health step finds the same entries, hence the same reference and the same ceiling.
"""

from __future__ import annotations

from collections.abc import Iterable

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import AnalysisVerdict, analysis_verdict
from rollsafe.judge.reference import RateReference, error_metric


def health_reference(
    entries: Iterable[JournalEntry], config: AnalysisConfig
) -> RateReference | None:
    """The baseline's error counts over the compare steps in ``entries``, or None without any.

    A step whose judge went on from the previous step's (``carried``) recorded the
    counts of both: it replaces the previous step's contribution instead of adding to it.
    """
    name = error_metric(config).name
    counts: list[tuple[float, float]] = []
    steps = 0
    for entry in entries:
        if entry.kind != Kind.ANALYSIS_VERDICT:
            continue
        verdict = analysis_verdict(entry)
        if verdict.get("mode") != "compare":
            continue
        found = _baseline_counts(verdict, name)
        if found is None:
            continue
        if verdict.get("carried") and counts:
            counts.pop()
        counts.append(found)
        steps += 1
    trials = sum(n for _, n in counts)
    if trials <= 0:
        return None
    return RateReference.of(config, sum(x for x, _ in counts), trials, steps)


def _baseline_counts(verdict: AnalysisVerdict, name: str) -> tuple[float, float] | None:
    for metric in verdict["verdict"].get("metrics") or []:
        if metric.get("kind") != "ratio" or metric.get("name") != name:
            continue
        baseline = (metric.get("arms") or {}).get("baseline") or {}
        events, trials = baseline.get("events"), baseline.get("trials")
        # Non-finite numbers are journaled as strings: those, and nonsense, count as no data.
        if (
            isinstance(events, int | float)
            and isinstance(trials, int | float)
            and 0 <= events <= trials
        ):
            return float(events), float(trials)
    return None
