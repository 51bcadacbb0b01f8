"""The ``analysis.early_pass`` section of a plan: when a healthy analysis step may end early.

docs/judge.md ("Early pass") explains the margins and why the defaults are what they are.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rollsafe.config.types import Duration, Fraction, StrictModel


class EarlyPass(StrictModel):
    """Non-inferiority margins and the evidence floor for ending a healthy step early.

    A step passes early once anytime-valid confidence sequences show, on every
    metric, that the canary is no worse than the margins below. The error margin
    is the larger of a relative and an absolute one: a relative margin alone
    needs hundreds of errors to bound, so at low error rates the absolute
    margin is what makes an early pass reachable at all.
    """

    enabled: bool = True
    """Off: every healthy step waits out its duration (or the judge's strict pass)."""
    error_margin: Fraction = 0.005
    """Absolute margin on the error rate, as a fraction (0.005 = 0.5 percentage points)."""
    error_relative_margin: Annotated[float, Field(ge=0)] = 0.2
    """Relative margin on the error rate (0.2: the canary may have 1.2x the baseline's)."""
    latency_margin: Fraction = 0.01
    """Absolute margin on the share of requests slower than each histogram bound (0.01:
    one more request in a hundred may be slower than a bound than in the baseline)."""
    latency_relative_margin: Annotated[float, Field(ge=0)] = 0.2
    """Relative margin on the share of requests slower than each histogram bound."""
    min_requests: Annotated[int, Field(ge=0)] = 300
    """Requests per arm below which no step passes early (a floor, not a statistic)."""
    min_duration: Duration = 30.0
    """Seconds of analysis below which no step passes early."""
