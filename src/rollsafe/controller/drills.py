"""Rollback drills: deploy the candidate, deliberately roll it back level by level, time it.

A drill is a rollout of its own, made from the plan: the steps that change the
service (backup, deploy, canary, flag) in the plan's order, none of its analysis,
pauses or promotion, and ``rollback.levels`` narrowed to the levels drilled. Once
those steps ran, every drilled level runs in escalation order whether or not an
earlier one recovered the service (an undo, as ``rollsafe rollback --level``
does), so each is timed: level 2 really redeploys the previous release after
level 1 turned the flags off, and level 3 really stops the service and restores
the data taken by the drill's own backup step, verifying each restored table's
row count against the backup. The rollback is the controller's own (levels,
verification, journal), so a drill exercises exactly what a real rollback runs.

Each level's time (action, verification, and for level 3 the data restore
itself) is compared with the plan's ``drill.targets``; the drill passes when
every level ran, recovered the service and stayed within its target. The result
is journaled (``drill.finished``) on the drill's rollout, where
:mod:`rollsafe.controller.drill_records` finds it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from rollsafe.config import Plan, load_plan, read_plan_text
from rollsafe.config.guards import RollbackLevel
from rollsafe.controller.drill_records import DRILL_HEADER
from rollsafe.controller.rollback import LEVEL_NUMBERS
from rollsafe.controller.runner import Controller
from rollsafe.errors import ConflictError, PlanError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    DrilledLevel,
    DrilledRestore,
    DrillFinished,
    DrillStarted,
    LevelEnded,
    levels_ended,
    levels_skipped,
)
from rollsafe.store import Rollout, RolloutState

DRILLED_STEPS = ("backup", "deploy", "canary", "flag")
"""The plan's steps a drill runs: those that change the service (and the backup)."""
LEVEL_NAMES: dict[int, RollbackLevel] = {1: "flags", 2: "release", 3: "restore"}


@dataclass(frozen=True)
class DrillRun:
    rollout: Rollout
    result: DrillFinished
    """What ``drill.finished`` journals: each level's timings against its target."""


def drill_levels(plan: Plan, numbers: list[int] | None) -> list[RollbackLevel]:
    """The levels to drill, in escalation order: ``numbers`` (``--levels``), else the plan's
    ``drill.levels``, else its ``rollback.levels``. A level the plan cannot run is refused."""
    if numbers is not None:
        unknown = sorted({n for n in numbers if n not in LEVEL_NAMES})
        if unknown or not numbers:
            raise PlanError([f"--levels: must name levels 1, 2 or 3, got {numbers}"])
        names = [LEVEL_NAMES[n] for n in sorted(set(numbers))]
    else:
        names = sorted(plan.drill.levels or plan.rollback.levels, key=LEVEL_NUMBERS.__getitem__)
    if "restore" in names and not plan.backups:
        raise PlanError(["level 3 restores the data from a backup: the plan declares no backups"])
    if not any(step.kind in ("deploy", "canary") for step in plan.steps) and "release" in names:
        raise PlanError(["level 2 needs a candidate: the plan has no deploy or canary step"])
    return names


def drill_plan_text(text: str, levels: list[RollbackLevel]) -> str:
    """The plan as a drill runs it: changing steps only (a backup first when level 3 is
    drilled), ``rollback.levels`` set to the drilled levels, and no notifications."""
    data = yaml.safe_load(text)
    steps = [
        step
        for step in data["steps"]
        if isinstance(step, dict) and next(iter(step), None) in DRILLED_STEPS
    ]
    if "restore" in levels and not any("backup" in step for step in steps):
        steps.insert(0, {"backup": None})
    data["steps"] = steps
    data["rollback"] = {**(data.get("rollback") or {}), "levels": list(levels)}
    data["notify"] = []  # a drill's rollback pages nobody; its report and journal record it
    return DRILL_HEADER + yaml.safe_dump(data, sort_keys=False)


@dataclass(frozen=True)
class Drill:
    """A drill created in the store, not yet run."""

    rollout: Rollout
    plan_path: Path
    service: str
    levels: list[RollbackLevel]
    targets: dict[str, float]


def create_drill(
    controller: Controller, plan_path: Path, numbers: list[int] | None, *, actor: str = "drill"
) -> Drill:
    """Validate the plan and the levels (PlanError, nothing written); record the drill."""
    store = controller.store
    text = read_plan_text(plan_path)
    plan = load_plan(plan_path, text, on_disk=True)
    levels = drill_levels(plan, numbers)
    drill_text = drill_plan_text(text, levels)
    drilled = load_plan(plan_path, drill_text)  # what the controller will load; refused here
    if not drilled.steps:
        raise PlanError([f"{plan_path}: steps: nothing to drill (no backup, deploy or flag step)"])
    busy = [r for r in store.list_rollouts() if r.service == plan.service and not r.state.is_final]
    if busy:
        raise ConflictError(
            f"rollout {busy[0].id} of {plan.service} is {busy[0].state}: a drill would fight it"
            " over the same target; let it end (or abort it) first"
        )
    rollout = store.create_rollout(
        service=plan.service,
        plan_path=str(plan_path.resolve()),
        plan_text=drill_text,
        steps=[(step.kind, step.spec.model_dump(mode="json")) for step in drilled.steps],
        actor=actor,
    )
    targets: dict[str, float] = {name: plan.drill.targets.of(name) for name in levels}
    started: DrillStarted = {
        "service": plan.service,
        "plan": str(plan_path),
        "levels": list(levels),
        "targets": targets,
    }
    store.append(Kind.DRILL_STARTED, started, actor=actor, rollout_id=rollout.id)
    return Drill(rollout, plan_path, plan.service, levels, targets)


def run_drill(controller: Controller, drill: Drill, *, actor: str = "drill") -> DrillRun:
    """Deploy the candidate, then run and time each drilled level; the result is journaled."""
    store = controller.store
    rollout_id = drill.rollout.id
    started = time.time()
    deployed = controller.run(rollout_id)
    if deployed.state is RolloutState.PROMOTED:
        deepest = max(LEVEL_NUMBERS[name] for name in drill.levels)
        ended = controller.roll_back_to(rollout_id, deepest, actor=actor)
        problem = None
    else:  # the candidate did not deploy (or rolled itself back): nothing to drill
        ended, problem = deployed, f"the candidate did not deploy: {deployed.reason}"
    journal = store.journal(rollout_id)
    records = [_level(journal, name, drill.targets[name]) for name in drill.levels]
    failures = [problem] if problem else []
    failures += [record["problem"] for record in records if record.get("problem")]
    result: DrillFinished = {
        "service": drill.service,
        "plan": str(drill.plan_path),
        "rollout": rollout_id,
        "ok": not failures,
        "problems": failures,
        "state": str(ended.state),
        "started": started,
        "ended": time.time(),
        "levels": records,
    }
    store.append(Kind.DRILL_FINISHED, result, actor=actor, rollout_id=rollout_id)
    return DrillRun(store.get_rollout(rollout_id), result)


def _level(journal: list[JournalEntry], name: RollbackLevel, target: float) -> DrilledLevel:
    """One drilled level's record: timings against ``target``, restored rows for level 3."""
    number = LEVEL_NUMBERS[name]
    ended = [level for level in levels_ended(journal) if level["level"] == number]
    skipped = [level for level in levels_skipped(journal) if level["level"] == number]
    if not ended:
        reason = skipped[0].get("reason") if skipped else "it did not run"
        return {
            "level": number,
            "name": name,
            "target_seconds": target,
            "ran": False,
            "problem": f"level {number} ({name}) was not drilled: {reason}",
        }
    data = ended[0]
    seconds = float(data["seconds"])
    action = float(data["action_seconds"])
    record: DrilledLevel = {
        "level": number,
        "name": name,
        "target_seconds": target,
        "ran": True,
        "applied": bool(data["applied"]),
        "recovered": bool(data["recovered"]),
        "action_seconds": action,
        "verification_seconds": round(seconds - action, 3),
        "seconds": seconds,
        "within_target": seconds <= target,
        "changed": bool(data.get("changed", True)),
    }
    if name == "restore":
        record["restore_seconds"], record["restored"] = _restore(journal, data)
    if not data["applied"]:
        record["problem"] = f"level {number} ({name}) failed: {data['result'].get('error')}"
    elif not record["changed"]:
        record["problem"] = (
            f"level {number} ({name}) changed nothing, so it was not really drilled "
            "(was the candidate already live, or are the plan's flags never turned on?)"
        )
    elif not data["recovered"]:
        why = data["verification"].get("reason") or "verification failed"
        record["problem"] = f"level {number} ({name}) did not recover the service: {why}"
    elif seconds > target:
        record["problem"] = (
            f"level {number} ({name}) took {seconds:.1f}s, over its target of {target:g}s"
        )
    return record


def _restore(
    journal: list[JournalEntry], data: LevelEnded
) -> tuple[float | None, list[DrilledRestore]]:
    """The data restore of level 3: how long it took and each restored table's rows."""
    level = [e for e in journal if e.ts >= data["started"]]
    restored = [e for e in level if e.kind == Kind.BACKUP_RESTORED]
    began = next((e.ts for e in level if e.kind == Kind.ROLLBACK_MAINTENANCE), None)
    backups: list[DrilledRestore] = [
        {
            "backup": e.data["id"],
            "kind": e.data["kind"],
            "tables": e.data.get("tables") or {},
            "rows": sum((e.data.get("tables") or {}).values()),
            "row_counts": e.data["verification"]["row_counts"],
        }
        for e in restored
    ]
    seconds = round(restored[-1].ts - began, 3) if restored and began is not None else None
    return seconds, backups
