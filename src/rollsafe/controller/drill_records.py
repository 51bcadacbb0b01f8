"""Finding the last drill of a service, and refusing a rollout whose plan wants a fresher one.

A drill (:mod:`rollsafe.controller.drills`) is a rollout whose stored plan text
starts with `DRILL_HEADER`; its result is its ``drill.finished`` entry. Kept
apart from the drill itself so the runner can check ``drill.require_within``
when a rollout is created without importing what drives drills.
"""

from __future__ import annotations

import time

from rollsafe.config import Plan
from rollsafe.errors import DrillRequiredError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import drill_finished
from rollsafe.store import Rollout, Store

DRILL_HEADER = "# rollsafe drill: generated from the plan below; not a rollout to promote\n"
"""The first line of a drill rollout's stored plan text: marks the rollout as a drill."""
LOOKBACK = 500
"""The newest rollouts searched for the last drill of a service."""


def is_drill(rollout: Rollout) -> bool:
    """Whether ``rollout`` is a rollback drill (``rollsafe drill``), not a real rollout."""
    return rollout.plan_text.startswith(DRILL_HEADER)


def last_drill(store: Store, service: str, *, passed: bool = False) -> JournalEntry | None:
    """The newest ``drill.finished`` of ``service`` (only successful ones with ``passed``)."""
    for rollout in store.list_rollouts(limit=LOOKBACK):
        if rollout.service != service or not is_drill(rollout):
            continue
        for entry in reversed(store.journal(rollout.id)):
            if entry.kind != Kind.DRILL_FINISHED:
                continue
            if drill_finished(entry).get("ok") or not passed:
                return entry
    return None


def require_fresh_drill(store: Store, plan: Plan, *, now: float | None = None) -> None:
    """Refuse (`DrillRequiredError`) a rollout whose plan wants a more recent passed drill."""
    within = plan.drill.require_within
    if within is None:
        return
    now = time.time() if now is None else now
    entry = last_drill(store, plan.service, passed=True)
    wanted = f"this plan requires a passed rollback drill of {plan.service} within {_age(within)}"
    advice = "run 'rollsafe drill PLAN' first"
    if entry is None:
        raise DrillRequiredError(f"{wanted}; there is none: {advice}")
    age = now - entry.ts
    if age > within:
        raise DrillRequiredError(
            f"{wanted}; the last one ({entry.rollout_id}) passed {_age(age)} ago: {advice}"
        )


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
