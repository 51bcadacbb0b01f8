"""Rollouts, their steps and their leases: states, attempts and what each change journals."""

from __future__ import annotations

import secrets
import time
from typing import Any

from rollsafe.errors import ConflictError, NotFoundError
from rollsafe.journal import canonical_json
from rollsafe.journal.kinds import Kind, request_kind, rollout_kind, step_kind
from rollsafe.journal.payloads import RolloutCreated, RolloutMoved, RolloutRequest, StepMoved
from rollsafe.store import rows as record
from rollsafe.store.records import Rollout, RolloutState, StepRecord, StepState
from rollsafe.store.transaction import Reader, Transaction, found


def create(
    tx: Transaction,
    *,
    service: str,
    plan_path: str,
    plan_text: str,
    steps: list[tuple[str, dict[str, Any]]],
    actor: str,
) -> str:
    """A new pending rollout with pending steps; its id."""
    rollout_id = f"ro-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
    now = time.time()
    tx.execute(
        "INSERT INTO rollouts (id, service, plan_path, plan_text, state, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rollout_id, service, plan_path, plan_text, RolloutState.PENDING.value, now, now),
    )
    for index, (kind, spec) in enumerate(steps):
        tx.execute(
            "INSERT INTO steps (rollout_id, idx, kind, spec, state) VALUES (?, ?, ?, ?, ?)",
            (rollout_id, index, kind, canonical_json(spec), StepState.PENDING.value),
        )
    data: RolloutCreated = {
        "service": service,
        "plan_path": plan_path,
        "steps": [{"kind": kind, **spec} for kind, spec in steps],
    }
    tx.journal(Kind.ROLLOUT_CREATED, data, actor=actor, rollout_id=rollout_id)
    return rollout_id


def get(db: Reader, rollout_id: str) -> Rollout:
    row = db.one("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
    if row is None:
        raise NotFoundError(f"no rollout {rollout_id!r}")
    return record.rollout(row)


def latest(db: Reader, limit: int) -> list[Rollout]:
    rows = db.all(
        'SELECT * FROM rollouts ORDER BY created_at DESC, id COLLATE "C" LIMIT ?', (limit,)
    )
    return [record.rollout(row) for row in rows]


def steps(db: Reader, rollout_id: str) -> list[StepRecord]:
    get(db, rollout_id)
    rows = db.all("SELECT * FROM steps WHERE rollout_id = ? ORDER BY idx", (rollout_id,))
    return [record.step(row) for row in rows]


_STEP = "SELECT * FROM steps WHERE rollout_id = ? AND idx = ?"


def set_step_state(
    tx: Transaction,
    rollout_id: str,
    index: int,
    state: StepState,
    *,
    result: dict[str, Any] | None,
    actor: str,
) -> StepRecord:
    """Move a step; running counts an attempt and makes it the rollout's current step."""
    now = time.time()
    row = tx.one(_STEP, (rollout_id, index))
    if row is None:
        raise NotFoundError(f"rollout {rollout_id!r} has no step {index}")
    step = record.step(row)
    attempts = step.attempts + (1 if state is StepState.RUNNING else 0)
    started_at = now if state is StepState.RUNNING else step.started_at
    ended_at = now if state in (StepState.SUCCEEDED, StepState.FAILED) else None
    result_text = canonical_json(result if result is not None else step.result)
    tx.execute(
        "UPDATE steps SET state = ?, attempts = ?, started_at = ?, ended_at = ?,"
        " result = ? WHERE rollout_id = ? AND idx = ?",
        (state.value, attempts, started_at, ended_at, result_text, rollout_id, index),
    )
    if state is StepState.RUNNING:
        tx.execute(
            "UPDATE rollouts SET step_index = ?, updated_at = ? WHERE id = ?",
            (index, now, rollout_id),
        )
    data: StepMoved = {"index": index, "kind": step.kind, "attempt": attempts}
    if state is StepState.RUNNING:
        data["spec"] = step.spec
    if result is not None:
        data["result"] = result
    tx.journal(step_kind(state), data, actor=actor, rollout_id=rollout_id)
    return record.step(found(tx.one(_STEP, (rollout_id, index))))


def set_state(
    tx: Transaction,
    rollout_id: str,
    state: RolloutState,
    *,
    actor: str,
    reason: str,
    step_index: int | None,
    expected: set[RolloutState] | None,
) -> None:
    """Move a rollout, only from an ``expected`` state if given; a final state clears requests."""
    row = tx.one("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
    if row is None:
        raise NotFoundError(f"no rollout {rollout_id!r}")
    current = RolloutState(row["state"])
    if expected is not None and current not in expected:
        allowed = ", ".join(sorted(expected))
        raise ConflictError(
            f"rollout {rollout_id} is {current}, not {allowed}; nothing was changed"
        )
    index = row["step_index"] if step_index is None else step_index
    requested = None if state.is_final else row["requested"]
    tx.execute(
        "UPDATE rollouts SET state = ?, reason = ?, step_index = ?, updated_at = ?,"
        " requested = ? WHERE id = ?",
        (state.value, reason, index, time.time(), requested, rollout_id),
    )
    data: RolloutMoved = {"from": current, "to": state, "step_index": index}
    if reason:
        data["reason"] = reason
    tx.journal(rollout_kind(state), data, actor=actor, rollout_id=rollout_id)


def request(
    tx: Transaction, rollout_id: str, command: str | None, *, actor: str, reason: str
) -> None:
    """Leave ``pause``, ``abort`` or ``rollback`` for the owner (None clears it)."""
    row = tx.one("SELECT state, reason FROM rollouts WHERE id = ?", (rollout_id,))
    if row is None:
        raise NotFoundError(f"no rollout {rollout_id!r}")
    if RolloutState(row["state"]).is_final and command is not None:
        raise ConflictError(f"rollout {rollout_id} is already {row['state']}")
    tx.execute(
        "UPDATE rollouts SET requested = ?, updated_at = ?, reason = ? WHERE id = ?",
        (command, time.time(), reason or row["reason"], rollout_id),
    )
    data: RolloutRequest = {"reason": reason} if reason else {}
    tx.journal(request_kind(command), data, actor=actor, rollout_id=rollout_id)


def acquire_lease(
    tx: Transaction, rollout_id: str, owner: str, ttl: float, *, take_over_from: str | None
) -> bool:
    """Claim or renew; a live lease of another owner is taken only if it is ``take_over_from``.

    The check and the write share one transaction, serialised with every other
    write, so of two controllers taking over from the same dead owner only the
    first succeeds.
    """
    now = tx.now()
    row = tx.one("SELECT owner, lease_until FROM rollouts WHERE id = ?", (rollout_id,))
    if row is None:
        raise NotFoundError(f"no rollout {rollout_id!r}")
    current = row["owner"]
    held_by_other = current not in (None, owner) and (row["lease_until"] or 0.0) > now
    if held_by_other and current != take_over_from:
        return False
    tx.execute(
        "UPDATE rollouts SET owner = ?, lease_until = ? WHERE id = ?",
        (owner, now + ttl, rollout_id),
    )
    if current != owner:
        tx.journal(
            Kind.ROLLOUT_LEASE_ACQUIRED,
            {"owner": owner, "previous_owner": current, "taken_over": held_by_other},
            actor=owner,
            rollout_id=rollout_id,
        )
    return True


def release_lease(tx: Transaction, rollout_id: str, owner: str) -> None:
    tx.execute(
        "UPDATE rollouts SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?",
        (rollout_id, owner),
    )
