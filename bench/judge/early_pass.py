"""``python -m bench.judge.early_pass``: how soon a healthy step can end on evidence.

A healthy analysis step ends either when the judge's sequential pass is reached
(anytime-valid evidence that the canary is not worse than the margins) or when
its configured duration runs out. For every healthy variant of the benchmark,
this prints the median step time, as a share of the duration, when the step
lasts ``--duration`` seconds (default 600), and how many steps ended early.

Options: ``--runs N`` per variant (default 100), ``--duration S``.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import Scenario, observations, simulate
from rollsafe.judge import Judge


def step_time(scenario: Scenario, duration: int, seed: int) -> tuple[float, str]:
    """(seconds the step lasted, how it ended: pass, fail or duration)."""
    judge = Judge()
    for observation in observations(simulate(scenario, duration, seed)):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            return float(verdict.decided_at), verdict.verdict
    return float(duration), "duration"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge.early_pass", description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--duration", type=int, default=600)
    args = parser.parse_args(argv)
    print(f"| variant | runs | median step time ({args.duration} s steps) | ended by a pass |")
    print("|---|---:|---:|---:|")
    for index, scenario in enumerate(HEALTHY):
        ends = [
            step_time(scenario, args.duration, 900_000 + 1000 * index + run)
            for run in range(args.runs)
        ]
        median = statistics.median(seconds for seconds, _ in ends)
        passed = sum(how == "pass" for _, how in ends)
        print(
            f"| {scenario.name} | {args.runs} | {median:.0f} s ({median / args.duration:.0%}) "
            f"| {passed / args.runs:.0%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
