"""Synthetic traffic for burn-rate tests: cumulative counters look by look, seeded."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from rollsafe.typing import Observation


def looks(
    seconds: float,
    error_rate: Callable[[float], float],
    *,
    per_second: int = 100,
    step: float = 1.0,
    seed: int = 7,
) -> Iterator[tuple[float, list[Observation]]]:
    """One look every ``step`` seconds: ``per_second`` requests, each failing with the
    probability ``error_rate(t)`` (binomial draws, so the counts are noisy as real ones)."""
    rng = random.Random(seed)
    requests = errors = 0.0
    t = 0.0
    while t <= seconds:
        yield t, [{"t": t, "arm": "canary", "requests": requests, "errors": errors}]
        t = round(t + step, 6)
        n = int(per_second * step)
        rate = error_rate(t)
        requests += n
        errors += sum(rng.random() < rate for _ in range(n))
