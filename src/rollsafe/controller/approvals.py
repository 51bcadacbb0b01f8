"""Approval gates: an ``approve`` step waits until a person approves, in the journal.

The wait lives in the journal, not in the controller's memory: the step journals
``approval.waiting`` (with its deadline, wall-clock) when it starts, a person's
approval is an ``approval.granted`` entry with that person as actor, and a
timeout is ``approval.timed_out``. A controller killed while waiting is replaced
by one that finds the open wait in the journal and goes on waiting for it, with
the same deadline; an approval given while no controller was alive is found
at once. A wait ends for good with a timeout or a pause (a paused step waits
anew, with a fresh timeout, when resumed).

`grant` is what the dashboard, the API and ``rollsafe rollout approve`` call.
It accepts an approval only while the rollout's current step is an approve
step that is waiting, so an approval cannot be left in advance for a gate that
has not been reached.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollsafe.config.approvals import ApproveStep
from rollsafe.controller.context import StepContext, StepOutcome
from rollsafe.errors import ConflictError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.store import RolloutState, StepState, Store

POLL = 0.25
"""Seconds between looks at the journal for an approval (and at the store for requests)."""

_ENDS_A_WAIT = {Kind.APPROVAL_TIMED_OUT, Kind.ROLLOUT_PAUSED}


@dataclass(frozen=True)
class Wait:
    """An approve step's open wait, as the journal records it."""

    index: int
    seq: int
    """The ``approval.waiting`` entry's sequence number: approvals after it count."""
    started_at: float
    deadline: float | None
    message: str
    granted: JournalEntry | None
    """The approval, once given."""

    def to_dict(self) -> dict[str, Any]:
        granted = self.granted
        return {
            "index": self.index,
            "waiting_since": self.started_at,
            "deadline": self.deadline,
            "message": self.message,
            "approved_by": granted.actor if granted is not None else None,
        }


def open_wait(entries: Sequence[JournalEntry], index: int) -> Wait | None:
    """The wait of step ``index`` still open in ``entries`` (one rollout's, in order), if any.

    A wait is open from its ``approval.waiting`` entry until a timeout or a pause;
    an approval does not close it (the step has yet to see it, and must).
    """
    wait: Wait | None = None
    for entry in entries:
        kind = entry.kind
        if kind == Kind.APPROVAL_WAITING and entry.data.get("index") == index:
            data = entry.data
            wait = Wait(
                index, entry.seq, entry.ts, data.get("deadline"), data.get("message", ""), None
            )
        elif wait is None:
            continue
        elif kind in _ENDS_A_WAIT and (
            kind == Kind.ROLLOUT_PAUSED or entry.data.get("index") == index
        ):
            wait = None
        elif (
            kind == Kind.APPROVAL_GRANTED
            and entry.data.get("index") == index
            and wait.granted is None
        ):
            wait = Wait(wait.index, wait.seq, wait.started_at, wait.deadline, wait.message, entry)
    return wait


def waiting(store: Store, rollout_id: str) -> Wait | None:
    """The approval ``rollout_id`` waits for now, or None when it waits for none."""
    rollout = store.get_rollout(rollout_id)
    if rollout.state is not RolloutState.RUNNING:
        return None
    steps = store.steps(rollout_id)
    if not 0 <= rollout.step_index < len(steps):
        return None
    step = steps[rollout.step_index]
    if step.kind != "approve" or step.state is not StepState.RUNNING:
        return None
    return open_wait(store.journal(rollout_id), step.index)


def grant(store: Store, rollout_id: str, *, actor: str, comment: str = "") -> tuple[Wait, bool]:
    """Approve the step ``rollout_id`` waits at; ConflictError if it waits for no approval.

    Returns the wait and whether this call approved it (False: it already was,
    by the actor in ``wait.granted``): approving twice is harmless.
    """
    wait = waiting(store, rollout_id)
    if wait is None:
        rollout = store.get_rollout(rollout_id)
        raise ConflictError(
            f"rollout {rollout_id} is {rollout.state} at step {rollout.step_index} "
            "and waits for no approval; nothing was changed"
        )
    if wait.granted is not None:
        return wait, False
    data: dict[str, Any] = {"index": wait.index, "waiting_seq": wait.seq}
    if comment:
        data["comment"] = comment[:500]
    entry = store.append(Kind.APPROVAL_GRANTED, data, actor=actor, rollout_id=rollout_id)
    return Wait(wait.index, wait.seq, wait.started_at, wait.deadline, wait.message, entry), True


def run_approve(context: StepContext, spec: ApproveStep) -> StepOutcome:
    """Wait for an approval, a request (pause, abort, a guard's rollback) or the timeout."""
    store, rollout_id = context.store, context.rollout_id
    index = store.get_rollout(rollout_id).step_index
    entries = store.journal(rollout_id)
    wait = open_wait(entries, index)
    if wait is None:
        deadline = time.time() + spec.timeout if spec.timeout is not None else None
        data = {
            "index": index,
            "message": spec.message,
            "timeout": spec.timeout,
            "on_timeout": spec.on_timeout if spec.timeout is not None else None,
            "deadline": deadline,
        }
        entry = store.append(
            Kind.APPROVAL_WAITING, data, actor=context.actor, rollout_id=rollout_id
        )
        entries = [*entries, entry]
        wait = open_wait(entries, index)
        assert wait is not None  # just journaled
    last_seq = entries[-1].seq
    while True:
        if wait.granted is not None:
            return StepOutcome(
                "succeeded",
                {
                    "approved_by": wait.granted.actor,
                    "waited": round(wait.granted.ts - wait.started_at, 3),
                    **({"comment": c} if (c := wait.granted.data.get("comment")) else {}),
                },
            )
        if request := context.requested():
            return context.interruption(request)
        if wait.deadline is not None and time.time() >= wait.deadline:
            return _timed_out(context, spec, wait)
        time.sleep(POLL)
        new = store.journal(rollout_id, after_seq=last_seq)
        if new:
            last_seq = new[-1].seq
            granted = next(
                (
                    e
                    for e in new
                    if e.kind == Kind.APPROVAL_GRANTED and e.data.get("index") == index
                ),
                None,
            )
            if granted is not None:
                wait = Wait(
                    wait.index, wait.seq, wait.started_at, wait.deadline, wait.message, granted
                )


def _timed_out(context: StepContext, spec: ApproveStep, wait: Wait) -> StepOutcome:
    waited = round(time.time() - wait.started_at, 3)
    outcome = spec.on_timeout
    context.journal(
        Kind.APPROVAL_TIMED_OUT, {"index": wait.index, "waited": waited, "outcome": outcome}
    )
    result = {"approved_by": None, "timed_out": True, "waited": waited, "outcome": outcome}
    reason = f"approval not given within {spec.timeout:g}s"
    if outcome == "continue":
        return StepOutcome("succeeded", result)
    if outcome == "rollback":
        return StepOutcome("failed", result, reason=f"{reason}: rolling back")
    return StepOutcome(
        "paused",
        result,
        reason=f"{reason}: paused; resume to wait again, or abort",
        rerun_on_resume=True,
    )
