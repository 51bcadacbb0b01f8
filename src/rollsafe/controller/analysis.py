"""An analysis step: look at both arms every interval until the judge decides or time is up."""

from __future__ import annotations

import time
from typing import Any

from rollsafe.config.plan import AnalysisStep, Metrics
from rollsafe.controller.blindness import BLIND_EVENT, Blindness
from rollsafe.controller.context import StepContext, StepOutcome
from rollsafe.controller.inconclusive import (
    carried_judge,
    carry,
    end_of_step,
    meaningful_evidence,
)
from rollsafe.controller.reference import health_reference
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import AnalysisVerdict
from rollsafe.judge import Judge, Verdict
from rollsafe.typing import MetricSource


def run_analysis(context: StepContext, spec: AnalysisStep) -> StepOutcome:
    config = context.plan.analysis
    kind = (spec.mode, spec.arms)
    judge = carried_judge(context.carried, kind)
    carried = judge is not None
    if judge is None:
        reference = None
        if spec.mode == "health":
            reference = health_reference(context.store.journal(context.rollout_id), config)
        judge = Judge(config, mode=spec.mode, reference=reference)
    plan = context.plan
    if spec.arms == "release":
        plan = plan.model_copy(update={"metrics": _release_arms(context)})
    source = context.adapters.source(plan, context.target)
    blindness = Blindness("analysis", config.blind_after, spec.on_blind or config.on_blind)
    started = time.monotonic()
    looks = failed_looks = 0
    try:
        while True:
            t = round(time.monotonic() - started, 3)
            verdict, error = _look(context, judge, source, t)
            looks += 1
            if error is not None:
                failed_looks += 1
                never_saw = failed_looks == looks and t >= spec.duration
                if blindness.missed(t, final=never_saw):
                    return _blind(context, blindness, t, error, looks)
            else:
                blindness.saw()
            if verdict is not None and verdict.decided_at is not None:
                break
            if t >= spec.duration:
                # An undecided step may look on for up to `extend` (controller/inconclusive.py).
                ended = end_of_step(judge, config, t - spec.duration)
                if ended is not None:
                    verdict = ended
                    break
            until = spec.duration if t < spec.duration else spec.duration + config.extend
            request = context.sleep(min(config.interval, until - t))
            if request:
                return context.interruption(request)
    finally:
        source.close()
    summary: AnalysisVerdict = {
        "mode": spec.mode,
        "looks": looks,
        "failed_looks": failed_looks,
        "elapsed": round(time.monotonic() - started, 3),
        "verdict": verdict.to_dict(),
    }
    if carried:
        summary["carried"] = True
    if judge.reference is not None:
        summary["reference"] = judge.reference.to_dict()
    if verdict.early_pass is not None:
        summary["passed_early"] = True
        context.journal(
            Kind.ANALYSIS_PASSED_EARLY,
            {"duration": spec.duration, "reason": verdict.reason, **verdict.early_pass},
        )
    weak = None
    if verdict.verdict == "inconclusive" and config.on_inconclusive == "rollback":
        evidence = meaningful_evidence(verdict, config, judge.error_ceiling)
        summary["meaningful_evidence"] = evidence
        if evidence is None:
            # Weak evidence is no reason to undo a release: the rollout goes on (docs/judge.md).
            weak = (
                f"analysis inconclusive without meaningful evidence against the canary "
                f"(rollback_min_e {config.rollback_min_e:g}, rollback_min_events "
                f"{config.rollback_min_events:g}): the rollout goes on"
            )
            summary["continued"] = weak
            carry(context.carried, judge, kind)
    context.journal(Kind.ANALYSIS_VERDICT, summary)
    result: dict[str, Any] = {**summary}  # the step's result is the entry's data
    if weak is not None:
        return StepOutcome("succeeded", result, reason=weak)
    return _outcome(verdict, result, config.on_inconclusive)


def _release_arms(context: StepContext) -> Metrics:
    """The plan's metrics with arms by release: the canary's against the stable one's."""
    traffic = context.traffic
    canary = traffic.target.canary_release() if traffic is not None else None
    stable = context.target.current_release()
    if canary is None or stable is None:
        raise RollsafeError("arms: release needs a canary beside a stable release; none runs")
    metrics = context.plan.metrics
    return metrics.model_copy(
        update={"arm_label": metrics.release_label, "canary": canary, "baseline": stable}
    )


def _look(
    context: StepContext, judge: Judge, source: MetricSource, t: float
) -> tuple[Verdict | None, str | None]:
    """One scrape of both arms fed to the judge: its verdict, or why the source failed."""
    try:
        observations = source.observe(t)
    except MetricsError as error:
        # Missing evidence: the judge sees nothing for this look, so it cannot pass on it.
        context.journal(Kind.ANALYSIS_METRICS_ERROR, {"t": t, "error": str(error)})
        return None, str(error)
    verdict = None
    for observation in observations:
        verdict = judge.update(observation)
    context.journal(Kind.ANALYSIS_OBSERVATION, {"t": t, "observations": list(observations)})
    return verdict, None


def _blind(
    context: StepContext, blindness: Blindness, t: float, error: str, looks: int
) -> StepOutcome:
    """The step ends without a verdict: it never had data, or lost it for ``blind_after``."""
    entry = blindness.entry(t, error)
    context.journal(BLIND_EVENT, entry)
    summary: dict[str, Any] = {"looks": looks, "blind": entry}
    reason = blindness.reason(t, error)
    if blindness.action == "rollback":
        return StepOutcome("failed", summary, reason=reason)
    return StepOutcome(
        "paused",
        summary,
        reason=f"{reason}; resume to analyse again or abort",
        rerun_on_resume=True,
    )


def _outcome(verdict: Verdict, summary: dict[str, Any], on_inconclusive: str) -> StepOutcome:
    if verdict.verdict == "pass":
        return StepOutcome("succeeded", summary)
    reasons = "; ".join(m.reason for m in verdict.metrics if m.verdict == verdict.verdict)
    if verdict.verdict == "fail":
        return StepOutcome("failed", summary, reason=f"analysis failed: {reasons}")
    why = f"analysis inconclusive: {reasons or 'not enough evidence'}"
    if on_inconclusive == "rollback":
        return StepOutcome("failed", summary, reason=why)
    # Not a success: the step stays pending and runs again on resume, so the next step
    # (a wider flag, promote) waits for evidence instead of following an undecided look.
    return StepOutcome(
        "paused",
        summary,
        reason=f"{why}; resume to run the analysis again, or abort",
        rerun_on_resume=True,
    )
