"""The ``load`` step: a performance gate that drives the same traffic at two releases.

The runbooks' "no performance regression > 10%" is a comparison, not a threshold:
the baseline and the candidate get the same requests at the same time on the same
machine, so what the machine does to both (another job, a noisy neighbour) cancels,
and the judge compares their latency and throughput with practical margins.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rollsafe.config.types import Duration, Fraction, StrictModel

_URL = r"^https?://[^\s/]+(/\S*)?$"


class LoadStep(StrictModel):
    """Traffic at ``baseline`` and ``candidate`` side by side for ``duration``, then judged.

    Without URLs, the baseline is the target's first stable instance and the candidate
    its first canary instance (after a ``canary`` step), each at ``path``.
    """

    duration: Annotated[Duration, Field(gt=0)] = 10.0
    rate: Annotated[float, Field(gt=0, le=10_000)] | None = 50.0
    """Requests per second sent to each arm on a fixed schedule (open loop). ``null``:
    as fast as ``connections`` allow (closed loop; what wrk always does)."""
    connections: Annotated[int, Field(ge=1, le=256)] = 8
    """Requests in flight per arm at most; a send that finds them all busy is skipped
    and counted as ``dropped`` (the arm could not keep up with the rate)."""
    path: Annotated[str, Field(pattern=r"^/\S*$")] = "/"
    baseline: Annotated[str, Field(pattern=_URL)] | None = None
    candidate: Annotated[str, Field(pattern=_URL)] | None = None
    margin: Annotated[Fraction, Field(gt=0)] = 0.1
    """The regression that fails the gate: the candidate slower than the baseline by more
    than this fraction at a compared quantile, or its throughput lower by more."""
    slowdown_margin: Duration = 0.005
    """... and slower by more than this many seconds (the judge's practical margin)."""
    warmup: Duration = 1.0
    """Latency of the first seconds of each arm adds no evidence (cold caches)."""
    timeout: Annotated[Duration, Field(gt=0)] = 5.0
    """Per request; a request that takes longer is an error."""
    min_requests: Annotated[int, Field(ge=1)] = 50
    """Requests each arm must complete for the gate to pass."""
    tool: Literal["builtin", "wrk", "auto"] = "builtin"
    """``wrk`` runs wrk (closed loop, ``connections`` per arm); ``auto`` uses it when
    installed and ``rate`` is null, else the built-in generator."""
    on_inconclusive: Literal["pause", "rollback"] | None = None
    """Unset: the plan's ``analysis.on_inconclusive``. Never a pass."""

    @model_validator(mode="after")
    def _both_urls_or_neither(self) -> LoadStep:
        if (self.baseline is None) != (self.candidate is None):
            raise ValueError("give both baseline and candidate URLs, or neither (the target's)")
        if self.tool == "wrk" and self.rate is not None:
            raise ValueError("wrk sends as fast as it can: set rate: null with tool: wrk")
        return self
