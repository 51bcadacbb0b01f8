"""Tiered rollback: L1 flags off, L2 the previous release, L3 restore the pre-rollout backup.

Levels run in the plan's order. After each one, verification: the instances
pass their health checks (failing twice in a row fails it) and, for
``verify.for`` seconds, no critical or major guard holds and the health
analysis does not fail. A level that fails or does not recover escalates to
the next. Each level's start, end, result and timing go in the journal, and a
controller resuming after a crash continues after the last level that ended
or was skipped, so no level runs twice; a level 3 restore cut short by a crash
is resumed by :mod:`rollsafe.controller.restores`, which never restores twice.

A level that can do nothing costs nothing: level 1 with no flags in the plan is
journaled as skipped (``rollback.level_skipped``, with the reason) and not
verified. The credit for recovering goes to the action that did it: a level
whose action changed nothing (the failed deploy had already reverted itself)
is recorded as such, and ``recovered_by`` says so instead of naming that level.

Verification (:mod:`rollsafe.controller.verification`) respects the guards'
``for``: a fresh process's warm-up is not read as a leak.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rollsafe.controller.context import StepContext
from rollsafe.controller.restores import restore_level
from rollsafe.controller.verification import verify_recovery
from rollsafe.errors import NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    LevelEnded,
    LevelSkipped,
    RollbackFinished,
    RollbackStarted,
    baseline_release,
    levels_ended,
    levels_skipped,
    rollback_finished,
)

LEVEL_NUMBERS = {"flags": 1, "release": 2, "restore": 3}


def roll_back(
    context: StepContext, reason: str, *, undo: bool = False, up_to: int | None = None
) -> RollbackFinished:
    """Run the levels not yet run; returns ``ok`` and the level records (also journaled).

    A rollback stops at the first level that recovers the service. An ``undo``
    (an abort by a person) reverts everything the rollout changed instead: flags
    and release, whatever recovers first; data is restored only if still needed.
    ``up_to`` (a rollback by hand) runs every plan level up to that number.
    """
    journal = context.store.journal(context.rollout_id)
    applied, skipped_before = levels_ended(journal), levels_skipped(journal)
    if applied and applied[-1].get("recovered") and not undo:
        # Killed after the level that recovered: journal the outcome if it never was.
        journaled = rollback_finished(journal) is not None
        return _finished(applied, undo=False, journal=None if journaled else context)
    levels: list[str] = [
        name
        for name in context.plan.rollback.levels
        if up_to is None or LEVEL_NUMBERS[name] <= up_to
    ]
    if not applied and not skipped_before:
        started: RollbackStarted = {"reason": reason, "levels": levels, "undo": undo}
        context.journal(Kind.ROLLBACK_STARTED, started)
    actions: dict[str, Callable[[], dict[str, Any]]] = {
        "flags": lambda: _flags_off(context),
        "release": lambda: _previous_release(context),
        "restore": lambda: _restore(context),
    }
    records = list(applied)
    ran = {record["name"] for record in [*applied, *skipped_before]}
    started_before = {
        entry.data["name"] for entry in journal if entry.kind == Kind.ROLLBACK_LEVEL_STARTED
    }
    for name in levels:
        if name in ran:
            continue
        if undo and up_to is None and name == "restore" and any(r["recovered"] for r in records):
            break
        if name == "flags" and not context.plan.flags and levels[-1] != name:
            # Nothing to turn off, and a later level can act: verifying a no-op would
            # only cost verify.for. As the only level left, it still verifies what runs
            # (a failed step may have reverted itself), so the outcome is not a guess.
            skipped = LevelSkipped(
                level=LEVEL_NUMBERS[name], name=name, skipped=True, reason=NO_FLAGS
            )
            context.journal(Kind.ROLLBACK_LEVEL_SKIPPED, skipped)
            continue
        record = _run_level(context, name, actions[name], resumed=name in started_before)
        records.append(record)
        if record["recovered"] and not undo:
            break
    if context.traffic is not None and context.traffic.target.canary_release() is not None:
        # Recovered before level 2 (flags off sufficed): a rolled-back rollout still
        # leaves no canary release serving.
        release = context.traffic.remove_canary()
        context.journal(Kind.ROLLBACK_CANARY_REMOVED, {"release": release})
    return _finished(records, undo=undo, journal=context)


NO_FLAGS = "the plan has no flags, so there is nothing to turn off"


def _finished(
    records: list[LevelEnded], *, undo: bool, journal: StepContext | None
) -> RollbackFinished:
    """The rollback's outcome: whether and how the service recovered (journaled once)."""
    recovered = [r for r in records if r["recovered"]]
    # A rollback ends at the level that recovered; an undo at the last level it ran.
    final = (records[-1] if undo else recovered[0]) if recovered else None
    result: RollbackFinished = {
        "ok": bool(recovered),
        "levels": records,
        "final_level": final["level"] if final else None,
        "recovered_by": _credit(final) if final else None,
    }
    if journal is not None:
        journal.journal(Kind.ROLLBACK_FINISHED, result)
    return result


def _credit(record: LevelEnded) -> str:
    """The action that recovered the service, as a person should read it."""
    if record.get("changed", True):
        return f"rollback level {record['level']} ({record['name']})"
    release = (record.get("result") or {}).get("release")
    live = f" ({release} was live again)" if release else ""
    return (
        f"no rollback action: the failed step had already reverted itself{live}; "
        f"level {record['level']} ({record['name']}) changed nothing and verified it"
    )


def _run_level(
    context: StepContext, name: str, action: Callable[[], dict[str, Any]], *, resumed: bool
) -> LevelEnded:
    number = LEVEL_NUMBERS[name]
    context.journal(Kind.ROLLBACK_LEVEL_STARTED, {"level": number, "name": name})
    started, wall_started = time.monotonic(), time.time()
    try:
        result, applied = action(), True
    except RollsafeError as error:
        result, applied = {"error": str(error)}, False
    acted = time.monotonic()
    verification = (
        verify_recovery(context)
        if applied
        else {"recovered": False, "skipped": True, "reason": f"not applied: {result['error']}"}
    )
    record: LevelEnded = {
        "level": number,
        "name": name,
        "applied": applied,
        # Did the action change anything? After a crash mid-level it may have, before.
        "changed": resumed or _changed(name, result),
        "recovered": bool(verification["recovered"]),
        "started": wall_started,
        "ended": time.time(),
        "action_seconds": round(acted - started, 3),
        "seconds": round(time.monotonic() - started, 3),
        "result": result,
        "verification": verification,
    }
    context.journal(Kind.ROLLBACK_LEVEL_ENDED, record)
    return record


def _changed(name: str, result: dict[str, Any]) -> bool:
    if name == "flags":
        return bool(result.get("flags_off"))
    if name == "release":
        return bool(result.get("changed"))
    return True


def _flags_off(context: StepContext) -> dict[str, Any]:
    changed = []
    for flag in context.plan.flags:
        off = rollout_feature(flag.name, 0, enabled=False)
        try:
            if context.store.get_flag(flag.name).definition == off:
                continue
        except NotFoundError:
            continue  # never created, so nothing to turn off
        context.store.put_flag(flag.name, off, actor=context.actor, rollout_id=context.rollout_id)
        changed.append(flag.name)
    return {"flags_off": changed}


def _baseline_release(context: StepContext) -> str | None:
    return baseline_release(context.store.journal(context.rollout_id))


def _previous_release(context: StepContext) -> dict[str, Any]:
    """A canary's traffic back to the stable instances and the canary stopped; then back
    to the release that was live when the rollout started, if it changed since."""
    canary = None
    if context.traffic is not None and context.traffic.target.canary_release() is not None:
        canary = context.traffic.remove_canary()
    previous = _baseline_release(context)
    if previous is None or previous == context.target.current_release():
        current = context.target.current_release()
        return {"release": current, "changed": canary is not None, "canary_stopped": canary}
    changed = context.target.deploy(previous)
    return {"release": previous, "changed": changed or canary is not None, "canary_stopped": canary}


def _restore(context: StepContext) -> dict[str, Any]:
    previous = _baseline_release(context)
    if previous is None:
        raise RollsafeError("no release was live before this rollout; nothing to go back to")
    return restore_level(context, previous)
