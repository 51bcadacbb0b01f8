"""Guards: absolute triggers with severities, evaluated look by look."""

from rollsafe.guards.evaluator import GuardEvaluator, GuardEvent, holds, measure
from rollsafe.guards.phases import Phase
from rollsafe.guards.windows import Sample, Window, combine

__all__ = [
    "GuardEvaluator",
    "GuardEvent",
    "Phase",
    "Sample",
    "Window",
    "combine",
    "holds",
    "measure",
]
