"""The demo's rollout of a faulty release, simulated with the real judge: how often it promotes.

The demo's plan under load, as journaled by the run that promoted a faulty release
(``rollsafe demo --fault errors --metrics prometheus``, load about 11): a 10% step of
10 s (about 3.8 canary and 40 baseline checkouts a second), a 50% step of 8 s (26
each), then a 100% health step of 6 s (50 a second). Each look draws Poisson traffic
and binomial errors; each step runs the real ``Judge`` with the demo's ``analysis:``
and the controller's end-of-step policy (``extend``, ``rollback_min_e``, a carried
judge). The health step runs without a reference (before) and with the reference
from the compare steps' verdicts (after), on the same draws, side by side.

    python -m bench.health_reference --runs 2000 [--traffic 0.35]

``--traffic`` scales every step's request rates (0.35: a machine so busy that the
load generator reaches a third of its rate, as in docs/benchmarks.md's busiest runs).

Prints one JSON object: per scenario, how many runs promoted before and after.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.controller.inconclusive import end_of_step, meaningful_evidence
from rollsafe.judge import Judge, Verdict
from rollsafe.judge.reference import RateReference

DEMO = AnalysisConfig(
    interval=1.0,
    min_requests=30,
    on_inconclusive="rollback",
    extend=4.0,
    rollback_min_e=10,
    rollback_min_events=3,
    warmup=2.0,
)


@dataclass(frozen=True)
class Step:
    mode: str
    seconds: int
    canary_per_second: float
    baseline_per_second: float = 0.0


STEPS = (Step("compare", 10, 3.8, 40.0), Step("compare", 8, 26.0, 26.0), Step("health", 6, 50.0))
SCENARIOS: dict[str, tuple[tuple[float, float, float], float]] = {
    "fault: new path 5% in every step, old 0%": ((0.05, 0.05, 0.05), 0.0),
    "fault: new path 3% in every step, old 0%": ((0.03, 0.03, 0.03), 0.0),
    "compare steps missed it: new path 0%, then 5% at 100%": ((0.0, 0.0, 0.05), 0.0),
    "compare steps missed it: new path 0%, then 7% at 100%": ((0.0, 0.0, 0.07), 0.0),
    "compare steps missed it: new path 0%, then 3% at 100%": ((0.0, 0.0, 0.03), 0.0),
    "healthy: both 0%": ((0.0, 0.0, 0.0), 0.0),
    "healthy: both 0.5%": ((0.005, 0.005, 0.005), 0.005),
    "healthy: both 1%": ((0.01, 0.01, 0.01), 0.01),
}
"""Per scenario: the new path's error rate in each step (the canary's, then everyone's at
100%), and the old path's. The "missed" ones are the incident's shape: the compare steps
saw no sign (a fault that appears only at full traffic, or bad luck at 10% and 50%)."""


class Draws:
    """One run's traffic and errors, drawn once so both variants judge the same data."""

    def __init__(
        self,
        rng: np.random.Generator,
        canary_rates: tuple[float, float, float],
        baseline_rate: float,
        traffic: float = 1.0,
    ):
        self.looks: list[list[tuple[float, float, float, float]]] = []
        for step, canary_rate in zip(STEPS, canary_rates, strict=True):
            looks = []
            # Up to `extend` seconds more: the step may look on.
            for _ in range(step.seconds + int(DEMO.extend) + 1):
                n_c = float(rng.poisson(step.canary_per_second * traffic))
                n_b = float(rng.poisson(step.baseline_per_second * traffic))
                looks.append(
                    (
                        n_c,
                        float(rng.binomial(int(n_c), canary_rate)),
                        n_b,
                        float(rng.binomial(int(n_b), baseline_rate)),
                    )
                )
            self.looks.append(looks)


def run_step(judge: Judge, step: Step, looks: list[tuple[float, float, float, float]]) -> Verdict:
    totals = [0.0, 0.0, 0.0, 0.0]

    def observe(t: float) -> Verdict:
        verdict = judge.verdict
        if step.mode == "compare":
            judge.update({"t": t, "arm": "canary", "requests": totals[0], "errors": totals[1]})
            verdict = judge.update(
                {"t": t, "arm": "baseline", "requests": totals[2], "errors": totals[3]}
            )
        else:
            verdict = judge.update(
                {"t": t, "arm": "all", "requests": totals[0], "errors": totals[1]}
            )
        return verdict

    verdict = observe(0.0)
    for second, look in enumerate(looks, 1):
        totals = [a + b for a, b in zip(totals, look, strict=True)]
        verdict = observe(float(second))
        if verdict.decided_at is not None:
            return verdict
        if second >= step.seconds:
            ended = end_of_step(judge, DEMO, second - step.seconds)
            if ended is not None:
                return ended
    return judge.conclude()


def rollout(draws: Draws, with_reference: bool) -> str:
    """``promoted`` or the step (1-based) that rolled back."""
    carried: Judge | None = None
    baseline: list[tuple[float, float]] = []
    for index, (step, looks) in enumerate(zip(STEPS, draws.looks, strict=True), 1):
        judge = carried if carried is not None and carried.mode == step.mode else None
        was_carried = judge is not None
        if judge is None:
            reference = None
            trials = sum(n for _, n in baseline)
            if step.mode == "health" and with_reference and trials > 0:
                events = sum(x for x, _ in baseline)
                reference = RateReference.of(DEMO, events, trials, len(baseline))
            judge = Judge(
                DEMO, mode="compare" if step.mode == "compare" else "health", reference=reference
            )
        carried = None
        verdict = run_step(judge, step, looks)
        if step.mode == "compare":
            for metric in verdict.metrics:
                if metric.name == "error_rate":
                    arm = metric.arms.get("baseline", {})
                    if was_carried and baseline:
                        baseline.pop()  # the carried judge's counts include that step's
                    baseline.append((arm.get("events") or 0.0, arm.get("trials") or 0.0))
        if verdict.verdict == "fail":
            return f"rolled back at step {index}"
        if verdict.verdict == "inconclusive":
            if meaningful_evidence(verdict, DEMO, judge.error_ceiling) is not None:
                return f"rolled back at step {index}"
            carried = judge
    return "promoted"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument(
        "--traffic", type=float, default=1.0, help="scales every step's requests a second"
    )
    args = parser.parse_args(argv)
    started = time.process_time()
    results: dict[str, Any] = {}
    for name, (canary_rates, baseline_rate) in SCENARIOS.items():
        rng = np.random.default_rng(args.seed)
        counts: dict[str, dict[str, int]] = {"before": {}, "after": {}}
        for _ in range(args.runs):
            draws = Draws(rng, canary_rates, baseline_rate, args.traffic)
            for variant, with_reference in (("before", False), ("after", True)):
                outcome = rollout(draws, with_reference)
                counts[variant][outcome] = counts[variant].get(outcome, 0) + 1
        results[name] = counts
    print(
        json.dumps(
            {
                "runs": args.runs,
                "traffic": args.traffic,
                "cpu_seconds": round(time.process_time() - started, 1),
                **results,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
