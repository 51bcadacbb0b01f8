"""How much of each objective's error budget is left, read from Prometheus.

Why Prometheus and not the plan's metric source: the budget is about the whole
period (28 days), and only a time-series database keeps that much history. A
scrape source sees counters since each process started, and a rollout's own
looks start with the rollout. So the remaining budget is the SLI's error ratio
over the period, from the objective's queries (its own or the conventions',
:mod:`rollsafe.slo.sli`) with ``{window}`` = the (compressed) period, asked of
the section's ``budget.prometheus``, else of the plan's Prometheus metrics URL:

    remaining = 1 - error_ratio / (1 - target)

It is 1 with no error in the period and negative once the budget is overspent.
The raw SLI is read rather than the ``slo:period_error_budget_remaining:ratio``
series of the generated rules, so the policy works whether or not those rules
are loaded. No request at all in the period, or a Prometheus that does not
answer, is *unknown*, never a full budget; ``budget.on_unknown`` says what a
rollout does then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from rollsafe.config.metric_sources import PrometheusMetrics
from rollsafe.config.slo import WINDOW_PLACEHOLDER, Objective, SloSettings
from rollsafe.errors import MetricsError
from rollsafe.journal.payloads import BudgetRecord
from rollsafe.metrics.prometheus import query
from rollsafe.slo.durations import prom_duration
from rollsafe.slo.sli import sli_queries


@dataclass(frozen=True)
class Budget:
    """One objective's remaining budget (None when unknown, with ``error`` saying why)."""

    slo: str
    target: float
    period: float
    remaining: float | None
    error_ratio: float | None = None
    error: str | None = None

    def to_dict(self) -> BudgetRecord:
        return {
            "slo": self.slo,
            "target": self.target,
            "period": self.period,
            "remaining": self.remaining,
            "error_ratio": self.error_ratio,
            "error": self.error,
        }


def budget_url(settings: SloSettings, metrics: object) -> str | None:
    """Where the SLI's history is: ``budget.prometheus``, else the plan's Prometheus."""
    if settings.budget.prometheus:
        return settings.budget.prometheus
    if isinstance(metrics, PrometheusMetrics):
        return metrics.url
    return None


def remaining_budgets(
    settings: SloSettings, metrics: object = None, *, client: httpx.Client | None = None
) -> list[Budget]:
    """Every objective's remaining budget now."""
    url = budget_url(settings, metrics)
    owned = client is None
    client = client or httpx.Client()
    try:
        return [_budget(client, url, o, settings, metrics) for o in settings.objectives]
    finally:
        if owned:
            client.close()


def _budget(
    client: httpx.Client,
    url: str | None,
    objective: Objective,
    settings: SloSettings,
    metrics: object,
) -> Budget:
    period = objective.period / settings.compress

    def unknown(error: str) -> Budget:
        return Budget(objective.name, objective.target, period, None, error=error)

    if url is None:
        return unknown("no Prometheus to read it from")
    queries = sli_queries(objective, settings, metrics)
    window = prom_duration(period)
    timeout = settings.budget.timeout
    endpoint = url.rstrip("/") + "/api/v1/query"

    def ask(template: str) -> float:
        promql = template.replace(WINDOW_PLACEHOLDER, window)
        return _value(query(client, endpoint, promql, "vector", timeout, {}))

    try:
        total = ask(queries.total)
        if not total:
            return unknown(f"no requests in Prometheus over {window}")
        counted = queries.bad if queries.bad is not None else queries.good or ""
        part = ask(counted)
    except MetricsError as error:
        return unknown(str(error))
    bad = part if queries.bad is not None else total - part
    ratio = min(max(bad / total, 0.0), 1.0)
    remaining = 1 - ratio / objective.budget
    return Budget(objective.name, objective.target, period, remaining, error_ratio=ratio)


def _value(result: list[Any]) -> float:
    """The sum of an instant vector's values; 0 for an empty one (no such series)."""
    total = 0.0
    for entry in result:
        try:
            total += float(entry["value"][1])
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise MetricsError(f"a malformed sample from Prometheus: {entry!r}") from error
    return total
