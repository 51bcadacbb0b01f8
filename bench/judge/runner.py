"""Run every judge on simulated runs and collect what each decided, when, and at what cost."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.judge.baselines import flagger, kayenta
from bench.judge.scenarios import flagger_thresholds
from bench.judge.simulator import Scenario, observations, simulate
from rollsafe.judge import Judge

JUDGES = ("oracle", "rollsafe", "kayenta", "flagger-1", "flagger-5")
ORACLE_ALPHA = 0.01
"""The oracle's error level: rollsafe's default alpha."""


@dataclass(frozen=True)
class Outcome:
    """One judge on one run: rolled back at ``seconds`` (None: never), harm served before."""

    judge: str
    rolled_back: bool
    seconds: float | None
    bad_before: float
    passed: bool = False
    """rollsafe only: the run ended in a final pass (promotion) before any rollback."""
    metric: str = ""


def run_all(scenario: Scenario, seconds: int, seed: int) -> list[Outcome]:
    """Every judge on the same simulated run."""
    run = simulate(scenario, seconds, seed)
    cumulative_bad = np.concatenate([[0.0], np.cumsum(run.bad)])

    def bad(at: float | None) -> float:
        index = run.seconds if at is None else min(run.seconds, int(at) + 1)
        return float(cumulative_bad[index])

    at: float | None = None
    crossed = np.flatnonzero(np.cumsum(run.oracle) >= math.log(1 / ORACLE_ALPHA))
    if crossed.size:
        at = float(crossed[0])
    outcomes = [Outcome("oracle", at is not None, at, bad(at))]
    judge = Judge()
    rolled_back = passed = False
    at = None
    metric = ""
    for observation in observations(run):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            rolled_back, passed = verdict.verdict == "fail", verdict.verdict == "pass"
            at = verdict.decided_at if rolled_back else None
            metric = ",".join(m.name for m in verdict.metrics if m.verdict == "fail")
            break
    outcomes.append(Outcome("rollsafe", rolled_back, at, bad(at), passed, metric))
    at = kayenta(run)
    outcomes.append(Outcome("kayenta", at is not None, at, bad(at)))
    error_threshold, p99_threshold = flagger_thresholds(scenario)
    found = flagger(run, error_threshold, p99_threshold)
    for n in (1, 5):
        at = found[n]
        outcomes.append(Outcome(f"flagger-{n}", at is not None, at, bad(at)))
    return outcomes


def run_chunk(task: tuple[Scenario, int, list[int]]) -> list[list[Outcome]]:
    scenario, seconds, seeds = task
    return [run_all(scenario, seconds, seed) for seed in seeds]
