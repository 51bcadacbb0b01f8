"""The PromQL of an objective's SLI, as rates over ``{window}``: the plan's or the conventions'.

An objective may give its own ``queries`` (Sloth's shape: ``total`` and
``errors`` or ``good``). Otherwise they follow rollsafe's metric conventions
(:class:`rollsafe.config.metric_sources.Conventions`, the plan's ``metrics``
names and labels when it uses them): availability counts
``http_requests_total`` with a 5xx ``status`` as errors; latency counts
``http_request_duration_seconds_bucket`` at ``le`` = the threshold as good.
Series are narrowed by the section's ``selector`` (else the plan's Prometheus
``selector``) and the metrics' ``match``.

A bucket's ``le`` is a string in Prometheus, written ``1.0`` by Python's client
and ``1`` by Go's: the default latency query matches either spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollsafe.config.metric_sources import Conventions, PrometheusMetrics, ScrapeMetrics
from rollsafe.config.slo import WINDOW_PLACEHOLDER, Objective, SloSettings
from rollsafe.metrics.prometheus import promql_regex, promql_string, selector


@dataclass(frozen=True)
class SliQueries:
    """``bad`` or ``good`` (one is None) and ``total``, each with ``{window}`` to fill."""

    total: str
    bad: str | None
    good: str | None

    def error_ratio(self, window: str) -> str:
        """The share of bad requests over ``window`` (a Prometheus duration)."""
        total = self.total.replace(WINDOW_PLACEHOLDER, window)
        if self.bad is not None:
            return f"({self.bad.replace(WINDOW_PLACEHOLDER, window)}) / ({total})"
        good = (self.good or "").replace(WINDOW_PLACEHOLDER, window)
        return f"1 - (({good}) / ({total}))"


def le_values(threshold: float) -> list[str]:
    """The spellings of a bucket bound: ``0.25``; ``1.0`` and ``1``."""
    spellings = [repr(float(threshold)), format(threshold, "g")]
    return list(dict.fromkeys(spellings))


def sli_queries(objective: Objective, settings: SloSettings, metrics: object = None) -> SliQueries:
    """The objective's queries; ``metrics`` is the plan's ``metrics`` (None for an SLO file)."""
    if objective.queries is not None:
        own = objective.queries
        return SliQueries(own.total, own.errors, own.good)
    conventions = metrics if isinstance(metrics, Conventions) else ScrapeMetrics()
    labels = dict(settings.selector)
    if not labels and isinstance(metrics, PrometheusMetrics):
        labels = dict(metrics.selector)
    labels.update(conventions.match)
    if objective.sli == "availability":
        name = conventions.requests_metric
        total = selector(labels, [name])
        errors = selector(labels, [name], f'{conventions.status_label}=~"5.."')
        return SliQueries(_rate(total), _rate(errors), None)
    bucket = conventions.latency_metric + "_bucket"
    le = promql_string(promql_regex(le_values(objective.threshold or 0.0)))
    total = selector(labels, [bucket], 'le="+Inf"')
    good = selector(labels, [bucket], f"le=~{le}")
    return SliQueries(_rate(total), None, _rate(good))


def _rate(series: str) -> str:
    return f"sum(rate({series}[{WINDOW_PLACEHOLDER}]))"
