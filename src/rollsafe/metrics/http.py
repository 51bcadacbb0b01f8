"""Observations from an HTTP endpoint: a GET per arm whose JSON fields map onto an observation.

For backends reachable over HTTP with JSON answers (a Datadog or New Relic
query API, a service's own stats page). One look sends one GET per arm, with
``{arm}``/``{release}`` filled in the URL (URL-encoded) and in the query
parameters; each observation field is read at its JSONPath-lite path
(:mod:`rollsafe.config.json_paths`), then checked as the ``command`` source
checks its output (:mod:`rollsafe.metrics.readings`).

A connection failure, a timeout, a non-2xx answer, a body that is not JSON, a
path that leads nowhere or a value of the wrong type fails the look with a
MetricsError naming it, and changes no total.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from rollsafe.config import json_paths
from rollsafe.config.metric_sources import HttpMetrics
from rollsafe.config.placeholders import substitute
from rollsafe.errors import MetricsError
from rollsafe.metrics.arms import ARMS, arm_values, missing_release
from rollsafe.metrics.readings import ArmReadings, Reading, parse_reading
from rollsafe.support.http import http_client
from rollsafe.typing import Arm, Observation


class HttpSource:
    """A :class:`rollsafe.typing.MetricSource` over one GET per arm and look.

    A ``client`` passed in is used as is and not closed; otherwise the source owns
    one until :meth:`close`.
    """

    def __init__(
        self,
        config: HttpMetrics,
        current_release: Callable[[], str | None],
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.current_release = current_release
        self._owns_client = client is None
        self._client = client or http_client(timeout=config.timeout)
        self._readings = ArmReadings()

    def observe(self, t: float) -> list[Observation]:
        """One look: cumulative observations for ``canary`` then ``baseline`` at time ``t``."""
        # Both arms are read before any total moves: a failed look changes nothing.
        return self._readings.look(t, {arm: self._get(arm) for arm in ARMS})

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _get(self, arm: Arm) -> Reading:
        config = self.config
        values = arm_values(config, arm, self.current_release)
        try:
            url = substitute(config.url, values, lambda value: quote(value, safe=""))
            params = {key: substitute(value, values) for key, value in config.params.items()}
        except KeyError as error:
            raise missing_release(error) from None
        where = f"GET {url} ({arm})"
        try:
            response = self._client.get(
                url, params=params, headers=config.headers, timeout=config.timeout
            )
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error}".rstrip(": ")
            raise MetricsError(f"{where} failed: {reason}") from error
        except httpx.InvalidURL as error:
            raise MetricsError(f"{where}: invalid URL: {error}") from error
        if not response.is_success:
            raise MetricsError(f"HTTP {response.status_code} from {where}")
        try:
            body = response.json()
        except ValueError:
            raise MetricsError(f"{where} did not answer JSON: {response.text[:120]!r}") from None
        try:
            return parse_reading(self._fields(body))
        except MetricsError as error:
            raise MetricsError(f"{where}: {error}") from None

    def _fields(self, body: Any) -> dict[str, Any]:
        """The observation fields found at their paths; MetricsError naming a missing one."""
        found: dict[str, Any] = {}
        for field, path in self.config.fields.model_dump(exclude_none=True).items():
            try:
                found[field] = json_paths.lookup(body, path)
            except KeyError as error:
                raise MetricsError(f"{field} at {path}: {error.args[0]}") from None
        return found
