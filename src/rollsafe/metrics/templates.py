"""Observations per arm from the plan's own PromQL (``metrics.queries``): query templates.

For services instrumented their own way (Micrometer's
``http_server_requests_seconds_count``, OpenTelemetry through Prometheus,
ingress-nginx), in the spirit of Argo Rollouts' and Flagger's metric templates.
One look runs each template as an instant query once per arm, with ``{arm}`` and
``{release}`` filled (:mod:`rollsafe.config.placeholders`):

- ``requests`` and ``errors``: every returned series is a cumulative counter,
  tracked from look to look by its labels (a series seen first counts in full, a
  lower value is a reset and counts in full), so the totals only grow, as with
  rollsafe's own conventions (:mod:`rollsafe.metrics.prometheus`);
- ``latency_buckets``: the same, per ``le`` label (a series without one is an error);
- ``memory``: the mean of the returned values, the arm's ``memory_bytes``.

A query Prometheus refuses, an answer that is not an instant vector, or no
series at all for the requests of either arm fails the look with a
MetricsError; a failed look changes no total. An arm whose queries return no
series has had no requests (a flag at 0%): zeros, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx

from rollsafe.config.metric_sources import PrometheusMetrics, PrometheusQueries
from rollsafe.config.promql import fill
from rollsafe.errors import MetricsError
from rollsafe.metrics.arms import ARMS, arm_values, missing_release
from rollsafe.metrics.counters import CounterTracker
from rollsafe.metrics.prometheus import query
from rollsafe.metrics.readings import le_key
from rollsafe.metrics.totals import ArmTotals
from rollsafe.support.http import http_client
from rollsafe.typing import Arm, Observation

_QUERIES = ("requests", "errors", "latency_buckets", "memory")
_Answer = list[tuple[tuple[tuple[str, str], ...], float]]  # (sorted labels, value) per series


class TemplateSource:
    """A :class:`rollsafe.typing.MetricSource` over the plan's PromQL templates.

    A ``client`` passed in is used as is and not closed; otherwise the source owns
    one until :meth:`close`.
    """

    def __init__(
        self,
        config: PrometheusMetrics,
        current_release: Callable[[], str | None],
        *,
        client: httpx.Client | None = None,
    ) -> None:
        if config.queries is None:
            raise ValueError("TemplateSource needs metrics.queries")
        self.config = config
        self.queries: PrometheusQueries = config.queries
        self.current_release = current_release
        self._owns_client = client is None
        self._client = client or http_client(timeout=config.timeout)
        self._url = config.url.rstrip("/") + "/api/v1/query"
        self._counters = CounterTracker()
        self._totals: dict[Arm, ArmTotals] = {arm: ArmTotals() for arm in ARMS}

    def promql(self, arm: Arm) -> dict[str, str]:
        """The queries of one look for ``arm``, placeholders filled."""
        values = arm_values(self.config, arm, self.current_release)
        filled = {}
        for name in _QUERIES:
            template = getattr(self.queries, name)
            if template is not None:
                try:
                    filled[name] = fill(template, values)
                except KeyError as error:
                    raise missing_release(error) from None
        return filled

    def observe(self, t: float) -> list[Observation]:
        """One look: cumulative observations for ``canary`` then ``baseline`` at time ``t``."""
        answers = {arm: self._answers(arm) for arm in ARMS}
        if not any(answers[arm]["requests"] for arm in ARMS):
            raise MetricsError(
                "Prometheus returned no series for the requests query of either arm "
                f"({self.promql('canary')['requests']}): is it scraping the service?"
            )
        # Every answer is read and well formed: only now do the totals move.
        observations: list[Observation] = []
        for arm in ARMS:
            totals = self._totals[arm]
            for labels, value in answers[arm]["requests"]:
                totals.requests += self._counters.increase((arm, "requests", labels), value)
            for labels, value in answers[arm]["errors"]:
                totals.errors += self._counters.increase((arm, "errors", labels), value)
            for labels, value in answers[arm].get("latency_buckets", []):
                le = le_key(dict(labels)["le"])
                totals.add_bucket(le, self._counters.increase((arm, "bucket", labels), value))
            memory = [value for _labels, value in answers[arm].get("memory", [])]
            observations.append(
                totals.observation(t, arm, sum(memory) / len(memory) if memory else None)
            )
        return observations

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _answers(self, arm: Arm) -> dict[str, _Answer]:
        answers = {}
        for name, promql in self.promql(arm).items():
            result = query(
                self._client, self._url, promql, "vector", self.config.timeout, self.config.headers
            )
            answers[name] = _vector(result, promql, buckets=name == "latency_buckets")
        return answers


def _vector(result: list[Any], promql: str, *, buckets: bool) -> _Answer:
    """(labels, value) of each series with a number; MetricsError if malformed."""
    parsed: _Answer = []
    for entry in result:
        try:
            labels = tuple(sorted((str(k), str(v)) for k, v in entry["metric"].items()))
            value = float(entry["value"][1])
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            raise MetricsError(
                f"malformed series in the answer to {promql}: {entry!r:.200}"
            ) from error
        if buckets:
            le = dict(labels).get("le")
            if le is None:
                raise MetricsError(f"a series without an le label in the answer to {promql}")
            le_key(le)
        if not math.isnan(value):
            parsed.append((labels, value))
    return parsed
