"""Tiered rollback: L1 flags off, L2 the previous release, L3 restore the pre-rollout backup.

Levels run in the plan's order. After each one, verification: the instances
pass their health checks (failing twice in a row fails it) and, for
``verify.for`` seconds, no critical or major guard holds and the health
analysis does not fail. A level that fails or does not recover escalates to
the next. Each level's start, end, result and timing go in the journal, and a
controller resuming after a crash continues after the last level that ended,
so no level (a restore least of all) runs twice.

Rolling back needs no metric source: without one, verification rests on the
health checks alone and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from rollsafe.backup import restore_backup
from rollsafe.backup.manifests import backup_file
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.controller.context import BASELINE_EVENT, StepContext
from rollsafe.errors import BackupError, MetricsError, NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature
from rollsafe.guards import GuardEvaluator
from rollsafe.judge import Judge
from rollsafe.store import BackupRecord

LEVEL_NUMBERS = {"flags": 1, "release": 2, "restore": 3}
UNHEALTHY_LOOKS = 2
"""Consecutive failed health checks that make a level's verification fail."""


def roll_back(
    context: StepContext, reason: str, *, undo: bool = False, up_to: int | None = None
) -> dict[str, Any]:
    """Run the levels not yet run; returns ``ok`` and the level records (also journaled).

    A rollback stops at the first level that recovers the service. An ``undo``
    (an abort by a person) reverts everything the rollout changed instead: flags
    and release, whatever recovers first; data is restored only if still needed.
    ``up_to`` (a rollback by hand) runs every plan level up to that number.
    """
    done = _levels_done(context)
    if done and done[-1].get("recovered") and not undo:
        return {"ok": True, "levels": done, "final_level": done[-1]["level"]}
    levels = [
        name
        for name in context.plan.rollback.levels
        if up_to is None or LEVEL_NUMBERS[name] <= up_to
    ]
    if not done:
        context.journal("rollback.started", {"reason": reason, "levels": levels, "undo": undo})
    actions: dict[str, Callable[[], dict[str, Any]]] = {
        "flags": lambda: _flags_off(context),
        "release": lambda: _previous_release(context),
        "restore": lambda: _restore(context),
    }
    records = list(done)
    ran = {record["name"] for record in done}
    for name in levels:
        if name in ran:
            continue
        if undo and up_to is None and name == "restore" and any(r["recovered"] for r in records):
            break
        record = _run_level(context, name, actions[name])
        records.append(record)
        if record["recovered"] and not undo:
            break
    if context.traffic is not None and context.traffic.target.canary_release() is not None:
        # Recovered before level 2 (flags off sufficed): a rolled-back rollout still
        # leaves no canary release serving.
        release = context.traffic.remove_canary()
        context.journal("rollback.canary_removed", {"release": release})
    recovered = [r for r in records if r["recovered"]]
    # A rollback ends at the level that recovered; an undo at the last level it ran.
    final_level = (records[-1] if undo else recovered[0])["level"] if recovered else None
    context.journal(
        "rollback.finished",
        {"ok": bool(recovered), "final_level": final_level, "levels": records},
    )
    return {"ok": bool(recovered), "levels": records, "final_level": final_level}


def _levels_done(context: StepContext) -> list[dict[str, Any]]:
    return [
        dict(entry.data)
        for entry in context.store.journal(context.rollout_id)
        if entry.kind == "rollback.level_ended"
    ]


def _run_level(
    context: StepContext, name: str, action: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    number = LEVEL_NUMBERS[name]
    context.journal("rollback.level_started", {"level": number, "name": name})
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
    record = {
        "level": number,
        "name": name,
        "applied": applied,
        "recovered": bool(verification["recovered"]),
        "started": wall_started,
        "ended": time.time(),
        "action_seconds": round(acted - started, 3),
        "seconds": round(time.monotonic() - started, 3),
        "result": result,
        "verification": verification,
    }
    context.journal("rollback.level_ended", record)
    return record


def verify_recovery(context: StepContext) -> dict[str, Any]:
    """Health checks pass and guards and the health analysis stay quiet for ``verify.for``."""
    policy = context.plan.rollback.verify
    evaluator = GuardEvaluator(context.plan.guards)
    judge = Judge(context.plan.analysis, mode="health")
    started = time.monotonic()
    looks = metrics_failures = unhealthy_looks = 0
    with closing(context.adapters.source(context.plan, context.target)) as source:
        while True:
            t = round(time.monotonic() - started, 3)
            report = context.target.check_health()
            if not report.healthy:
                # Twice in a row: one probe that timed out on a busy machine must not
                # escalate to the next level (a restore, at worst) on its own.
                unhealthy_looks += 1
                if unhealthy_looks >= UNHEALTHY_LOOKS or t >= policy.for_:
                    return {
                        "recovered": False,
                        "reason": "health: " + "; ".join(report.reasons),
                        "t": t,
                    }
                time.sleep(policy.interval)
                continue
            unhealthy_looks = 0
            try:
                observations = source.observe(t)
            except MetricsError:
                metrics_failures += 1
                observations = []
            looks += 1
            evaluator.update(t, observations, report.expected - report.healthy_count)
            for observation in observations:
                judge.update(observation)
            if t >= policy.for_:
                break
            time.sleep(min(policy.interval, max(policy.for_ - t, 0.05)))
    breaches = evaluator.breaches()
    verdict = judge.verdict
    result: dict[str, Any] = {
        "looks": looks,
        "seconds": round(time.monotonic() - started, 3),
        "healthy": True,
        "breaches": breaches,
        "analysis": verdict.verdict,
    }
    if metrics_failures == looks:
        result["note"] = "metrics unavailable: verified by health checks alone"
    if breaches:
        names = ", ".join(
            f"{b['metric']}={b['value']:.4g} > {b['threshold']:.4g}" for b in breaches
        )
        return {**result, "recovered": False, "reason": f"guards still breached: {names}"}
    if verdict.verdict == "fail":
        return {**result, "recovered": False, "reason": f"health analysis failed: {verdict.reason}"}
    return {**result, "recovered": True, "reason": "healthy, guards quiet"}


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
    baseline = [e for e in context.store.journal(context.rollout_id) if e.kind == BASELINE_EVENT]
    release = baseline[0].data.get("release") if baseline else None
    return str(release) if release is not None else None


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


def _destination(context: StepContext, backup: BackupRecord) -> tuple[Path | str, float]:
    """Where ``backup`` goes back to, and how long its restore may take."""
    if backup.kind != "postgres":
        return Path(backup.manifest["from"]), 600.0
    # The manifest names the database without its password; the plan's source has it.
    source = next((s for s in context.plan.backups if s.name == backup.source), None)
    if not isinstance(source, PostgresBackupSource):
        raise BackupError(
            f"backup {backup.id}: the plan declares no postgres source {backup.source!r}"
            " to restore it into"
        )
    return source.resolve_url(), source.timeout


def _verification(backup: BackupRecord, outcome: dict[str, Any]) -> dict[str, Any]:
    """The restored data against the backup's manifest: row counts, and checksums if it has them."""
    expected_counts = backup.manifest.get("tables")
    expected_sums = backup.manifest.get("checksums")
    where = outcome.get("restored")
    if expected_counts is not None and outcome.get("tables") != expected_counts:
        raise BackupError(
            f"restored {where} has tables {outcome.get('tables')}, "
            f"the backup recorded {expected_counts}; staying in maintenance"
        )
    if expected_sums is not None and outcome.get("checksums") != expected_sums:
        differ = sorted(
            table
            for table, checksum in expected_sums.items()
            if (outcome.get("checksums") or {}).get(table) != checksum
        )
        raise BackupError(
            f"restored {where}: rows of {', '.join(differ)} differ from the backup;"
            " staying in maintenance"
        )
    return {
        "sha256": "matched before the restore",
        "tables": len(expected_counts or {}),
        "rows": sum((expected_counts or {}).values()),
        "row_counts": "equal to the backup" if expected_counts is not None else "not recorded",
        "checksums": "equal to the backup" if expected_sums is not None else "not recorded",
    }


def _restore(context: StepContext) -> dict[str, Any]:
    """Maintenance on, stop, restore this rollout's backups, start the previous release."""
    backups = [b for b in context.store.list_backups() if b.rollout_id == context.rollout_id]
    if not backups:
        raise BackupError("this rollout took no backup, so there is nothing to restore")
    previous = _baseline_release(context)
    if previous is None:
        raise RollsafeError("no release was live before this rollout; nothing to go back to")
    # Every destination is known (a database URL from its environment variable too)
    # before the service is touched: a missing one fails the level with the service up.
    destinations = [(backup, *_destination(context, backup)) for backup in backups]
    target = context.target
    target.set_maintenance(True)
    context.journal("rollback.maintenance", {"on": True})
    target.stop()
    restored = []
    for backup, destination, timeout in destinations:
        try:
            outcome = restore_backup(
                backup_file(backup.path, context.home),
                backup.kind,
                backup.sha256,
                destination,
                manifest=backup.manifest,
                timeout=timeout,
            )
        except BackupError as error:
            raise BackupError(f"{error}; staying in maintenance") from error
        verification = _verification(backup, outcome)
        restored.append({"backup": backup.id, "sha256": backup.sha256, "verified": True, **outcome})
        context.journal(
            "backup.restored",
            {"id": backup.id, "kind": backup.kind, **outcome, "verification": verification},
        )
    target.deploy(previous)
    target.set_maintenance(False)
    context.journal("rollback.maintenance", {"on": False})
    return {"release": previous, "restored": restored}
