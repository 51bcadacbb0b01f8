"""Scrape each instance's Prometheus endpoint and turn the samples into observations per arm.

One :meth:`ScrapeSource.observe` is one look: ``GET <endpoint><config.path>`` for
every endpoint the target lists right now (one after the other, each bounded by
``config.timeout``), parsed with prometheus_client's text-format parser. Only
series whose labels include every ``config.match`` pair count, and the value
of ``config.arm_label`` puts a series in an arm: ``config.canary`` → ``canary``,
``config.baseline`` → ``baseline``, anything else is ignored.

Per arm:

- ``requests``: the ``config.requests_metric`` counter summed over series and instances;
- ``errors``: the same for series whose ``config.status_label`` starts with ``5``;
- ``latency_seconds_bucket``: ``<config.latency_metric>_bucket`` summed by ``le``
  (keys normalised: ``"0.05"``, ``"1.0"``, ``"+Inf"``);
- ``memory_bytes``: the mean of ``config.memory_metric`` over the instances scraped
  in this look, ignoring ``match`` and arms (it describes processes, not requests),
  so both arms carry the same value.

Counters stay cumulative for the source's lifetime, whatever the instances do.
Each instance (its endpoint URL) keeps the last value of each of its series; a
look adds the increase since then. An instance restarted (its
``process_start_time_seconds`` changed, or any of its counters went down)
contributes its new values in full, as increases from zero; an instance that
disappears keeps what it contributed; a new series or instance adds its whole
value. So ``requests``, ``errors`` and every bucket never decrease.

Failures: an endpoint that cannot be reached, answers non-2xx or serves text the
parser rejects is skipped for this look (listed in :attr:`ScrapeSource.skipped`)
and the observation is built from the others; its earlier contribution stays in
the totals. If every endpoint fails, or there is none, ``observe`` raises
MetricsError with the reasons: the judge treats a missing look as missing
evidence, never as a pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from rollsafe.config import ScrapeMetrics
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.metrics.totals import ArmTotals
from rollsafe.support.buckets import le_key
from rollsafe.support.http import http_client
from rollsafe.typing import Arm, Observation

log = logging.getLogger(__name__)

EPOCH_METRIC = "process_start_time_seconds"
"""A gauge that changes when an instance restarts (exposed by most Prometheus clients)."""
MAX_INSTANCES = 256
"""Instances remembered for reset detection; the least recently seen is forgotten first."""

# (sample name, sorted label pairs): one series of one instance.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class _Series:
    """What one tracked series adds to the totals: its arm, and whether it is an error/bucket."""

    arm: Arm
    quantity: str  # "requests" or "bucket"
    error: bool = False
    le: str = ""


@dataclass
class _Scrape:
    """One instance's samples that matter, from one successful scrape."""

    values: dict[SeriesKey, float] = field(default_factory=dict)
    series: dict[SeriesKey, _Series] = field(default_factory=dict)
    epoch: float | None = None
    memory: float | None = None


@dataclass
class _Instance:
    epoch: float | None = None
    last: dict[SeriesKey, float] = field(default_factory=dict)
    look: int = 0
    restarts: int = 0


class ScrapeSource:
    """A :class:`rollsafe.typing.MetricSource` over each instance's ``/metrics``.

    ``endpoints`` is called at every look (``http://127.0.0.1:8001`` style base
    URLs), so instances may come and go between looks. A ``client`` passed in is
    used as is and not closed; otherwise the source owns one until :meth:`close`.
    """

    def __init__(
        self,
        config: ScrapeMetrics,
        endpoints: Callable[[], Sequence[str]],
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.endpoints = endpoints
        self._owns_client = client is None
        self._client = client or http_client(timeout=config.timeout)
        self._instances: dict[str, _Instance] = {}
        self._totals: dict[Arm, ArmTotals] = {"canary": ArmTotals(), "baseline": ArmTotals()}
        self._looks = 0
        self.skipped: list[str] = []
        """Endpoints skipped in the last look, each as ``url: reason``."""
        names = {config.requests_metric}
        if not config.requests_metric.endswith("_total"):
            names.add(config.requests_metric + "_total")
        self._request_names = frozenset(names)
        self._bucket_name = config.latency_metric + "_bucket"

    def observe(self, t: float) -> list[Observation]:
        """One look: cumulative observations for ``canary`` then ``baseline`` at time ``t``."""
        try:
            endpoints = [endpoint.rstrip("/") for endpoint in self.endpoints()]
        except RollsafeError as error:
            raise MetricsError(f"cannot list the endpoints to scrape: {error}") from error
        if not endpoints:
            raise MetricsError("no endpoints to scrape")
        self._looks += 1
        scrapes: dict[str, _Scrape] = {}
        failures: list[str] = []
        for endpoint in dict.fromkeys(endpoints):
            try:
                scrapes[endpoint] = self._scrape(endpoint)
            except MetricsError as error:
                failures.append(f"{endpoint}: {error}")
        self.skipped = failures
        if not scrapes:
            raise MetricsError("every endpoint failed: " + "; ".join(failures))
        if failures:
            log.warning("skipped in this look: %s", "; ".join(failures))
        for endpoint, scrape in scrapes.items():
            self._accumulate(endpoint, scrape)
        self._forget_old_instances()
        memory = [s.memory for s in scrapes.values() if s.memory is not None]
        return [
            self._observation(t, arm, sum(memory) / len(memory) if memory else None)
            for arm in ("canary", "baseline")
        ]

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> ScrapeSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _scrape(self, endpoint: str) -> _Scrape:
        url = endpoint + self.config.path
        try:
            response = self._client.get(url, timeout=self.config.timeout)
        except httpx.HTTPError as error:
            raise MetricsError(f"{type(error).__name__}: {error}".rstrip(": ")) from error
        except httpx.InvalidURL as error:
            raise MetricsError(f"invalid URL {url!r}: {error}") from error
        if not response.is_success:
            raise MetricsError(f"HTTP {response.status_code} from {self.config.path}")
        try:
            return self._select(text_string_to_metric_families(response.text))
        except (ValueError, TypeError, IndexError, KeyError) as error:
            raise MetricsError(f"cannot parse the Prometheus text: {error}") from error

    def _select(self, families: Iterable[Any]) -> _Scrape:
        config = self.config
        scrape = _Scrape()
        for family in families:
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, float(sample.value)
                if name == config.memory_metric:
                    scrape.memory = (scrape.memory or 0.0) + value
                    continue
                if name == EPOCH_METRIC:
                    scrape.epoch = value
                    continue
                is_requests = name in self._request_names
                if not (is_requests or name == self._bucket_name) or math.isnan(value):
                    continue
                if any(labels.get(key) != wanted for key, wanted in config.match.items()):
                    continue
                arm_value = labels.get(config.arm_label)
                arm: Arm
                if arm_value == config.canary:
                    arm = "canary"
                elif arm_value == config.baseline:
                    arm = "baseline"
                else:
                    continue
                key: SeriesKey = (name, tuple(sorted(labels.items())))
                if is_requests:
                    error = labels.get(config.status_label, "").startswith("5")
                    scrape.series[key] = _Series(arm, "requests", error=error)
                else:
                    le = labels.get("le")
                    if le is None:
                        raise ValueError("a _bucket sample without an le label")
                    scrape.series[key] = _Series(arm, "bucket", le=le_key(le))
                scrape.values[key] = scrape.values.get(key, 0.0) + value
        return scrape

    def _accumulate(self, endpoint: str, scrape: _Scrape) -> None:
        instance = self._instances.get(endpoint)
        if instance is None:
            instance = self._instances[endpoint] = _Instance(epoch=scrape.epoch)
        restarted = (
            scrape.epoch is not None
            and instance.epoch is not None
            and scrape.epoch != instance.epoch
        ) or any(value < instance.last.get(key, 0.0) for key, value in scrape.values.items())
        if restarted:
            # Every counter of the new process started at zero: its values are all new.
            instance.last.clear()
            instance.restarts += 1
            log.info("%s restarted; counting its counters from zero", endpoint)
        for key, value in scrape.values.items():
            # A bucket seen with no increase yet still counts (as 0): the judge fixes an
            # arm's bucket layout from its first histogram, which must be complete.
            increase = max(0.0, value - instance.last.get(key, 0.0))
            instance.last[key] = value
            series = scrape.series[key]
            totals = self._totals[series.arm]
            if series.quantity == "requests":
                totals.add_requests(increase, error=series.error)
            else:
                totals.add_bucket(series.le, increase)
        if scrape.epoch is not None:
            instance.epoch = scrape.epoch
        instance.look = self._looks

    def _forget_old_instances(self) -> None:
        excess = len(self._instances) - MAX_INSTANCES
        if excess > 0:
            oldest = sorted(self._instances, key=lambda url: self._instances[url].look)
            for url in oldest[:excess]:
                del self._instances[url]

    def _observation(self, t: float, arm: Arm, memory: float | None) -> Observation:
        return self._totals[arm].observation(t, arm, memory)
