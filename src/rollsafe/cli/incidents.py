"""Incident reports for the rollouts that end unpromoted, by whichever command saw the end.

A rollout ends either in the foreground (``rollout start``, ``resume``, ``abort``)
or on a long-running ``controller run``; both write the same report to the same
place. The controller gets this as its ``on_ended`` callback because reports sit
in a layer above it.
"""

from __future__ import annotations

from pathlib import Path

from rollsafe.store import Rollout, RolloutState, Store

INCIDENT_STATES = frozenset({RolloutState.FAILED, RolloutState.ROLLED_BACK, RolloutState.ABORTED})


def write_incident_if_due(home: Path, store: Store, rollout: Rollout) -> Path | None:
    """``reports/<id>/incident.md`` (and ``.json``, ``.html``) in ``home`` when ``rollout``
    ended unpromoted: its path, or None when the rollout needs no report."""
    from rollsafe.charts.series import plan_of
    from rollsafe.report import write_incident

    if rollout.state not in INCIDENT_STATES:
        return None
    plan = plan_of(rollout.plan_path, rollout.plan_text)
    return write_incident(home / "reports" / rollout.id, store.journal(rollout.id), plan=plan)
