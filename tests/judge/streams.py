"""Synthetic observation streams for the judge tests (cumulative counters per arm, per look)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BOUNDS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)

_BOUND_KEYS = tuple(str(b) for b in BOUNDS)


@functools.cache
def _bucket_shares(median: float, sigma: float) -> npt.NDArray[np.float64]:
    """Each bucket's share of a lognormal latency: the same per look, so computed once per arm."""
    z = (np.log(BOUNDS) - math.log(median)) / (sigma * math.sqrt(2))
    cdf = 0.5 * (1 + np.array([math.erf(v) for v in z]))
    shares: npt.NDArray[np.float64] = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    shares.setflags(write=False)
    return shares


@dataclass
class Arm:
    rate: float = 50.0
    """Requests per look."""
    error_rate: float = 0.01
    median: float = 0.05
    sigma: float = 0.5
    leak: float = 0.0
    """Bytes per second of memory growth."""
    fields: Sequence[str] = ("requests", "errors")
    requests: float = 0.0
    errors: float = 0.0
    buckets: np.ndarray = field(default_factory=lambda: np.zeros(len(BOUNDS) + 1))


def look(rng: np.random.Generator, arm: Arm, name: str, t: float) -> dict[str, Any]:
    n = int(rng.poisson(arm.rate))
    arm.requests += n
    arm.errors += int(rng.binomial(n, arm.error_rate))
    observation: dict[str, Any] = {"t": t, "arm": name}
    if "requests" in arm.fields:
        observation["requests"] = arm.requests
    if "errors" in arm.fields:
        observation["errors"] = arm.errors
    if "latency_seconds_bucket" in arm.fields:
        per_bucket = rng.multinomial(n, _bucket_shares(arm.median, arm.sigma))
        arm.buckets += np.cumsum(per_bucket)
        counts = arm.buckets.tolist()
        observation["latency_seconds_bucket"] = {
            **dict(zip(_BOUND_KEYS, counts[:-1], strict=True)),
            "+Inf": counts[-1],
        }
    if "memory_bytes" in arm.fields:
        observation["memory_bytes"] = 2e8 + arm.leak * t + float(rng.normal(0, 2e5))
    return observation


def stream(
    rng: np.random.Generator, canary: Arm, baseline: Arm, looks: int, start: float = 0.0
) -> Iterator[dict[str, Any]]:
    """One canary and one baseline observation per look, as the controller sends them."""
    for i in range(looks):
        t = start + float(i)
        yield look(rng, canary, "canary", t)
        yield look(rng, baseline, "baseline", t)
