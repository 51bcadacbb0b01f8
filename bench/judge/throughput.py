"""Observation updates per second on one core, on a realistic healthy stream."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import observations, simulate
from rollsafe.judge import Judge


@dataclass(frozen=True)
class Throughput:
    per_second: float
    microseconds: float
    updates: int
    repeats: int


def measure(seconds: int = 3000, repeats: int = 3) -> Throughput:
    """Time ``Judge.update`` alone (observations are built beforehand).

    A judge whose verdict became final returns at once; to time the real work,
    a fresh judge replaces it whenever that happens.
    """
    run = simulate(HEALTHY[1], seconds, seed=12345)
    stream = list(observations(run))
    best = float("inf")
    for _ in range(repeats):
        judge = Judge()
        started = time.perf_counter()
        for observation in stream:
            if judge.update(observation).decided_at is not None:
                judge = Judge()
        best = min(best, time.perf_counter() - started)
    return Throughput(len(stream) / best, best / len(stream) * 1e6, len(stream), repeats)
