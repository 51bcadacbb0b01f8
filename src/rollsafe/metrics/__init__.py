"""Metric sources: where observations per arm come from (DESIGN.md, adapters layer).

A source implements :class:`rollsafe.typing.MetricSource`: ``observe(t)`` returns
one cumulative :class:`~rollsafe.typing.Observation` per arm, or raises
:class:`~rollsafe.errors.MetricsError`. This layer imports only ``rollsafe.config``,
``rollsafe.errors``, ``rollsafe.typing`` and third-party packages.
"""

from rollsafe.metrics.prometheus import PrometheusSource
from rollsafe.metrics.router import RouterSource
from rollsafe.metrics.scrape import ScrapeSource

__all__ = ["PrometheusSource", "RouterSource", "ScrapeSource"]
