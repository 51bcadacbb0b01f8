"""Which charts one analysis step gets, built once for the dashboard and the reports.

Per arm: the error rate per look, latency p50 and p99, and memory when a source
reports it. Per judged metric: the e-value against its failing threshold (log
scale) and the effect estimate inside its interval. The dashboard draws them as
they are; the HTML incident report adds the decision marker and a window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rollsafe.charts.series import AnalysisView
from rollsafe.charts.svg import Chart, Line, colour_of


@dataclass
class AnalysisCharts:
    arms: list[Chart] = field(default_factory=list)
    """Error rate, latency, and memory if any arm reported it."""
    judge: list[Chart] = field(default_factory=list)
    """Two per judged metric: e-value, and effect with its interval."""

    @property
    def all(self) -> list[Chart]:
        return [*self.arms, *self.judge]


def analysis_charts(view: AnalysisView) -> AnalysisCharts:
    arms = sorted(view.arms)
    error = Chart("error rate per look", unit="%")
    latency = Chart("latency p50 (dashed) and p99", unit="s")
    memory = Chart("memory", unit="B")
    for position, arm in enumerate(arms):
        series = view.arms[arm]
        colour = colour_of(arm, position)
        error.lines.append(Line(arm, series.error_rate, colour))
        latency.lines.append(Line(f"{arm} p99", series.latency[0.99], colour))
        latency.lines.append(Line(f"{arm} p50", series.latency[0.5], colour, dashed=True))
        memory.lines.append(Line(arm, series.memory, colour))
    charts = AnalysisCharts(arms=[error, latency])
    if any(view.arms[a].memory for a in arms):
        charts.arms.append(memory)
    for metric in view.metrics:
        e_chart = Chart(f"{metric.name}: e-value (log)", log_y=True)
        e_chart.lines.append(Line("e-value", metric.e_value, "#e45756"))
        if math.isfinite(metric.threshold):
            e_chart.references.append((metric.threshold, f"fail at {metric.threshold:g}"))
        effect = Chart(f"{metric.name}: {metric.effect} with interval")
        effect.lines.append(Line("estimate", metric.estimate, "#4c78a8"))
        effect.band = (metric.low, metric.high, "#4c78a8")
        effect.references.append((0.0, "no effect"))
        charts.judge += [e_chart, effect]
    return charts
