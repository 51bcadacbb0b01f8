"""Observation updates per second on one core, on a realistic healthy stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import rollsafe.judge.judges
from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import observations, simulate
from rollsafe.judge import Judge
from rollsafe.support.compiled import is_compiled


@dataclass(frozen=True)
class Throughput:
    per_second: float
    microseconds: float
    updates: int
    repeats: int
    build: str
    """``compiled (mypyc)`` (``make compile``) or ``Python source``."""


def measure(
    seconds: int = 3000, repeats: int = 3, clock: Callable[[], float] = time.perf_counter
) -> Throughput:
    """Time ``Judge.update`` alone (observations are built beforehand).

    A judge whose verdict became final returns at once; to time the real work,
    a fresh judge replaces it whenever that happens. ``clock=time.process_time``
    counts this process's CPU time only: on a machine whose cores are shared, that
    is the per-core figure, where wall time also counts other processes' turns.
    """
    run = simulate(HEALTHY[1], seconds, seed=12345)
    stream = list(observations(run))
    best = float("inf")
    for _ in range(repeats):
        judge = Judge()
        started = clock()
        for observation in stream:
            if judge.update(observation).decided_at is not None:
                judge = Judge()
        best = min(best, clock() - started)
    build = "compiled (mypyc)" if is_compiled(rollsafe.judge.judges) else "Python source"
    return Throughput(len(stream) / best, best / len(stream) * 1e6, len(stream), repeats, build)
