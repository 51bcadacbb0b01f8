"""What a received alert does: find the rollout it is about and set its rollback policy going.

An alert is about a rollout when its ``service`` label names the rollout's
service and, if the alert has them, its ``rollout`` label names the rollout's id
and its ``release`` label a release the rollout deploys. It must also have begun
after the rollout was created (give or take `CLOCK_SKEW`): an alert firing since
before (a known problem, possibly the one this rollout fixes) says nothing about
the rollout.

The server only writes to the store; it never touches a target. What it writes
depends on who will act:

- a pending or running rollout has a controller driving it: a ``rollback``
  request is left for it, exactly as a tripped guard leaves one (the step
  running sees it within a second; so does a controller resuming after a crash);
- a paused rollout, or one promoted less than ``rollback.watch`` ago, has none:
  it is moved to ``rolling_back`` in one transaction that checks it is still in
  the state it was read in, and a ``rollsafe controller run`` (or ``rollsafe
  rollout resume``) claims it and runs the plan's rollback levels, verified and
  journaled, from wherever a crash left them.

So rollback never depends on the flag server staying up, the server needs no
access to the service's hosts, and two replicas receiving the same alert cannot
roll back twice (the second finds a request pending, or a state that moved).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.config import load_plan
from rollsafe.errors import ConflictError, PlanError
from rollsafe.journal.kinds import Kind
from rollsafe.server.alertmanager import Alert, Notification
from rollsafe.store import Rollout, RolloutState, Store

ACTIVE = frozenset({RolloutState.PENDING, RolloutState.RUNNING})
"""Driven by a controller: it acts on a request."""
UNDRIVEN = frozenset({RolloutState.PAUSED, RolloutState.PROMOTED})
"""Nobody drives these: the server moves them to ``rolling_back`` for a controller to claim."""
CLOCK_SKEW = 5.0
"""Seconds an alert's ``startsAt`` may precede its rollout and still be about it: Prometheus
and Alertmanager stamp alerts with their hosts' clocks, not this one's."""
LOOKBACK = 100
"""The newest rollouts searched for a match (older ones are long final)."""


@dataclass(frozen=True)
class Outcome:
    action: str
    """``rollback`` (requested of the driving controller), ``rolling_back`` (handed to a
    controller to claim) or ``ignored``."""
    alert: Alert
    reason: str
    rollout_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "alert": self.alert.name,
            "reason": self.reason,
        }
        if self.alert.fingerprint:
            data["fingerprint"] = self.alert.fingerprint
        if self.rollout_id is not None:
            data["rollout"] = self.rollout_id
        return data


def handle(
    store: Store, notification: Notification, *, actor: str, now: float | None = None
) -> list[Outcome]:
    """Act on every alert of ``notification``; each outcome is journaled."""
    now = time.time() if now is None else now
    outcomes: list[Outcome] = []
    recent: list[Rollout] | None = None
    for alert in notification.alerts:
        if alert.status != "firing":
            outcomes.append(_ignore(store, notification, alert, "resolved", actor))
            continue
        service = alert.labels.get("service")
        if not service:
            outcomes.append(_ignore(store, notification, alert, "no service label to match", actor))
            continue
        if recent is None:
            recent = store.list_rollouts(limit=LOOKBACK)
        matched = [r for r in recent if _matches(r, alert)]
        if not matched:
            reason = f"no rollout of {service!r} matches its labels"
            outcomes.append(_ignore(store, notification, alert, reason, actor))
            continue
        for rollout in matched:
            outcomes.append(_act(store, notification, alert, rollout, actor, now))
    return outcomes


def _matches(rollout: Rollout, alert: Alert) -> bool:
    labels = alert.labels
    if rollout.service != labels.get("service"):
        return False
    return labels.get("rollout") in (None, rollout.id)


def _act(
    store: Store,
    notification: Notification,
    alert: Alert,
    rollout: Rollout,
    actor: str,
    now: float,
) -> Outcome:
    def ignore(reason: str) -> Outcome:
        return _ignore(store, notification, alert, reason, actor, rollout.id)

    try:
        plan = load_plan(Path(rollout.plan_path), rollout.plan_text)
    except PlanError as error:
        return ignore(f"its plan no longer loads: {error}")
    release = alert.labels.get("release")
    if release is not None and release not in _releases(plan.steps):
        return ignore(f"release {release!r} is not one this rollout deploys")
    if alert.starts_at < rollout.created_at - CLOCK_SKEW:
        return ignore("the alert began before the rollout was created")
    if rollout.state is RolloutState.PROMOTED and now - rollout.updated_at > plan.rollback.watch:
        watch = plan.rollback.watch
        return ignore(f"promoted {now - rollout.updated_at:.0f}s ago, after its watch ({watch:g}s)")
    if rollout.state not in ACTIVE | UNDRIVEN:
        return ignore(f"the rollout is {rollout.state}")
    if rollout.requested in ("rollback", "abort"):
        return ignore(f"a {rollout.requested} is already requested")
    reason = _reason(alert, notification)
    try:
        if rollout.state in ACTIVE:
            store.request(rollout.id, "rollback", actor=actor, reason=reason)
            action = "rollback"
        else:
            store.set_rollout_state(
                rollout.id,
                RolloutState.ROLLING_BACK,
                actor=actor,
                reason=reason,
                expected={rollout.state},
            )
            action = "rolling_back"
    except ConflictError as error:  # it moved on since it was read (ended, resumed)
        return ignore(str(error))
    data = {
        "alert": alert.to_dict(),
        "receiver": notification.receiver,
        "action": action,
        "from": str(rollout.state),
        "reason": reason,
    }
    store.append(Kind.ALERT_ROLLBACK, data, actor=actor, rollout_id=rollout.id)
    return Outcome(action, alert, reason, rollout.id)


def _releases(steps: list[Any]) -> set[str]:
    found = set()
    for step in steps:
        for kind in ("deploy", "canary"):
            spec = getattr(step, kind, None)
            if spec is not None:
                found.add(spec.release)
    return found


def _reason(alert: Alert, notification: Notification) -> str:
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    via = f" via receiver {notification.receiver}" if notification.receiver else ""
    detail = f": {summary}" if summary else ""
    return f"alert {alert.name} firing{via}{detail}"


def _ignore(
    store: Store,
    notification: Notification,
    alert: Alert,
    reason: str,
    actor: str,
    rollout_id: str | None = None,
) -> Outcome:
    data = {"alert": alert.to_dict(), "receiver": notification.receiver, "reason": reason}
    store.append(Kind.ALERT_IGNORED, data, actor=actor, rollout_id=rollout_id)
    return Outcome("ignored", alert, reason, rollout_id)
