"""Metric sources: where observations per arm come from (DESIGN.md, adapters layer).

A source implements :class:`rollsafe.typing.MetricSource`: ``observe(t)`` returns
one cumulative :class:`~rollsafe.typing.Observation` per arm, or raises
:class:`~rollsafe.errors.MetricsError`. :func:`build_source` picks one by the
plan's ``metrics.provider`` (:mod:`rollsafe.metrics.registry`). This layer imports
only ``rollsafe.config``, ``rollsafe.errors``, ``rollsafe.typing`` and third-party
packages.
"""

from rollsafe.metrics.command import CommandSource
from rollsafe.metrics.http import HttpSource
from rollsafe.metrics.prometheus import PrometheusSource
from rollsafe.metrics.registry import FACTORIES, SourceNeeds, build_source
from rollsafe.metrics.router import RouterSource
from rollsafe.metrics.scrape import ScrapeSource
from rollsafe.metrics.templates import TemplateSource

__all__ = [
    "FACTORIES",
    "CommandSource",
    "HttpSource",
    "PrometheusSource",
    "RouterSource",
    "ScrapeSource",
    "SourceNeeds",
    "TemplateSource",
    "build_source",
]
