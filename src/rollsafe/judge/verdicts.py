"""What the judge returns: a verdict with the evidence for each metric."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollsafe.journal.payloads.verdicts import (
    Basis,
    JsonNumber,
    MetricVerdictRecord,
    Outcome,
    VerdictRecord,
)

__all__ = ["Basis", "MetricVerdict", "Outcome", "Verdict"]


def _number(value: float | None) -> JsonNumber:
    """JSON has no infinities or NaN: write them as strings."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class MetricVerdict:
    """One metric's evidence.

    ``arms`` holds counts or values per arm (``canary``/``baseline``, or ``all``
    in health mode). ``estimate`` with ``low``/``high`` is the effect named by
    ``effect`` and its anytime-valid confidence interval at level ``1 - alpha``.
    ``e_value`` is the evidence that the canary is worse beyond the margins: the
    metric fails when it reaches ``threshold`` (``number of tests / alpha``).
    ``pass_e_value`` is the evidence that it is not worse (passes at ``1/alpha``).
    """

    name: str
    kind: str
    verdict: Outcome
    reason: str
    arms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    effect: str = ""
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    e_value: float = 1.0
    threshold: float = math.inf
    pass_e_value: float = 1.0

    def to_dict(self) -> MetricVerdictRecord:
        """What the journal records (`rollsafe.journal.payloads.verdicts`)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "verdict": self.verdict,
            "reason": self.reason,
            "arms": {
                arm: {key: _number(value) for key, value in values.items()}
                for arm, values in self.arms.items()
            },
            "effect": self.effect,
            "estimate": _number(self.estimate),
            "low": _number(self.low),
            "high": _number(self.high),
            "e_value": _number(self.e_value),
            "threshold": _number(self.threshold),
            "pass_e_value": _number(self.pass_e_value),
        }


class Verdict:
    """The judge's answer after a look.

    ``verdict`` is ``"pass"``, ``"fail"`` or ``"inconclusive"``. ``decided_at`` is
    the ``t`` of the observation at which the verdict became final, or None while
    it is not. ``basis`` says how a final verdict was reached: ``"sequential"``
    (the evidence crossed a threshold) or ``"duration"`` (:meth:`Judge.conclude`
    at the end of an analysis step). ``metrics`` is built on first access.
    """

    __slots__ = (
        "_build",
        "_metrics",
        "basis",
        "decided_at",
        "early_pass",
        "looks",
        "reason",
        "t",
        "verdict",
    )

    def __init__(
        self,
        verdict: Outcome,
        *,
        decided_at: float | None,
        t: float | None,
        looks: int,
        reason: str,
        basis: Basis | None = None,
        metrics: Sequence[MetricVerdict] | Callable[[], list[MetricVerdict]] = (),
        early_pass: dict[str, Any] | None = None,
    ) -> None:
        self.verdict: Outcome = verdict
        self.decided_at = decided_at
        self.t = t
        self.looks = looks
        self.reason = reason
        self.basis: Basis | None = basis
        self.early_pass = early_pass
        """For a pass before the step's duration on non-inferiority evidence
        (rollsafe.judge.noninferiority): the comparisons, traffic and time; else None."""
        if callable(metrics):
            self._build: Callable[[], list[MetricVerdict]] | None = metrics
            self._metrics: list[MetricVerdict] | None = None
        else:
            self._build = None
            self._metrics = list(metrics)

    @property
    def final(self) -> bool:
        """The verdict will not change: decided, or concluded at the end of a step."""
        return self.decided_at is not None or self.basis is not None

    @property
    def metrics(self) -> list[MetricVerdict]:
        if self._metrics is None:
            build, self._build = self._build, None
            self._metrics = build() if build is not None else []
        return self._metrics

    def to_dict(self) -> VerdictRecord:
        """What the journal records (`rollsafe.journal.payloads.verdicts`)."""
        result: VerdictRecord = {
            "verdict": self.verdict,
            "decided_at": self.decided_at,
            "basis": self.basis,
            "t": self.t,
            "looks": self.looks,
            "reason": self.reason,
            "metrics": [metric.to_dict() for metric in self.metrics],
        }
        if self.early_pass is not None:
            result["early_pass"] = self.early_pass
        return result

    def __repr__(self) -> str:
        return (
            f"Verdict({self.verdict!r}, decided_at={self.decided_at!r}, t={self.t!r}, "
            f"reason={self.reason!r})"
        )
