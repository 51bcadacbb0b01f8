"""Run every judge on simulated runs and collect what each decided, when, and at what cost."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.judge.baselines import flagger, kayenta
from bench.judge.scenarios import flagger_thresholds
from bench.judge.simulator import Run, Scenario, observations, simulate
from rollsafe.config.analysis import RatioMetric
from rollsafe.judge import Judge

JUDGES = ("oracle", "two-arm", "rollsafe", "kayenta", "flagger-1", "flagger-5")
ORACLE_ALPHA = 0.01
"""The oracle's error level: rollsafe's default alpha."""
MARGIN = 1 + RatioMetric().relative_margin
"""The two-arm floor's null: the canary's error rate at most this times the baseline's."""


def first_crossing(log_lr: np.ndarray) -> float | None:
    """The first second at which Wald's SPRT (cumulative log likelihood ratio) rejects."""
    crossed = np.flatnonzero(np.cumsum(log_lr) >= math.log(1 / ORACLE_ALPHA))
    return float(crossed[0]) if crossed.size else None


def two_sample_sprt(run: Run, rho: float, rho0: float) -> np.ndarray:
    """Per-second log-likelihood ratio of Wald's SPRT on the canary's share of the errors:
    canary/baseline rate ratio ``rho`` (the truth) against ``rho0`` (the null's edge).

    The fastest test at its level that learns the healthy rate from the baseline, as
    every judge comparing two arms must, and knows the effect: with ``rho0`` at
    rollsafe's margin it is the floor for any judge that compares with a baseline and
    tolerates that margin, before any mixture over effect sizes or split of alpha.
    """
    n_c, n_b = run.requests
    x_c, x_b = run.errors
    s = np.divide(n_c, n_b, out=np.zeros_like(n_c), where=n_b > 0)
    pi1, pi0 = s * rho / (1 + s * rho), s * rho0 / (1 + s * rho0)
    valid = (n_c > 0) & (n_b > 0)
    safe0, safe1 = np.where(valid, pi0, 0.5), np.where(valid, pi1, 0.5)
    result: np.ndarray = np.where(
        valid,
        x_c * np.log(safe1 / safe0) + x_b * np.log((1 - safe1) / (1 - safe0)),
        0.0,
    )
    return result


def has_two_arm_floor(scenario: Scenario) -> bool:
    """Whether the two-arm floor applies: an error-rate regression over a nonzero rate."""
    return (
        not scenario.healthy and scenario.canary_error_rate is not None and scenario.error_rate > 0
    )


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

    at = first_crossing(run.oracle)
    outcomes = [Outcome("oracle", at is not None, at, bad(at))]
    at = None
    if has_two_arm_floor(scenario):
        assert scenario.canary_error_rate is not None
        rho = scenario.canary_error_rate / scenario.error_rate
        at = first_crossing(two_sample_sprt(run, rho, MARGIN))
    outcomes.append(Outcome("two-arm", at is not None, at, bad(at)))
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
