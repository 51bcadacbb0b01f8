"""The ``analysis.verdict`` entry: the judge's decision on an analysis step, with its evidence.

Written by `rollsafe.controller.analysis` (and the same dict is the analysis
step's result, so a ``step.failed`` entry of an analysis step holds it under
``result``); the judge's own part, `VerdictRecord`, is what
`rollsafe.judge.Verdict.to_dict` returns. Read back by the incident report
(the trigger and its evidence), the charts, the demo's timeline, the CLI's live
lines, the dashboard and notifications.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of

Outcome = Literal["pass", "fail", "inconclusive"]
Basis = Literal["sequential", "duration"]
JsonNumber = float | str | None
"""A number as journaled: JSON has no infinity or NaN, so those are written as strings."""


class MetricVerdictRecord(TypedDict):
    """One metric's evidence (`rollsafe.judge.MetricVerdict`)."""

    name: str
    kind: str
    verdict: Outcome
    reason: str
    arms: dict[str, dict[str, JsonNumber]]
    """Counts or values per arm (``canary``/``baseline``, or ``all`` in health mode)."""
    effect: str
    estimate: JsonNumber
    low: JsonNumber
    high: JsonNumber
    """The effect named by ``effect`` and its anytime-valid confidence interval."""
    e_value: JsonNumber
    threshold: JsonNumber
    """The evidence the canary is worse, and the e-value at which the metric fails."""
    pass_e_value: JsonNumber


class VerdictRecord(TypedDict):
    """The judge's verdict (`rollsafe.judge.Verdict`)."""

    verdict: Outcome
    decided_at: float | None
    basis: Basis | None
    t: float | None
    looks: int
    reason: str
    metrics: list[MetricVerdictRecord]
    early_pass: NotRequired[dict[str, Any]]
    """Only for a pass before the step's duration: the comparisons, traffic and time."""


class ReferenceRecord(TypedDict):
    """What the ``analysis.verdict`` entry of a health step records of its reference."""

    steps: int
    """How many earlier compare steps' baseline counts were pooled."""
    events: float
    trials: float
    alpha: float
    """The alpha of the baseline's confidence bound (the test got the judge's alpha minus it)."""
    bound: float
    """The upper end of the anytime-valid confidence bound on the baseline's error rate."""
    relative_margin: float
    absolute_margin: float
    derived_ceiling: float
    """``bound x (1 + relative_margin) + absolute_margin``."""
    configured_ceiling: float
    """``max_error_rate``."""
    ceiling: float
    """The ceiling the health step tested: the smaller of the two."""
    applied: bool
    """False when the derived ceiling is not below the configured one: the step judged
    as without a reference, with all of alpha."""


class AnalysisVerdict(TypedDict):
    """An ``analysis.verdict`` entry, and an analysis step's result."""

    mode: str
    looks: int
    failed_looks: int
    elapsed: float
    verdict: VerdictRecord
    passed_early: NotRequired[bool]
    """Only when the step passed before its duration (an ``analysis.passed_early`` precedes)."""
    meaningful_evidence: NotRequired[str | None]
    """Only for an inconclusive verdict under ``on_inconclusive: rollback``: why the evidence
    against the canary is meaningful, or None when it is not."""
    continued: NotRequired[str]
    """Only when weak evidence let the rollout go on: why."""
    carried: NotRequired[bool]
    """Only when the step's judge went on from the previous analysis step's (weak evidence
    let the rollout go on): its counts include that step's, which a reader must not add twice."""
    reference: NotRequired[ReferenceRecord]
    """Only for a health step after compare steps of the same rollout: the baseline's error
    rate there and the ceiling it implies (`rollsafe.judge.reference`)."""


def analysis_verdict(entry: JournalEntry) -> AnalysisVerdict:
    """An ``analysis.verdict`` entry's data (a copy)."""
    return cast(AnalysisVerdict, data_of(entry, Kind.ANALYSIS_VERDICT))


def outcome_of(entry: JournalEntry) -> Outcome:
    """The judge's verdict (pass, fail, inconclusive) an ``analysis.verdict`` entry records."""
    return analysis_verdict(entry)["verdict"]["verdict"]


def step_verdict(result: Mapping[str, Any]) -> VerdictRecord | None:
    """The verdict in a step's result (an analysis step's), or None for a result without one."""
    verdict = result.get("verdict")
    return cast(VerdictRecord, verdict) if isinstance(verdict, Mapping) else None


def deciding_metrics(verdict: VerdictRecord) -> list[MetricVerdictRecord]:
    """The metrics whose own verdict is the step's: the evidence for its decision."""
    return [m for m in verdict["metrics"] if m["verdict"] == verdict["verdict"]]
