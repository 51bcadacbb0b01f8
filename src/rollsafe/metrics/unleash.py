"""Observations per flag variant from the impact metrics Unleash SDKs send (``provider: unleash``).

Impact counters and histograms arrive as increments per SDK send and are
stored in minute windows (`rollsafe.store.usage`), so an arm's running sum over
the windows since this source started is a cumulative counter, as the judge
wants it; `rollsafe.metrics.readings.ArmReadings` turns those sums into totals
that grow from the first look. The first look takes the window it falls in as
its reference, so what SDKs counted before the analysis began never counts.

The store is read, never written: a store that cannot be read fails the look
(missing evidence), and an arm no SDK reported yet has zero requests, which the
judge treats as too little traffic, never as a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rollsafe.config.unleash_metrics import UnleashMetrics
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.metrics.arms import ARMS
from rollsafe.metrics.readings import ArmReadings, Reading, le_key
from rollsafe.store.opening import open_store_url
from rollsafe.store.protocol import Store
from rollsafe.store.usage import WINDOW, ImpactWindow
from rollsafe.typing import Arm, Observation


class UnleashSource:
    """A :class:`rollsafe.typing.MetricSource` over the flag service's stored impact metrics."""

    def __init__(
        self,
        config: UnleashMetrics,
        *,
        store: Store | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._owns_store = store is None
        self._store = store
        self._since = ((clock or time.time)() // WINDOW) * WINDOW
        self._readings = ArmReadings()

    def observe(self, t: float) -> list[Observation]:
        try:
            store = self._opened()
            windows = {name: self._windows(store, name) for name in self._metric_names()}
        except (RollsafeError, OSError) as error:  # OSError: a SQLite path it cannot create
            raise MetricsError(f"cannot read impact metrics from the store: {error}") from error
        readings = {arm: self._reading(arm, windows) for arm in ARMS}
        return self._readings.look(t, readings)

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def _opened(self) -> Store:
        if self._store is None:
            self._store = open_store_url(self.config.store)
        return self._store

    def _metric_names(self) -> list[str]:
        config = self.config
        names = [config.requests, config.errors, config.latency, config.memory]
        return sorted({n for n in names if n is not None})

    def _windows(self, store: Store, metric: str) -> list[ImpactWindow]:
        config = self.config
        found = store.impact_windows(
            config.environment, metric=metric, flag=config.flag, since=self._since
        )
        if config.app_name is not None:
            found = [w for w in found if w.labels.get("appName") == config.app_name]
        return found

    def _reading(self, arm: Arm, windows: dict[str, list[ImpactWindow]]) -> Reading:
        config = self.config
        value = config.canary if arm == "canary" else config.baseline
        mine = {
            name: [w for w in found if w.labels.get(config.flag) == value]
            for name, found in windows.items()
        }
        requests = _counter_sum(mine[config.requests], config.requests)
        errors = _counter_sum(mine[config.errors], config.errors)
        if errors > requests:
            raise MetricsError(
                f"{arm} ({config.flag}={value}): errors counter {config.errors!r} ({errors:g})"
                f" exceeds requests counter {config.requests!r} ({requests:g})"
            )
        buckets: dict[str, float] = {}
        if config.latency is not None:
            for window in mine[config.latency]:
                if window.kind != "histogram":
                    raise MetricsError(f"impact metric {config.latency!r} is not a histogram")
                for le, count in window.buckets.items():
                    key = le_key(le)
                    buckets[key] = buckets.get(key, 0.0) + count
        memory = None
        if config.memory is not None and mine[config.memory]:
            latest = max(w.window_start for w in mine[config.memory])
            values = [w.value for w in mine[config.memory] if w.window_start == latest]
            memory = sum(values) / len(values)
        return Reading(requests, errors, buckets, memory)


def _counter_sum(windows: list[ImpactWindow], name: str) -> float:
    total = 0.0
    for window in windows:
        if window.kind != "counter":
            raise MetricsError(f"impact metric {name!r} is a {window.kind}, not a counter")
        total += window.value
    return total
