"""``python -m bench.judge.oracle_cells``: the issue-16 oracle cells alone, quickly.

The six error-regression cells of ``ORACLE_GOAL`` (and, with ``--healthy``, the
healthy variants) on the same seeds as ``python -m bench.judge``, with only the
oracle and rollsafe: the median delays, their ratio, and the false rollbacks.
Meant for iterating on the judge's statistics; the full table stays the record.

Options: ``--runs N`` per cell (default 40, the first N of the full benchmark's
seeds), ``--healthy-runs N`` (default 0), ``--workers N``, ``--cells a,b`` (any regression
whose name contains one of these, instead of the six cells).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from multiprocessing import Pool

from bench.judge.__main__ import CHUNK, HEALTHY_SECONDS, REGRESSION_SECONDS
from bench.judge.runner import MARGIN, first_crossing, has_two_arm_floor, two_sample_sprt
from bench.judge.scenarios import HEALTHY, ORACLE_GOAL, REGRESSIONS
from bench.judge.simulator import Scenario, observations, simulate
from rollsafe.judge import Judge

REGRESSION_SEED = 7_000_000
HEALTHY_SEED = 1


def _seeds(scenarios: tuple[Scenario, ...], scenario: Scenario, base: int, runs: int) -> list[int]:
    """The full benchmark's seeds for ``scenario`` (bench/judge/__main__.py's _tasks)."""
    index = scenarios.index(scenario)
    return [base + 100_000 * index + i for i in range(runs)]


Delays = tuple[float | None, float | None, float | None, float | None]
"""The oracle's, rollsafe's, and the two-sample SPRT's at margins 20% and 0 (None: never)."""


def one_run(task: tuple[Scenario, int, int]) -> tuple[str, Delays, str]:
    """(scenario, delays, rollsafe's failed metrics) of one run."""
    scenario, seconds, seed = task
    run = simulate(scenario, seconds, seed)
    oracle = first_crossing(run.oracle)
    two_sample: tuple[float | None, float | None] = (None, None)
    if has_two_arm_floor(scenario):
        assert scenario.canary_error_rate is not None
        rho = scenario.canary_error_rate / scenario.error_rate
        two_sample = (
            first_crossing(two_sample_sprt(run, rho, MARGIN)),
            first_crossing(two_sample_sprt(run, rho, 1.0)),
        )
    judge = Judge()
    ours: float | None = None
    metric = ""
    for observation in observations(run):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            if verdict.verdict == "fail":
                ours = verdict.decided_at
                metric = ",".join(m.name for m in verdict.metrics if m.verdict == "fail")
            break
    return scenario.name, (oracle, ours, *two_sample), metric


def _median(values: list[float | None]) -> float:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge.oracle_cells")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--healthy-runs", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cells", default="", help="comma-separated substrings of names")
    args = parser.parse_args(argv)
    wanted = [part for part in args.cells.split(",") if part]
    goal = [s for s in REGRESSIONS if s.name in ORACLE_GOAL]
    if wanted:
        goal = [s for s in REGRESSIONS if any(w in s.name for w in wanted)]
    tasks = [
        (scenario, REGRESSION_SECONDS, seed)
        for scenario in goal
        for seed in _seeds(REGRESSIONS, scenario, REGRESSION_SEED, args.runs)
    ]
    healthy = [
        (scenario, HEALTHY_SECONDS, seed)
        for scenario in HEALTHY
        for seed in _seeds(HEALTHY, scenario, HEALTHY_SEED, args.healthy_runs)
    ]
    results: dict[str, list[tuple[Delays, str]]] = {}
    with Pool(args.workers) as pool:
        for name, found, metric in pool.imap(one_run, tasks + healthy, CHUNK // 10):
            results.setdefault(name, []).append((found, metric))
    print(
        "cell | runs | oracle | rollsafe | ÷ oracle | two-sample SPRT, 20% margin | ÷ oracle "
        "| two-sample SPRT, no margin | ÷ oracle"
    )
    for scenario in goal:
        rows = results[scenario.name]
        medians = [_median([found[i] for found, _ in rows]) for i in range(4)]
        oracle = medians[0]
        cells = [f"{scenario.name} | {len(rows)} | {oracle:.1f} s"]
        for i in (1, 2, 3):
            missed = sum(found[i] is None for found, _ in rows)
            ratio = max(medians[i], 1.0) / max(oracle, 1.0)
            note = f" ({missed} missed)" if missed else ""
            cells.append(f"{medians[i]:.1f} s{note} | {ratio:.2f}x")
        print(" | ".join(cells))
    for scenario in HEALTHY:
        healthy_rows = results.get(scenario.name, [])
        if healthy_rows:
            bad = [(metric, found[1]) for found, metric in healthy_rows if found[1] is not None]
            print(
                f"{scenario.name} | {len(healthy_rows)} runs | false rollbacks {len(bad)} {bad[:3]}"
            )
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
