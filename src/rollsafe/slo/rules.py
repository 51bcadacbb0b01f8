"""Prometheus recording and alerting rules of a service's objectives, named as Sloth names them.

Per objective, three groups (``rollsafe-slo-<service>-<slo>-...``):

- ``sli``: ``slo:sli_error:ratio_rate<window>`` for every window a tier uses, the
  error ratio over it; and over the period, the mean of the shortest window's
  ratio (Sloth's way: no query reads a whole month of raw samples);
- ``meta``: ``slo:objective:ratio``, ``slo:error_budget:ratio``,
  ``slo:time_period:days``, ``slo:current_burn_rate:ratio``,
  ``slo:period_burn_rate:ratio`` and ``slo:period_error_budget_remaining:ratio``;
- ``alerts``: one ``ErrorBudgetBurn`` alert per tier (as Pyrra does, so each tier
  keeps its own ``for``): both windows' ratios above ``burn x budget``.

Every series carries Sloth's ``sloth_id``, ``sloth_service``, ``sloth_slo`` (and
``sloth_window``) labels; alerts add ``severity`` (page or ticket),
``sloth_severity``, ``service``, ``slo``, ``long``, ``short`` and ``burn``, which
is what an Alertmanager route or rollsafe's receiver matches on. Windows and the
period are divided by the section's ``compress`` first, so a compressed SLO
gets rules whose names say the windows they really use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollsafe.config.slo import Objective, SloSettings
from rollsafe.slo.durations import prom_duration
from rollsafe.slo.sli import sli_queries


@dataclass(frozen=True)
class RuleSet:
    service: str
    groups: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """The rule file: ``{"groups": [...]}`` (Prometheus reads it as YAML or JSON)."""
        return {"groups": self.groups}

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [rule for group in self.groups for rule in group["rules"] if "alert" in rule]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [rule for group in self.groups for rule in group["rules"] if "record" in rule]


def rules(
    service: str,
    settings: SloSettings,
    metrics: object = None,
    *,
    interval: float | None = None,
) -> RuleSet:
    """The rules of every objective; ``interval`` sets each group's evaluation interval."""
    groups: list[dict[str, Any]] = []
    for objective in settings.objectives:
        groups.extend(_objective_groups(service, objective, settings, metrics))
    if interval is not None:
        groups = [{"name": g["name"], "interval": prom_duration(interval), **g} for g in groups]
    return RuleSet(service, groups)


def record_name(window: float) -> str:
    return f"slo:sli_error:ratio_rate{prom_duration(window)}"


def _objective_groups(
    service: str, objective: Objective, settings: SloSettings, metrics: object
) -> list[dict[str, Any]]:
    compress = settings.compress
    ids = {
        "sloth_id": f"{service}-{objective.name}",
        "sloth_service": service,
        "sloth_slo": objective.name,
    }
    match = "{" + ",".join(f'{key}="{value}"' for key, value in ids.items()) + "}"
    queries = sli_queries(objective, settings, metrics)
    windows = sorted({w / compress for tier in objective.windows for w in (tier.long, tier.short)})
    period = prom_duration(objective.period / compress)
    shortest = record_name(windows[0])
    sli = [
        {
            "record": record_name(window),
            "expr": queries.error_ratio(prom_duration(window)),
            "labels": {**ids, "sloth_window": prom_duration(window)},
        }
        for window in windows
    ]
    sli.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": f"sum_over_time({shortest}{match}[{period}]) / ignoring (sloth_window) "
            f"count_over_time({shortest}{match}[{period}])",
            "labels": {**ids, "sloth_window": period},
        }
    )
    budget = round(objective.budget, 12)
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({objective.target!r})", "labels": ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget!r})", "labels": ids},
        {
            "record": "slo:time_period:days",
            "expr": f"vector({objective.period / compress / 86400:.6g})",
            "labels": ids,
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"{shortest}{match} / on (sloth_id, sloth_slo, sloth_service) group_left "
            f"slo:error_budget:ratio{match}",
            "labels": ids,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{match}"
            " / on (sloth_id, sloth_slo, sloth_service) group_left "
            f"slo:error_budget:ratio{match}",
            "labels": ids,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{match}",
            "labels": ids,
        },
    ]
    alerts = []
    for tier in objective.windows:
        long, short = prom_duration(tier.long / compress), prom_duration(tier.short / compress)
        limit = f"({tier.burn!r} * {budget!r})"
        alert: dict[str, Any] = {
            "alert": "ErrorBudgetBurn",
            "expr": f"(max(slo:sli_error:ratio_rate{long}{match} > {limit}) "
            "without (sloth_window)"
            f" and max(slo:sli_error:ratio_rate{short}{match} > {limit}) "
            "without (sloth_window))",
        }
        if tier.for_:
            alert["for"] = prom_duration(tier.for_ / compress)
        alert["labels"] = {
            "severity": tier.severity,
            "sloth_severity": tier.severity,
            "service": service,
            "slo": objective.name,
            "long": long,
            "short": short,
            "burn": f"{tier.burn:g}",
        }
        alert["annotations"] = {
            "summary": f"{service} burns the error budget of SLO {objective.name} "
            f"{tier.burn:g}x too fast ({long}/{short})",
            "description": f"{objective.name}: {objective.target:.6g} of requests good over "
            f"{period}; the error ratio over both {long} and {short} is above "
            f"{tier.burn:g} x {budget:g}: at this rate the budget lasts "
            f"{prom_duration(objective.period / compress / tier.burn)} or less. See "
            "slo:period_error_budget_remaining:ratio for what is left.",
        }
        alerts.append(alert)
    prefix = f"rollsafe-slo-{service}-{objective.name}"
    return [
        {"name": f"{prefix}-sli", "rules": sli},
        {"name": f"{prefix}-meta", "rules": meta},
        {"name": f"{prefix}-alerts", "rules": alerts},
    ]
