"""``python -m bench.judge.early_pass``: how soon a healthy step ends on evidence, and how safely.

A healthy analysis step ends when the judge has anytime-valid evidence that the
canary is no worse than the early-pass margins (``analysis.early_pass``,
rollsafe.judge.noninferiority) or when its configured duration runs out.

Part 1 prints, for traffic of 10, 50 and 100 requests/s per arm (50% share) and
step durations of 300, 600 and 1200 s, the median healthy step time as a share
of the duration and how many steps passed early. Errors and latency are judged
(memory growth blocks early passes: see docs/benchmarks.md); part 1b shows the
default metrics with memory for one cell.

Part 2 is the safety check, with the default judge and with the early pass alone
(its decision function asked every second, no fail side to end a run first): a
canary whose error rate is exactly at the margin (1% baseline, 1.5% canary:
margin max(20% x 1%, 0.5 pp) = 0.5 pp) and just beyond it (1.6%), 100 req/s
per arm, looked at every second. The rate of early passes must be at most
alpha (0.01).

Part 3: the benchmark's healthy variants (drift, noise, incidents, changing
shares, cold start), errors + latency, 600 s steps.

Options: ``--runs N`` per cell (default 40), ``--margin-runs N`` (default 300).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import Scenario, observations, simulate
from rollsafe.config.analysis import AnalysisConfig, HistogramMetric, RatioMetric
from rollsafe.judge import Judge
from rollsafe.judge.noninferiority import rate_comparison

ERRORS_AND_LATENCY = AnalysisConfig(metrics=[RatioMetric(), HistogramMetric()])
ERRORS_ONLY = AnalysisConfig(metrics=[RatioMetric()])


def early_pass_alone(scenario: Scenario, duration: int, seed: int) -> tuple[float, str]:
    """The early pass's own decision (``rate_comparison`` at the default margins and
    floor) asked every second, with no fail side to end the run first."""
    early = ERRORS_ONLY.early_pass
    run = simulate(scenario, duration, seed)
    n_c = n_b = x_c = x_b = 0.0
    for second in range(duration):
        n_c += float(run.requests[0, second])
        n_b += float(run.requests[1, second])
        x_c += float(run.errors[0, second])
        x_b += float(run.errors[1, second])
        if second < early.min_duration or min(n_c, n_b) < early.min_requests:
            continue
        found = rate_comparison(
            "error_rate",
            "rate difference",
            x_c,
            n_c,
            x_b,
            n_b,
            early.error_relative_margin,
            early.error_margin,
            ERRORS_ONLY.alpha,
        )
        if found is not None and found.passed:
            return float(second), "pass"
    return float(duration), "duration"


def step_time(
    scenario: Scenario, duration: int, seed: int, config: AnalysisConfig | None
) -> tuple[float, str]:
    """(seconds the step lasted, how it ended: pass, fail or duration)."""
    judge = Judge(config)
    for observation in observations(simulate(scenario, duration, seed)):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            return float(verdict.decided_at), verdict.verdict
    return float(duration), "duration"


def _row(label: str, duration: int, ends: list[tuple[float, str]]) -> str:
    median = statistics.median(seconds for seconds, _ in ends)
    passed = sum(how == "pass" for _, how in ends)
    failed = sum(how == "fail" for _, how in ends)
    return (
        f"| {label} | {duration} s | {len(ends)} | {median:.0f} s ({median / duration:.0%}) "
        f"| {passed / len(ends):.0%} | {failed} |"
    )


def _margin_row(label: str, judge: str, ends: list[tuple[float, str]]) -> None:
    passed = sum(how == "pass" for _, how in ends)
    failed = sum(how == "fail" for _, how in ends)
    # Clopper-Pearson-style bound for 0 passes (rule of three), else normal approximation.
    share = passed / len(ends)
    upper = (
        3 / len(ends) if passed == 0 else share + 1.645 * math.sqrt(share * (1 - share) / len(ends))
    )
    print(
        f"| {label} | {judge} | {len(ends)} | {share:.1%} | {upper:.1%} | {failed} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge.early_pass", description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--margin-runs", type=int, default=300)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(
        "| healthy canary, errors + latency | duration | runs | median step time "
        "| passed early | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for rps in (10, 50, 100):
        for duration in (300, 600, 1200):
            scenario = Scenario(f"A/A {rps:g} req/s per arm", True, rps=float(rps))
            ends = [
                step_time(scenario, duration, 700_000 + 1000 * rps + run, ERRORS_AND_LATENCY)
                for run in range(args.runs)
            ]
            print(_row(scenario.name, duration, ends), flush=True)
    scenario = Scenario("A/A 100 req/s per arm, default metrics (with memory)", True, rps=100.0)
    ends = [step_time(scenario, 600, 710_000 + run, None) for run in range(args.runs)]
    print(_row(scenario.name, 600, ends), flush=True)
    print()
    print(
        "| canary vs margin (errors only, 100 req/s per arm, 1200 s, a look a second) "
        "| judge | runs | passed early | 95% upper bound | failed |"
    )
    print("|---|---|---:|---:|---:|---:|")
    cases = (("at the margin: 1% → 1.5%", 0.015), ("beyond: 1% → 1.6%", 0.016))
    for judge in ("default judge", "early pass alone"):
        for label, rate in cases:
            scenario = Scenario(label, False, rps=100.0, canary_error_rate=rate)
            ends = [
                step_time(scenario, 1200, 720_000 + run, ERRORS_ONLY)
                if judge == "default judge"
                else early_pass_alone(scenario, 1200, 720_000 + run)
                for run in range(args.margin_runs)
            ]
            _margin_row(label, judge, ends)
    healthy = Scenario("healthy: 1% → 1%", True, rps=100.0)
    ends = [early_pass_alone(healthy, 1200, 720_000 + run) for run in range(args.runs)]
    _margin_row(healthy.name, "early pass alone", ends)
    print()
    print(
        "| healthy variant, errors + latency | duration | runs | median step time "
        "| passed early | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for index, scenario in enumerate(HEALTHY):
        ends = [
            step_time(scenario, 600, 900_000 + 1000 * index + run, ERRORS_AND_LATENCY)
            for run in range(args.runs)
        ]
        print(_row(scenario.name, 600, ends), flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
