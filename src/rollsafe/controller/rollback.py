"""Undo a rollout: flags off first (the kill switch), then the previous release.

Needs no metric source: rolling back must never depend on the thing that may
be broken. Each level is journaled with its timing; running it again after a
crash finds the work already done and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rollsafe.controller.context import BASELINE_EVENT, StepContext
from rollsafe.errors import NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature


def roll_back(context: StepContext, reason: str) -> dict[str, Any]:
    context.journal("rollback.started", {"reason": reason})
    levels = [
        _level(context, 1, "flags", lambda: _flags_off(context)),
        _level(context, 2, "release", lambda: _previous_release(context)),
    ]
    ok = all(level["ok"] for level in levels)
    context.journal("rollback.finished", {"ok": ok, "levels": levels})
    return {"ok": ok, "levels": levels}


def _level(
    context: StepContext, number: int, name: str, action: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    context.journal("rollback.level_started", {"level": number, "name": name})
    started = time.monotonic()
    try:
        result, ok = action(), True
    except RollsafeError as error:
        result, ok = {"error": str(error)}, False
    record = {
        "level": number,
        "name": name,
        "ok": ok,
        "seconds": round(time.monotonic() - started, 3),
        **result,
    }
    context.journal("rollback.level_ended", record)
    return record


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


def _previous_release(context: StepContext) -> dict[str, Any]:
    """Back to the release that was live when the rollout started, if it changed since."""
    baseline = [e for e in context.store.journal(context.rollout_id) if e.kind == BASELINE_EVENT]
    previous = baseline[0].data.get("release") if baseline else None
    if previous is None or previous == context.target.current_release():
        return {"release": context.target.current_release(), "changed": False}
    changed = context.target.deploy(previous)
    return {"release": previous, "changed": changed}
