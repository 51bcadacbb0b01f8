"""The sequential canary judge: observations in, verdicts with their evidence out.

>>> from rollsafe.judge import Judge
>>> judge = Judge()
>>> verdict = judge.update({"t": 0.0, "arm": "canary", "requests": 0, "errors": 0})
>>> verdict.verdict
'inconclusive'

See docs/judge.md for the statistics and the meaning of each verdict.
"""

from pathlib import Path

from rollsafe.judge.judges import Judge, Mode, check_observation, replay
from rollsafe.judge.verdicts import MetricVerdict, Outcome, Verdict
from rollsafe.support.compiled import PACKAGES, warn_if_stale

# A checkout's compiled judge (`make compile`) shadows the source: say so once it is older.
warn_if_stale(*[Path(__file__).parents[2] / package for package in PACKAGES])

__all__ = [
    "Judge",
    "MetricVerdict",
    "Mode",
    "Outcome",
    "Verdict",
    "check_observation",
    "replay",
]
