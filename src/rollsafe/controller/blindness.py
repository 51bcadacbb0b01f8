"""Blindness is loud: when the guards or an analysis have had no data for too long.

A failed look is ordinary (journaled as ``guard.metrics_unavailable`` or
``analysis.metrics_error``); a source that fails every look for
``analysis.blind_after`` seconds means nobody is watching the release. Then one
``metrics.blind`` entry is journaled, which the CLI prints live, the plan's
webhooks send (it is a default notification event) and the incident report
lists; and the rollout does what ``on_blind`` says: pause (the default, see
:class:`rollsafe.config.AnalysisConfig`) or roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import MetricsBlind

BLIND_EVENT = Kind.METRICS_BLIND

Watcher = Literal["guards", "analysis"]


@dataclass
class Blindness:
    """Since when a watcher has had no data, and whether that was already reported."""

    watcher: Watcher
    after: float
    action: Literal["pause", "rollback"]
    since: float | None = None
    """``t`` of the first failed look of the current outage; None while seeing."""
    reported: bool = False

    def saw(self) -> None:
        """A look succeeded: the outage, if any, is over."""
        self.since, self.reported = None, False

    def missed(self, t: float, *, final: bool = False) -> bool:
        """A look failed at ``t``; True once per outage, when it has lasted ``after``
        (or at once when ``final``: the watcher stops with no data at all)."""
        if self.since is None:
            self.since = t
        if self.reported or (t - self.since < self.after and not final):
            return False
        self.reported = True
        return True

    def entry(self, t: float, error: str) -> MetricsBlind:
        """The ``metrics.blind`` journal data."""
        return {
            "watcher": self.watcher,
            "t": t,
            "since": self.since,
            "blind_for": round(self._blind_for(t), 3),
            "error": error,
            "action": self.action,
        }

    def reason(self, t: float, error: str) -> str:
        seconds = round(self._blind_for(t), 1)
        return (
            f"{self.watcher} blind: no metrics for {seconds:g}s ({error}); "
            f"on_blind is {self.action}"
        )

    def _blind_for(self, t: float) -> float:
        # An outage from t = 0.0 on is one too: ``since or t`` would read it as none.
        return t - self.since if self.since is not None else 0.0
