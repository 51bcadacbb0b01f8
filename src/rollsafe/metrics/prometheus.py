"""Observations per arm from a Prometheus server, over its HTTP API (``/api/v1/query``).

One :meth:`PrometheusSource.observe` is one look: three PromQL instant queries,
each bounded by ``config.timeout`` (client side, and passed to Prometheus as its
evaluation timeout). Series count only if their labels include every
``config.selector`` pair (and, for requests and latency, every ``config.match``
pair); the value of ``config.arm_label`` puts a series in an arm, ``config.canary``
→ ``canary``, ``config.baseline`` → ``baseline``.

Per arm, with the same meaning as :class:`rollsafe.metrics.ScrapeSource`:

- ``requests``: the ``config.requests_metric`` counter summed over series
  (instances included); ``errors``: the same for series whose
  ``config.status_label`` starts with ``5``;
- ``latency_seconds_bucket``: ``<config.latency_metric>_bucket`` summed by ``le``
  (keys ``"0.05"``, ``"1.0"``, ``"+Inf"``);
- ``memory_bytes``: ``avg by (<arm_label>) (<config.memory_metric>{selector})``, the
  mean over the instances Prometheus scrapes now, per arm where the gauge carries the
  arm label (a release canary whose targets are labelled by release: each arm's own
  processes, so the judge can compare their growth), else the mean over the series
  without it, for both arms (a flag canary: both variants run in the same processes).

How counters stay cumulative and exact. ``increase()`` extrapolates to the ends
of its range (non-integer counts) and misses a new series' first value, so it is
not used. Instead each look fetches the raw samples of every matching series
(a range selector, ``name{...}[window]``, evaluated as an instant query) and
adds them up client side, series by series, as Prometheus's own ``increase``
would without extrapolation:

- a series seen for the first time contributes its latest value in full (as a
  scraped instance does in ScrapeSource: the judge takes the first look as its
  reference, so only what happens after it counts);
- then every sample newer than the last one counted adds its increase over the
  previous sample; a sample lower than the previous one is a counter reset (the
  process restarted from zero) and adds its value in full.

So resets are handled between every two samples Prometheus stored, not only
between looks, and once Prometheus has scraped after the last request the
totals equal the sum of the services' own counters. The window reaches back to
the previous look plus ``config.lookback`` of overlap (samples already counted
are skipped by timestamp), at most :data:`MAX_WINDOW`.

Failures give :class:`~rollsafe.errors.MetricsError`, and a failed look changes
nothing (all three answers are read before any total moves): a connection
refused, a timeout, a non-2xx answer, ``"status": "error"``, an answer that is
not the Prometheus API's, or no sample of the requests metric within the window
(the service is not scraped, or every target is down: evidence is missing, not
zero). The latency histogram and the memory gauge are optional: when
Prometheus has no such series, the observation leaves that field out, as
ScrapeSource does, and the judge has no evidence for that metric.
"""

from __future__ import annotations

import logging
import math
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from rollsafe.config.metric_sources import PrometheusMetrics
from rollsafe.config.promql import escape_string
from rollsafe.errors import MetricsError
from rollsafe.metrics.totals import ArmTotals
from rollsafe.support.buckets import le_key
from rollsafe.support.http import http_client
from rollsafe.typing import Arm, Observation

log = logging.getLogger(__name__)

MAX_WINDOW = 3600.0
"""Longest range fetched in one look (seconds); a longer gap between looks loses samples."""
MAX_SERIES = 100_000
"""Series remembered; beyond this the least recently seen are forgotten."""

SeriesKey = tuple[tuple[str, str], ...]
_Samples = tuple[dict[str, str], list[tuple[float, float]]]


@dataclass
class _Series:
    arm: Arm
    kind: str  # "requests" or "bucket"
    error: bool = False
    le: str = ""
    last_t: float = -math.inf
    last_value: float = 0.0
    look: int = 0


class PrometheusSource:
    """A :class:`rollsafe.typing.MetricSource` over a Prometheus server's query API.

    A ``client`` passed in is used as is and not closed; otherwise the source owns
    one until :meth:`close`.
    """

    def __init__(self, config: PrometheusMetrics, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self._owns_client = client is None
        self._client = client or http_client(timeout=config.timeout)
        self._url = config.url.rstrip("/") + "/api/v1/query"
        self._series: dict[SeriesKey, _Series] = {}
        self._totals: dict[Arm, ArmTotals] = {"canary": ArmTotals(), "baseline": ArmTotals()}
        self._looks = 0
        self._last_look: float | None = None  # time.monotonic() of the last successful look
        names = [config.requests_metric]
        if not config.requests_metric.endswith("_total"):
            names.append(config.requests_metric + "_total")
        arms = promql_regex([config.canary, config.baseline])
        arm_matcher = f"{config.arm_label}=~{promql_string(arms)}"
        request_labels = {**config.selector, **config.match}
        self._requests_selector = selector(request_labels, names, arm_matcher)
        self._buckets_selector = selector(
            request_labels, [config.latency_metric + "_bucket"], arm_matcher
        )
        self.memory_query = (
            f"avg by ({config.arm_label}) ({selector(config.selector, [config.memory_metric])})"
        )

    def queries(self, window: float) -> tuple[str, str, str]:
        """The PromQL of one look fetching ``window`` seconds: requests, buckets, memory."""
        millis = f"[{math.ceil(window * 1000)}ms]"
        return (
            self._requests_selector + millis,
            self._buckets_selector + millis,
            self.memory_query,
        )

    def observe(self, t: float) -> list[Observation]:
        """One look: cumulative observations for ``canary`` then ``baseline`` at time ``t``."""
        now = time.monotonic()
        window = self.config.lookback
        if self._last_look is not None:
            window = min(now - self._last_look + self.config.lookback, MAX_WINDOW)
        requests_query, buckets_query, memory_query = self.queries(window)
        requests = _matrix(self._query(requests_query, "matrix"), buckets=False)
        if not requests:
            raise MetricsError(
                f"Prometheus has no sample of {requests_query}: is it scraping the service, "
                "and are its targets up?"
            )
        buckets = _matrix(self._query(buckets_query, "matrix"), buckets=True)
        memory = _memory(self._query(memory_query, "vector"), memory_query, self.config.arm_label)
        # Every answer is read and well formed: only now do the totals move.
        self._looks += 1
        self._last_look = now
        self._accumulate(requests, "requests")
        self._accumulate(buckets, "bucket")
        self._forget_old_series()
        shared = memory.get("")
        return [
            self._observation("canary", t, memory.get(self.config.canary, shared)),
            self._observation("baseline", t, memory.get(self.config.baseline, shared)),
        ]

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _query(self, promql: str, result_type: str) -> list[Any]:
        return query(
            self._client, self._url, promql, result_type, self.config.timeout, self.config.headers
        )

    def _accumulate(self, result: list[_Samples], kind: str) -> None:
        config = self.config
        for labels, samples in result:
            key: SeriesKey = tuple(sorted(labels.items()))
            series = self._series.get(key)
            if series is None:
                arm_value = labels.get(config.arm_label)
                if arm_value not in (config.canary, config.baseline):
                    continue  # the query selects arms; this is a safety net
                arm: Arm = "canary" if arm_value == config.canary else "baseline"
                series = self._series[key] = _Series(arm, kind)
                if kind == "requests":
                    series.error = labels.get(config.status_label, "").startswith("5")
                else:
                    series.le = le_key(labels["le"])
                # First sight: the series' latest value counts in full.
                series.last_t, series.last_value = samples[-1]
                increase = series.last_value
            else:
                increase = 0.0
                for timestamp, value in samples:
                    if timestamp <= series.last_t:
                        continue  # counted by an earlier look
                    # A lower value is a reset: the counter restarted from zero.
                    increase += value - series.last_value if value >= series.last_value else value
                    series.last_t, series.last_value = timestamp, value
            series.look = self._looks
            if increase > 0:
                self._add(series, increase)

    def _add(self, series: _Series, increase: float) -> None:
        totals = self._totals[series.arm]
        if series.kind == "requests":
            totals.add_requests(increase, error=series.error)
        else:
            totals.add_bucket(series.le, increase)

    def _forget_old_series(self) -> None:
        excess = len(self._series) - MAX_SERIES
        if excess > 0:
            oldest = sorted(self._series, key=lambda key: self._series[key].look)
            for key in oldest[:excess]:
                del self._series[key]

    def _observation(self, arm: Arm, t: float, memory: float | None) -> Observation:
        return self._totals[arm].observation(t, arm, memory)


def query(
    client: httpx.Client,
    url: str,
    promql: str,
    result_type: str,
    timeout: float,
    headers: Mapping[str, str],
) -> list[Any]:
    """The ``result`` list of one instant query, or MetricsError saying what went wrong."""
    params = {"query": promql, "timeout": f"{math.ceil(timeout * 1000)}ms"}
    try:
        response = client.get(url, params=params, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        raise MetricsError(f"cannot query Prometheus at {url}: {reason}") from error
    except httpx.InvalidURL as error:
        raise MetricsError(f"invalid Prometheus URL {url!r}: {error}") from error
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("status") == "error":
        raise MetricsError(
            f"Prometheus refused {promql}: {body.get('errorType', 'error')}: "
            f"{body.get('error', 'no reason given')}"
        )
    if not response.is_success:
        raise MetricsError(f"HTTP {response.status_code} from {url} for {promql}")
    data = body.get("data") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("status") != "success"
        or not isinstance(data, dict)
        or data.get("resultType") != result_type
        or not isinstance(data.get("result"), list)
    ):
        raise MetricsError(
            f"{url} did not answer {promql} as the Prometheus API does (a {result_type} result)"
        )
    for warning in body.get("warnings") or []:
        log.warning("Prometheus warns about %s: %s", promql, warning)
    result: list[Any] = data["result"]
    return result


def selector(labels: Mapping[str, str], names: list[str], *extra: str) -> str:
    """``name{label="value",...}`` (``{__name__=~"a|b",...}`` for several names)."""
    matchers = [f"{key}={promql_string(value)}" for key, value in sorted(labels.items())]
    matchers.extend(extra)
    if len(names) == 1:
        return names[0] + "{" + ",".join(matchers) + "}"
    name_matcher = f"__name__=~{promql_string(promql_regex(names))}"
    return "{" + ",".join([name_matcher, *matchers]) + "}"


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal holding exactly ``value``."""
    return f'"{escape_string(value)}"'


def promql_regex(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these strings (Prometheus anchors it)."""
    return "|".join(
        "".join("\\" + char if char in string.punctuation else char for char in value)
        for value in values
    )


def _matrix(result: list[Any], *, buckets: bool) -> list[_Samples]:
    """Labels and (timestamp, value) samples of each series with any; MetricsError if malformed.

    NaN samples are dropped; bucket series must carry a numeric ``le``.
    """
    parsed: list[_Samples] = []
    for entry in result:
        try:
            labels = {str(key): str(value) for key, value in entry["metric"].items()}
            samples = [(float(ts), float(value)) for ts, value in entry["values"]]
            if buckets:
                le_key(labels["le"])
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise MetricsError(
                f"malformed series in the Prometheus answer: {entry!r:.200}"
            ) from error
        samples = [(ts, value) for ts, value in samples if not math.isnan(value)]
        if samples:
            parsed.append((labels, samples))
    return parsed


def _memory(result: list[Any], query: str, arm_label: str) -> dict[str, float]:
    """The answer to ``avg by (arm_label) (...)``: the mean per value of the arm label
    (``""`` for series without it); empty when no instance exposes the gauge."""
    means: dict[str, float] = {}
    for entry in result:
        try:
            group = str(entry.get("metric", {}).get(arm_label, ""))
            value = float(entry["value"][1])
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:
            raise MetricsError(f"malformed answer to {query}: {entry!r:.200}") from error
        if not math.isnan(value):
            means[group] = value
    return means
