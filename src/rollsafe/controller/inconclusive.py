"""What an analysis step does when its duration ends without a verdict (issue 16, item 7).

Two rules of ``analysis:`` (docs/judge.md, "Inconclusive steps"):

- ``extend``: look a while longer before giving up. Most undecided steps on a busy
  machine lack traffic (a canary at 10% short of ``min_requests``), and a few more
  seconds settle them.
- ``rollback_min_e`` with ``rollback_min_events``: with ``on_inconclusive:
  rollback``, roll back only on meaningful evidence: some metric's e-value against
  the canary reached the threshold *and* its excess (errors, or slow requests beyond
  the baseline's rate) is at least a few events. One error in fifty requests, or no
  evidence at all, is no reason to undo a release; the rollout goes on, and the
  guards and the next steps keep watching.
"""

from __future__ import annotations

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.judge import Judge, MetricVerdict, Verdict


def end_of_step(judge: Judge, config: AnalysisConfig, overtime: float) -> Verdict | None:
    """The step's verdict at ``overtime`` seconds past its duration, or None to look on.

    Looking on only while the verdict would be inconclusive, within ``extend``, and
    (with ``rollback_min_e``) without meaningful evidence yet. A step that ends
    undecided on weak evidence, which lets the rollout go on, leaves its judge open
    (the verdict returned is not final): the next analysis step continues from its
    evidence (:func:`carry`).
    """
    preview = judge.conclude(final=False)
    if preview.verdict != "inconclusive":
        return judge.conclude()
    policy = config.rollback_min_e is not None
    if policy and meaningful_evidence(preview, config, judge.error_ceiling) is not None:
        return judge.conclude()  # meaningful: decide now
    if overtime < config.extend:
        return None
    return preview if policy else judge.conclude()


CARRY = "undecided_judge"
"""The key under which an undecided judge waits in `StepContext.carried`."""


def carry(carried: dict[str, object], judge: Judge, kind: tuple[str, str]) -> None:
    """Leave an undecided judge for the next analysis step of the same kind (mode, arms)."""
    carried[CARRY] = (kind, judge)


def carried_judge(carried: dict[str, object], kind: tuple[str, str]) -> Judge | None:
    """The judge a previous step left undecided, if the next one is of the same kind.

    Evidence that leaned towards a regression but was too weak to roll back is not
    thrown away when the rollout goes on: the e-values keep growing from where they
    were (an e-process may be continued for as long as one likes), so a faulty release
    whose 10% step showed two errors is judged on those and the 50% step's together.
    """
    found = carried.pop(CARRY, None)
    if isinstance(found, tuple) and found[0] == kind and isinstance(found[1], Judge):
        return found[1]
    return None


def meaningful_evidence(
    verdict: Verdict, config: AnalysisConfig, ceiling: float | None = None
) -> str | None:
    """Why ``verdict``'s evidence against the canary is meaningful, or None when it is not.

    Meaningful: ``rollback_min_e`` unset (every inconclusive step counts, the old
    rule), or some metric with ``e_value >= rollback_min_e`` whose excess events
    (:func:`excess_events`) are at least ``rollback_min_events``. ``ceiling``: the
    error rate the judge's ceiling check tested (``Judge.error_ceiling``: a health
    step's reference may lower it), ``max_error_rate`` when None.
    """
    threshold = config.rollback_min_e
    if threshold is None:
        return "every inconclusive step rolls back (rollback_min_e unset)"
    for metric in verdict.metrics:
        if metric.e_value < threshold:
            continue
        excess = excess_events(metric, config.max_error_rate if ceiling is None else ceiling)
        if excess is None:
            return f"{metric.name}: e={metric.e_value:.3g} >= rollback_min_e {threshold:g}"
        if excess >= config.rollback_min_events:
            return (
                f"{metric.name}: e={metric.e_value:.3g} >= rollback_min_e {threshold:g} "
                f"with {excess:.3g} excess events >= rollback_min_events "
                f"{config.rollback_min_events:g}"
            )
    return None


def excess_events(metric: MetricVerdict, max_error_rate: float) -> float | None:
    """How many more bad events the canary had than expected; None where counts do not apply.

    Ratio: canary events minus the baseline's rate times the canary's trials.
    Ceiling: events minus ``max_error_rate`` times trials. Histogram: the canary's
    excess share of slow requests (the estimate) times its requests. Growth: None.
    """
    arms = metric.arms
    if metric.kind == "ratio":
        canary, baseline = arms.get("canary", {}), arms.get("baseline", {})
        x_c, n_c = canary.get("events") or 0.0, canary.get("trials") or 0.0
        x_b, n_b = baseline.get("events") or 0.0, baseline.get("trials") or 0.0
        expected = n_c * x_b / n_b if n_b > 0 else 0.0
        return x_c - expected
    if metric.kind == "ceiling":
        values = next(iter(arms.values()), {})
        x, n = values.get("events") or 0.0, values.get("trials") or 0.0
        return x - n * max_error_rate
    if metric.kind == "histogram":
        count = arms.get("canary", {}).get("count") or 0.0
        return (metric.estimate or 0.0) * count
    return None
