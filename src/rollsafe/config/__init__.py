"""Plans and their parts as pydantic models, loaded from YAML with file:line errors."""

from rollsafe.config.analysis import AnalysisConfig, HistogramMetric, RatioMetric, SlopeMetric
from rollsafe.config.command_target import CommandTarget
from rollsafe.config.guards import DEFAULT_GUARDS, Guard, RollbackPolicy, Verification
from rollsafe.config.health import HealthCheck
from rollsafe.config.loading import load_plan, parse_document, read_plan_text
from rollsafe.config.metric_sources import (
    CommandMetrics,
    HttpMetrics,
    PrometheusMetrics,
    PrometheusQueries,
    ScrapeMetrics,
)
from rollsafe.config.plan import (
    STEP_KINDS,
    FlagDefinition,
    Plan,
    ProcessTarget,
    Step,
)
from rollsafe.config.router_metrics import RouterMetrics
from rollsafe.config.routers import NginxRouter
from rollsafe.config.types import Duration, parse_duration

__all__ = [
    "DEFAULT_GUARDS",
    "STEP_KINDS",
    "AnalysisConfig",
    "CommandMetrics",
    "CommandTarget",
    "Duration",
    "FlagDefinition",
    "Guard",
    "HealthCheck",
    "HistogramMetric",
    "HttpMetrics",
    "NginxRouter",
    "Plan",
    "ProcessTarget",
    "PrometheusMetrics",
    "PrometheusQueries",
    "RatioMetric",
    "RollbackPolicy",
    "RouterMetrics",
    "ScrapeMetrics",
    "SlopeMetric",
    "Step",
    "Verification",
    "load_plan",
    "parse_document",
    "parse_duration",
    "read_plan_text",
]
