"""Service-level objectives: burn-rate guards, Prometheus rules and the error-budget policy.

- :mod:`rollsafe.slo.durations`: Prometheus durations (``1h12m``) and compression;
- :mod:`rollsafe.slo.sli`: the SLI's PromQL, the plan's own or from the conventions;
- :mod:`rollsafe.slo.windows`: bounded trailing windows of good and bad counts;
- :mod:`rollsafe.slo.guards`: multiwindow burn-rate guards over a rollout's looks;
- :mod:`rollsafe.slo.rules`: Prometheus recording and alerting rules (Sloth's names);
- :mod:`rollsafe.slo.budget`: the remaining error budget, read from Prometheus.

docs/slo.md explains the maths and the choices.
"""

from rollsafe.slo.guards import BurnRateEvaluator, slo_evaluators

__all__ = ["BurnRateEvaluator", "slo_evaluators"]
