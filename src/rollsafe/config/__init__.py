"""Plans and their parts as pydantic models, loaded from YAML with file:line errors."""

from rollsafe.config.analysis import AnalysisConfig, HistogramMetric, RatioMetric, SlopeMetric
from rollsafe.config.guards import DEFAULT_GUARDS, Guard, RollbackPolicy, Verification
from rollsafe.config.loading import load_plan, parse_document, read_plan_text
from rollsafe.config.plan import (
    STEP_KINDS,
    FlagDefinition,
    HealthCheck,
    Plan,
    ProcessTarget,
    ScrapeMetrics,
    Step,
)
from rollsafe.config.types import Duration, parse_duration

__all__ = [
    "DEFAULT_GUARDS",
    "STEP_KINDS",
    "AnalysisConfig",
    "Duration",
    "FlagDefinition",
    "Guard",
    "HealthCheck",
    "HistogramMetric",
    "Plan",
    "ProcessTarget",
    "RatioMetric",
    "RollbackPolicy",
    "ScrapeMetrics",
    "SlopeMetric",
    "Step",
    "Verification",
    "load_plan",
    "parse_document",
    "parse_duration",
    "read_plan_text",
]
