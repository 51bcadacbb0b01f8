"""Where the judge's update time goes: a few stages of ``bench.judge.throughput``, alone.

    python -m bench.judge.throughput_stages [--repeats 5]

CPU time (``time.process_time``), the fastest of ``--repeats`` passes, per observation
update, on the stream of ``bench.judge.throughput``:

- ``full``: ``Judge.update`` for every observation (a fresh judge after each final
  verdict), as the throughput benchmark times it;
- ``observe + take``: ``ArmCounters`` alone (both arms, a take per look);
- ``latency update``: ``HistogramCheck.update`` alone, fed the looks' increments;
- ``early pass``: the time spent in the early pass's evaluations during ``full``.

Run with another tree's ``src`` first on ``PYTHONPATH`` to compare.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import observations, simulate
from rollsafe.config.analysis import HistogramMetric
from rollsafe.judge import Judge
from rollsafe.judge import judges as judges_module
from rollsafe.judge.arms import ArmCounters, parse_histogram
from rollsafe.judge.latency import HistogramCheck

COUNTERS, HISTOGRAMS, GAUGES = (
    ("errors", "requests"),
    ("latency_seconds_bucket",),
    ("memory_bytes",),
)


def _fastest(run: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    stream = list(observations(simulate(HEALTHY[1], 3000, seed=12345)))
    updates = len(stream)

    def full() -> None:
        judge = Judge()
        for observation in stream:
            if judge.update(observation).decided_at is not None:
                judge = Judge()

    def observe_take() -> None:
        arms = {"canary": ArmCounters(), "baseline": ArmCounters()}
        for observation in stream:
            arm = arms[observation["arm"]]
            arm.observe(observation, observation["t"], COUNTERS, HISTOGRAMS, GAUGES)
            if observation["arm"] == "baseline":
                arms["canary"].take()
                arm.take()

    previous: dict[str, list[float]] = {}
    increments = []
    bounds: tuple[float, ...] = ()
    for observation in stream:
        parsed = parse_histogram(observation["latency_seconds_bucket"])
        assert parsed is not None
        bounds, counts = parsed
        arm = observation["arm"]
        if arm in previous:
            increments.append([c - p for c, p in zip(counts, previous[arm], strict=True)])
        previous[arm] = counts
    pairs = list(zip(increments[0::2], increments[1::2], strict=False))

    def latency() -> None:
        check = HistogramCheck(HistogramMetric())
        check.start(bounds)
        for delta_c, delta_b in pairs:
            check.update(delta_c, delta_b)

    spent = [0.0]
    evaluate = judges_module.early_pass_evidence

    def timed_evaluate(*call: Any, **keywords: Any) -> Any:
        started = time.process_time()
        try:
            return evaluate(*call, **keywords)
        finally:
            spent[0] += time.process_time() - started

    figures = {
        "full": _fastest(full, args.repeats),
        "observe + take": _fastest(observe_take, args.repeats),
        "latency update": _fastest(latency, args.repeats),
    }
    judges_module.early_pass_evidence = timed_evaluate  # type: ignore[assignment]
    try:
        full()
        spent[0] = 0.0
        full()
    finally:
        judges_module.early_pass_evidence = evaluate  # type: ignore[assignment]
    figures["early pass"] = spent[0]
    for name, seconds in figures.items():
        print(f"{name:15s} {seconds / updates * 1e6:6.2f} µs per update")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
