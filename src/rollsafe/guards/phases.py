"""Prometheus alerting's ``for`` with the runbooks' severities: one alert's phase over looks.

Shared by the threshold guards (:mod:`rollsafe.guards.evaluator`) and the SLO
burn-rate guards (:mod:`rollsafe.slo.guards`), so both mean the same by
pending, firing and tripped. An alert becomes *pending* the first look its
condition holds, *fires* once it has held at every look for ``for`` seconds,
and any look where it does not hold resets it. On firing: critical trips (roll
back now); major trips unless the condition clears within ``grace``; minor only
notifies. A tripped alert stays tripped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Phase(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    TRIPPED = "tripped"


@dataclass
class Alerting:
    """The phase of one alert; :meth:`step` feeds it a look and says what happened."""

    severity: str
    for_: float
    grace: float = 0.0
    phase: Phase = Phase.INACTIVE
    since: float | None = None
    fired_at: float | None = None

    def step(self, t: float, holds: bool) -> list[str]:
        """The events of this look, in order: ``cleared``, or ``firing`` and/or ``tripped``."""
        if self.phase is Phase.TRIPPED:
            return []
        if not holds:
            cleared = self.phase is Phase.FIRING
            self.phase, self.since, self.fired_at = Phase.INACTIVE, None, None
            return ["cleared"] if cleared else []
        if self.phase is Phase.INACTIVE:
            self.phase, self.since = Phase.PENDING, t
        if self.phase is Phase.PENDING and self.since is not None and t - self.since >= self.for_:
            self.phase, self.fired_at = Phase.FIRING, t
            if self.severity == "critical" or (self.severity == "major" and self.grace <= 0):
                self.phase = Phase.TRIPPED
                return ["firing", "tripped"]
            return ["firing"]
        if (
            self.phase is Phase.FIRING
            and self.severity == "major"
            and self.fired_at is not None
            and t - self.fired_at >= self.grace
        ):
            self.phase = Phase.TRIPPED
            return ["tripped"]
        return []
