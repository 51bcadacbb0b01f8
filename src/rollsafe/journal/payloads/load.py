"""The ``load.started`` and ``load.verdict`` entries of a load step, and their readers.

Written by `rollsafe.controller.loadgate`. The CLI's live line and the incident
report's "Performance gates" section read each arm's counts and quantiles, the
throughput check and the outcome back; the judge's own part is the
`VerdictRecord` an analysis step journals too.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import Any, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of
from rollsafe.journal.payloads.verdicts import Outcome, VerdictRecord


class LoadStarted(TypedDict):
    """A ``load.started`` entry."""

    urls: dict[str, str]
    """``baseline`` and ``candidate``."""
    tool: str
    """``builtin`` or ``wrk``."""
    duration: float
    rate: float | None
    """Requests per second per arm; None: as fast as the connections go (wrk)."""


class LoadArm(TypedDict):
    """One arm's traffic in a ``load.verdict`` entry."""

    url: str
    sent: int
    ok: int
    errors: int
    dropped: int
    """Requests due that no free connection could send."""
    rps: float
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    """Latency quantiles over the histogram (`rollsafe.judge.latency.QUANTILES`); None
    without a completed request."""
    by_error: NotRequired[dict[str, int]]
    """Only when requests failed: how many of each kind of failure."""
    wrk_percentiles: NotRequired[Any]
    """wrk only: its own percentile table."""


class Throughput(TypedDict):
    baseline_rps: float
    candidate_rps: float
    ratio: float | None
    min_ratio: float
    ok: bool


class ClientLag(TypedDict):
    """The built-in client's own event-loop delays (milliseconds), and the limit they must
    stay under for a pass to be evidence."""

    p50: float
    p90: float
    max: float
    limit: float


class LoadVerdict(TypedDict):
    """A ``load.verdict`` entry, and a load step's result."""

    tool: str
    elapsed: float
    rate: float | None
    connections: int
    margin: float
    slowdown_margin: float
    arms: dict[str, LoadArm]
    """``baseline`` and ``candidate``."""
    throughput: Throughput
    judge: VerdictRecord
    outcome: Outcome
    """Not ``verdict``: readers take a step's ``verdict`` as the judge's."""
    client_lag_ms: NotRequired[ClientLag]
    """The built-in client only, when it sampled its delays."""


def load_started(entry: JournalEntry) -> LoadStarted:
    """A ``load.started`` entry's data (a copy)."""
    return cast(LoadStarted, data_of(entry, Kind.LOAD_STARTED))


def load_verdict(entry: JournalEntry) -> LoadVerdict:
    """A ``load.verdict`` entry's data (a copy)."""
    return cast(LoadVerdict, data_of(entry, Kind.LOAD_VERDICT))
