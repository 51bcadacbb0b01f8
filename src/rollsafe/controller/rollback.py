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

Verification respects each guard's ``for``: a guard breaches it only when its
condition has held at every look for its ``for`` and still holds at the end,
as when it guards a rollout. A rate, quantile or instance guard whose ``for``
is longer than ``verify.for`` must hold for the whole verification instead
(a service still failing throughout is not recovered). A growth guard
(``memory_growth``) whose ``for`` is longer than the verification is not
judged: a slope over a few seconds of a freshly started process measures its
warm-up, not a leak. Such guards are listed under ``not_judged``.

Rolling back needs no metric source: without one, verification rests on the
health checks alone and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from typing import Any

from rollsafe.config.guards import Guard
from rollsafe.controller.adapters import build_source
from rollsafe.controller.context import BASELINE_EVENT, StepContext
from rollsafe.controller.restores import restore_level
from rollsafe.errors import MetricsError, NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature
from rollsafe.guards import GuardEvaluator
from rollsafe.judge import Judge

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
    applied = [record for record in done if not record.get("skipped")]
    if applied and applied[-1].get("recovered") and not undo:
        return _finished(applied, undo=False, journal=None)
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
    records = list(applied)
    ran = {record["name"] for record in done}
    started_before = {
        entry.data["name"]
        for entry in context.store.journal(context.rollout_id)
        if entry.kind == "rollback.level_started"
    }
    for name in levels:
        if name in ran:
            continue
        if undo and up_to is None and name == "restore" and any(r["recovered"] for r in records):
            break
        if name == "flags" and not context.plan.flags:
            skipped = {"level": LEVEL_NUMBERS[name], "name": name, "skipped": True}
            context.journal("rollback.level_skipped", {**skipped, "reason": NO_FLAGS})
            continue
        record = _run_level(context, name, actions[name], resumed=name in started_before)
        records.append(record)
        if record["recovered"] and not undo:
            break
    if context.traffic is not None and context.traffic.target.canary_release() is not None:
        # Recovered before level 2 (flags off sufficed): a rolled-back rollout still
        # leaves no canary release serving.
        release = context.traffic.remove_canary()
        context.journal("rollback.canary_removed", {"release": release})
    return _finished(records, undo=undo, journal=context)


NO_FLAGS = "the plan has no flags, so there is nothing to turn off"


def _finished(
    records: list[dict[str, Any]], *, undo: bool, journal: StepContext | None
) -> dict[str, Any]:
    """The rollback's outcome: whether and how the service recovered (journaled once)."""
    recovered = [r for r in records if r["recovered"]]
    # A rollback ends at the level that recovered; an undo at the last level it ran.
    final = (records[-1] if undo else recovered[0]) if recovered else None
    result = {
        "ok": bool(recovered),
        "levels": records,
        "final_level": final["level"] if final else None,
        "recovered_by": _credit(final) if final else None,
    }
    if journal is not None:
        journal.journal("rollback.finished", result)
    return result


def _credit(record: dict[str, Any]) -> str:
    """The action that recovered the service, as a person should read it."""
    if record.get("changed", True):
        return f"rollback level {record['level']} ({record['name']})"
    release = (record.get("result") or {}).get("release")
    live = f" ({release} was live again)" if release else ""
    return (
        f"no rollback action: the failed step had already reverted itself{live}; "
        f"level {record['level']} ({record['name']}) changed nothing and verified it"
    )


def _levels_done(context: StepContext) -> list[dict[str, Any]]:
    return [
        dict(entry.data)
        for entry in context.store.journal(context.rollout_id)
        if entry.kind in ("rollback.level_ended", "rollback.level_skipped")
    ]


def _run_level(
    context: StepContext, name: str, action: Callable[[], dict[str, Any]], *, resumed: bool
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
    context.journal("rollback.level_ended", record)
    return record


def _changed(name: str, result: dict[str, Any]) -> bool:
    if name == "flags":
        return bool(result.get("flags_off"))
    if name == "release":
        return bool(result.get("changed"))
    return True


def verify_recovery(context: StepContext) -> dict[str, Any]:
    """Health checks pass and guards and the health analysis stay quiet for ``verify.for``."""
    policy = context.plan.rollback.verify
    guards = VerificationGuards(context.plan.guards, policy.for_, policy.interval)
    judge = Judge(context.plan.analysis, mode="health")
    started = time.monotonic()
    looks = metrics_failures = unhealthy_looks = 0
    with closing(build_source(context.plan, context.target)) as source:
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
            guards.update(t, observations, report.expected - report.healthy_count)
            for observation in observations:
                judge.update(observation)
            if t >= policy.for_:
                break
            time.sleep(min(policy.interval, max(policy.for_ - t, 0.05)))
    breaches = guards.breaches()
    verdict = judge.verdict
    result: dict[str, Any] = {
        "looks": looks,
        "seconds": round(time.monotonic() - started, 3),
        "healthy": True,
        "breaches": breaches,
        "analysis": verdict.verdict,
    }
    if guards.not_judged:
        result["not_judged"] = guards.not_judged
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


class VerificationGuards:
    """The plan's critical and major guards, judged with their ``for`` over a verification.

    Each guard has an evaluator of its own, so its events and breaches are its own.
    See the module docstring for what a ``for`` longer than the verification means.
    """

    def __init__(self, guards: Sequence[Guard], seconds: float, interval: float) -> None:
        # A rate has its first value at the second look: that is how long it can be seen to hold.
        observable = max(seconds - interval, 0.0)
        self.not_judged: list[dict[str, Any]] = []
        self._evaluators: dict[str, GuardEvaluator] = {}
        self._held: set[str] = set()
        for guard in guards:
            if guard.severity == "minor":
                continue
            if guard.for_ > seconds and guard.metric == "memory_growth":
                self.not_judged.append(
                    {
                        "guard": guard.name,
                        "for": guard.for_,
                        "verification": seconds,
                        "reason": "a growth slope needs its 'for' observed; "
                        "a fresh process's warm-up is not a leak",
                    }
                )
                continue
            # Longer than the verification: it must hold for all of it instead.
            judged = guard.model_copy(update={"for_": min(guard.for_, observable)})
            self._evaluators[guard.name] = GuardEvaluator([judged])

    def update(
        self, t: float, observations: Sequence[Mapping[str, Any]], failing_instances: int
    ) -> None:
        for name, evaluator in self._evaluators.items():
            for event in evaluator.update(t, observations, failing_instances):
                if event.kind in ("firing", "tripped"):
                    self._held.add(name)
                elif event.kind == "cleared":
                    self._held.discard(name)

    def breaches(self) -> list[dict[str, Any]]:
        """Guards that held for their ``for`` and still hold now."""
        return [
            {"guard": name, **breach}
            for name, evaluator in self._evaluators.items()
            if name in self._held
            for breach in evaluator.breaches()
        ]


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


def _restore(context: StepContext) -> dict[str, Any]:
    previous = _baseline_release(context)
    if previous is None:
        raise RollsafeError("no release was live before this rollout; nothing to go back to")
    return restore_level(context, previous)
