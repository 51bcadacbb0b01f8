"""One factory per ``metrics.provider``: how the controller gets a source for any plan.

Adding a source is one entry in :data:`FACTORIES` (Flagger's provider factory,
without an if-chain in the controller). A factory gets the plan's ``metrics``
section and :class:`SourceNeeds`, what a source may ask of the rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.errors import RollsafeError
from rollsafe.metrics.command import CommandSource
from rollsafe.metrics.http import HttpSource
from rollsafe.metrics.prometheus import PrometheusSource
from rollsafe.metrics.router import RouterSource
from rollsafe.metrics.scrape import ScrapeSource
from rollsafe.metrics.templates import TemplateSource
from rollsafe.metrics.unleash import UnleashSource
from rollsafe.typing import MetricSource


@dataclass(frozen=True)
class SourceNeeds:
    """What the rollout offers a source beside its config."""

    endpoints: Callable[[], Sequence[str]]
    """The instances' base URLs right now (the scrape source)."""
    current_release: Callable[[], str | None]
    """The release the target runs now (``{release}`` when arms are not releases)."""
    router_records: Path | None = None
    """The request records of the router fronting the instances; None without one."""
    releases: Callable[[], Mapping[str, str]] = dict
    """Each instance's address (``host:port``) → the release it runs (router records
    name the upstream address that served a request)."""


SourceFactory = Callable[[Any, SourceNeeds], MetricSource]


def _prometheus(config: Any, needs: SourceNeeds) -> MetricSource:
    if config.queries is not None:
        return TemplateSource(config, needs.current_release)
    return PrometheusSource(config)


def _router(config: Any, needs: SourceNeeds) -> MetricSource:
    if needs.router_records is None:  # refused at plan load; a guard for other callers
        raise RollsafeError("metrics from the router need a process target and a router")
    return RouterSource(config, needs.router_records, releases=needs.releases)


FACTORIES: dict[str, SourceFactory] = {
    "scrape": lambda config, needs: ScrapeSource(config, needs.endpoints),
    "prometheus": _prometheus,
    "command": lambda config, needs: CommandSource(config, needs.current_release),
    "http": lambda config, needs: HttpSource(config, needs.current_release),
    "router": _router,
    "unleash": lambda config, needs: UnleashSource(config),
}


def build_source(config: Any, needs: SourceNeeds) -> MetricSource:
    """A fresh source for a ``metrics`` section: counters start from what it first sees."""
    factory = FACTORIES.get(config.provider)
    if factory is None:
        raise RollsafeError(f"no metric source for provider {config.provider!r}")
    return factory(config, needs)
