"""What a person may do to a rollout or a flag from the server: the dashboard's buttons and
the ``/api/admin/rollouts`` routes both call these, so both journal the same way.

The server drives no rollout itself (it is not a controller): each action leaves
its word in the store, journaled with the caller as actor, and the rollout's
controller acts on it. A pause or abort is a request the owner sees within a
look; an approval is the journal entry the waiting step looks for; a resume
moves a paused rollout back to running with no owner, which a ``rollsafe
controller run`` claims (and ``rollsafe rollout resume`` takes over). An abort
of a paused rollout, which no controller drives, moves it to rolling back for
the same reason.
"""

from __future__ import annotations

from typing import Any

from rollsafe.controller import approvals
from rollsafe.errors import ConflictError
from rollsafe.store import Rollout, RolloutState, Store

ROLLOUT_ACTIONS = ("pause", "resume", "abort", "approve")
KILL_ATTEMPTS = 20


def act(store: Store, rollout_id: str, action: str, *, actor: str, comment: str = "") -> str:
    """Do ``action`` to a rollout; a sentence saying what was done (ConflictError if refused)."""
    if action == "approve":
        wait, approved = approvals.grant(store, rollout_id, actor=actor, comment=comment)
        if not approved and wait.granted is not None:
            return f"step {wait.index} was already approved by {wait.granted.actor}"
        return f"approved step {wait.index}; the rollout continues"
    rollout = store.get_rollout(rollout_id)
    if action == "pause":
        _refuse_final(rollout, "pause")
        store.request(rollout_id, "pause", actor=actor, reason=f"pause requested by {actor}")
        return "pause requested; the controller pauses after the current look or step"
    if action == "resume":
        if rollout.state is not RolloutState.PAUSED:
            raise ConflictError(f"rollout {rollout_id} is {rollout.state}, not paused")
        store.set_rollout_state(
            rollout_id,
            RolloutState.RUNNING,
            actor=actor,
            reason=f"resumed by {actor}",
            expected={RolloutState.PAUSED},
        )
        return "resumed: a controller (rollsafe controller run) continues it"
    if action == "abort":
        _refuse_final(rollout, "abort")
        store.request(rollout_id, "abort", actor=actor, reason=f"abort requested by {actor}")
        if rollout.state is RolloutState.PAUSED:
            store.set_rollout_state(
                rollout_id,
                RolloutState.ROLLING_BACK,
                actor=actor,
                reason=f"abort requested by {actor}",
                expected={RolloutState.PAUSED},
            )
            return "abort requested: a controller (rollsafe controller run) rolls it back"
        return "abort requested; the controller rolls back now"
    raise ConflictError(f"unknown action {action!r}; one of {', '.join(ROLLOUT_ACTIONS)}")


def _refuse_final(rollout: Rollout, action: str) -> None:
    if rollout.state.is_final:
        raise ConflictError(f"rollout {rollout.id} is already {rollout.state}; nothing to {action}")


def kill_flag(store: Store, name: str, environment: str, *, actor: str) -> tuple[Any, bool]:
    """Turn a flag off for everyone, retrying a concurrent edit; (record, changed)."""
    for _ in range(KILL_ATTEMPTS):
        record = store.get_flag(name, environment)
        if record.definition.get("enabled") is False:
            return record, False
        try:
            record = store.put_flag(
                name,
                {**record.definition, "enabled": False},
                actor=actor,
                expected_version=record.version,
                environment=environment,
            )
        except ConflictError:
            continue
        return record, True
    raise ConflictError(f"flag {name!r} kept changing; try the kill again")
