"""Reconnection delays: exponential from ``initial`` to ``maximum``, each jittered by ±25 %."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial: float = 1.0, maximum: float = 30.0) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (grows until `reset`)."""
        base = min(self.maximum, self.initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        # Jitter spreads the reconnections of many clients after an outage.
        return float(min(self.maximum, base * random.uniform(0.75, 1.25)))

    def reset(self) -> None:
        self.attempt = 0
