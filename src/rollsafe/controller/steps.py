"""What each step kind does. Every step is idempotent: run twice, it applies once."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from rollsafe.backup import take_backup
from rollsafe.config.plan import (
    AnalysisStep,
    BackupStep,
    CanaryStep,
    DeployStep,
    FlagStep,
    PauseStep,
    PromoteStep,
    Step,
)
from rollsafe.controller.analysis import run_analysis
from rollsafe.controller.approvals import run_approve
from rollsafe.controller.context import StepContext, StepOutcome
from rollsafe.controller.loadgate import run_load
from rollsafe.controller.retries import with_retries
from rollsafe.controller.testgate import run_test_step
from rollsafe.errors import LeaseLostError, NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature


def run_step(context: StepContext, step: Step) -> StepOutcome:
    """Run ``step``; a transient error runs it again (journaled), any other fails it."""
    runner = _RUNNERS[step.kind]
    try:
        return with_retries(context, step.kind, lambda: runner(context, step.spec))
    except LeaseLostError:
        raise  # not the step's failure: another controller runs it again
    except RollsafeError as error:
        return StepOutcome("failed", {"error": str(error)}, reason=f"{step.kind} failed: {error}")
    except Exception as error:
        # A bug in a step must not leave a half-done rollout running unwatched: fail the
        # step, which rolls back (rollback uses none of the analysis code), and keep the trace.
        trace = traceback.format_exc(limit=8)
        return StepOutcome(
            "failed",
            {"error": repr(error), "traceback": trace},
            reason=f"{step.kind} step raised an internal error: {error!r}",
        )


def _backup(context: StepContext, spec: BackupStep) -> StepOutcome:
    wanted = spec.sources
    sources = [s for s in context.plan.backups if wanted is None or s.name in wanted]
    taken = {
        b.source: b for b in context.store.list_backups() if b.rollout_id == context.rollout_id
    }
    directory = context.home / "backups" / context.rollout_id
    results = []
    for source in sources:
        if source.name in taken:  # already taken before a crash: keep the first, pre-rollout copy
            results.append({"source": source.name, "id": taken[source.name].id, "reused": True})
            continue
        record = take_backup(
            source,
            directory,
            context.store,
            backup_id=f"{context.rollout_id}-{source.name}",
            rollout_id=context.rollout_id,
            actor=context.actor,
            home=context.home,
        )
        results.append({"source": source.name, "id": record.id, "sha256": record.sha256})
    return StepOutcome("succeeded", {"backups": results})


def _deploy(context: StepContext, spec: DeployStep) -> StepOutcome:
    before = context.target.current_release()
    changed = context.target.deploy(spec.release)
    # After a crash mid-deploy `current` may already name the release; `previous` still knows.
    previous = before if before not in (None, spec.release) else context.target.previous_release()
    result: dict[str, Any] = {"release": spec.release, "previous": previous, "changed": changed}
    if context.traffic is not None and context.traffic.target.canary_release() is not None:
        # The stable instances run the release now: the canary has nothing left to show.
        result["canary_stopped"] = context.traffic.remove_canary()
    return StepOutcome("succeeded", result)


def _canary(context: StepContext, spec: CanaryStep) -> StepOutcome:
    traffic = context.traffic
    if traffic is None:  # refused when the plan loads; kept for plans stored before
        raise RollsafeError("a canary step needs a router in the plan")
    started = traffic.target.deploy_canary(spec.release)
    split = traffic.shift(spec.weight)
    return StepOutcome("succeeded", {"release": spec.release, "started": started, **split})


def _flag(context: StepContext, spec: FlagStep) -> StepOutcome:
    definition = rollout_feature(spec.name, spec.rollout, enabled=spec.rollout > 0)
    try:
        current = context.store.get_flag(spec.name).definition
    except NotFoundError:
        current = None
    if current == definition:
        return StepOutcome(
            "succeeded", {"name": spec.name, "rollout": spec.rollout, "changed": False}
        )
    record = context.store.put_flag(
        spec.name, definition, actor=context.actor, rollout_id=context.rollout_id
    )
    return StepOutcome(
        "succeeded",
        {"name": spec.name, "rollout": spec.rollout, "changed": True, "version": record.version},
    )


def _analysis(context: StepContext, spec: AnalysisStep) -> StepOutcome:
    return run_analysis(context, spec)


def _pause(context: StepContext, spec: PauseStep) -> StepOutcome:
    if spec.duration is None:
        return StepOutcome("paused", {"until": "resume"}, reason="pause step: waiting for resume")
    if request := context.sleep(spec.duration):
        return context.interruption(request)
    return StepOutcome("succeeded", {"waited": spec.duration})


def _promote(context: StepContext, spec: PromoteStep) -> StepOutcome:
    """Record what is now stable, after the guards watched it for ``rollback.watch``."""
    del spec  # promote has no options yet
    watch = context.plan.rollback.watch
    if watch and (request := context.sleep(watch)):
        return context.interruption(request)
    release = context.target.current_release()
    flags: dict[str, int | None] = {}
    for definition in context.plan.flags:
        try:
            flags[definition.name] = context.store.get_flag(definition.name).version
        except NotFoundError:
            flags[definition.name] = None
    return StepOutcome("succeeded", {"release": release, "flag_versions": flags})


# Each runner takes the step's own options model (step.spec), typed per kind.
_RUNNERS: dict[str, Callable[[StepContext, Any], StepOutcome]] = {
    "backup": _backup,
    "deploy": _deploy,
    "canary": _canary,
    "flag": _flag,
    "analysis": _analysis,
    "pause": _pause,
    "promote": _promote,
    "test": run_test_step,
    "approve": run_approve,
    "load": run_load,
}
