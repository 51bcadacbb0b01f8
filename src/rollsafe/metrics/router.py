"""Observations per arm from the records rollsafe's nginx writes of every request.

The router (:mod:`rollsafe.routers.records`) appends one JSON object per
request to ``requests.log`` in its home: the status the client got, each
upstream tried with its status, connect and response times, the request's
total time, and the variant header of the response. Nothing is asked of the
service. :class:`RouterSource` follows that file (:class:`~rollsafe.metrics.tail.LogTail`)
and counts, per arm, from the records written since the source was created:

- ``requests``: one per upstream tried, plus one per request nginx answered
  itself (no upstream: no split yet, maintenance). Without retries, that is one
  per request clients sent;
- ``errors``: a 5xx the client got (from the instance, or made by nginx: 502
  when no instance could be reached, 504 when one timed out), and each earlier
  upstream that failed before nginx retried another (connection refused or
  timed out: the instances never see these). A 499 (the client gave up) is not
  an error;
- ``latency_seconds_bucket``: the request's time at the router
  (``$request_time``, what the client waited), in ``config.latency_buckets``,
  cumulative with ``+Inf``, under the arm that answered.

Arms: with ``arm_label: variant``, the last upstream's variant header; with
``arm_label: release``, the release of the instance tried (``releases()`` maps
``host:port`` to release; addresses it listed once are remembered, so records
of an instance stopped since still count). A value equal to ``config.canary``
is the ``canary`` arm, to ``config.baseline`` the ``baseline`` arm, anything
else (no header, an unknown address, nginx's own answers) the arm ``other``,
which is only returned once it counted something: compare analyses ignore it,
guards over ``all`` arms and health analyses include it, so the front door's
errors are seen whatever the arms.

A record that is not a JSON object with a numeric ``status`` and
``request_time`` is counted in :attr:`RouterSource.malformed` (the last one
kept in :attr:`RouterSource.last_malformed`, cut short), logged and skipped;
a half-written last line is completed by a later look. Memory is the counts
and the tail's buffers, whatever the request rate: records are never kept.

``observe`` raises MetricsError when the records cannot be read, or before
the file first exists (the router never ran: no evidence is not zero traffic).

Why a file and not nginx's ``syslog:server=unix:...`` output (measured in
``bench/router_metrics.py``, figures in docs/benchmarks.md): nginx writes a
record with one ``write()`` as the request ends, so the file is as fresh as a
datagram, and a look reads all records since the last one with a few large
``pread`` calls instead of one ``recv`` per request. Above all, the file keeps
every record whatever the reader does: several sources follow it at once (the
guards' and the analysis'), a controller that restarts or looks only every few
seconds loses nothing, whereas a datagram socket has one reader, and nginx
drops records (non-blocking sends) once its queue (``net.unix.max_dgram_qlen``,
512 by default) is full between two reads.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rollsafe.config.router_metrics import RouterMetrics
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.metrics.tail import LogTail
from rollsafe.metrics.totals import ArmTotals
from rollsafe.typing import Observation

log = logging.getLogger(__name__)

OTHER = "other"
"""The arm of requests in neither the canary's nor the baseline's."""
MAX_ADDRESSES = 1024
"""Instance addresses remembered with their release; the oldest is forgotten first."""
_SAMPLE = 200
"""Characters of a malformed record kept to show in messages."""


@dataclass
class _Tally:
    """One arm's counts since the source was created; buckets are not cumulative here."""

    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=list)

    def totals(self, bounds: list[str]) -> ArmTotals:
        cumulative: dict[str, float] = {}
        running = 0
        for bound, count in zip(bounds, self.buckets, strict=True):
            running += count
            cumulative[bound] = float(running)
        return ArmTotals(float(self.requests), float(self.errors), cumulative)


class RouterSource:
    """A :class:`rollsafe.typing.MetricSource` over the router's request records.

    ``records`` is the router's records file; ``releases`` lists the instances
    (``host:port`` → release), needed only for ``arm_label: release``.
    """

    def __init__(
        self,
        config: RouterMetrics,
        records: Path,
        *,
        releases: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.records = Path(records)
        self.releases = releases
        self.malformed = 0
        """Records skipped because they could not be read, since the source was created."""
        self.last_malformed: str | None = None
        self._bounds = list(config.latency_buckets)
        self._labels = [repr(float(bound)) for bound in self._bounds] + ["+Inf"]
        self._tallies: dict[str, _Tally] = {}
        for arm in ("canary", "baseline"):
            self._tally(arm)
        self._by_variant = config.arm_label == "variant"
        self._arms = {config.canary: "canary", config.baseline: "baseline"}
        self._addresses: OrderedDict[str, str] = OrderedDict()
        self._refresh_addresses()
        try:
            self._tail = LogTail(self.records)
        except OSError as error:
            raise self._unreadable(error) from error

    def observe(self, t: float) -> list[Observation]:
        """One look: everything recorded since the last, as cumulative counts per arm."""
        self._refresh_addresses()
        skipped = self.malformed
        oversized = self._tail.oversized
        try:
            for line in self._tail.read():
                self._count(line)
        except OSError as error:
            raise self._unreadable(error) from error
        self.malformed += self._tail.oversized - oversized
        if self.malformed > skipped:
            log.warning(
                "skipped %d malformed records in %s; last: %s",
                self.malformed - skipped,
                self.records,
                self.last_malformed,
            )
        if not self._tail.following:
            raise MetricsError(
                f"no request records yet: {self.records} does not exist (is the router running?)"
            )
        return [
            tally.totals(self._labels).observation(t, arm, None)
            for arm, tally in self._tallies.items()
            if arm != OTHER or tally.requests
        ]

    def close(self) -> None:
        self._tail.close()

    def __enter__(self) -> RouterSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _count(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            status = int(record["status"])
            latency = float(record["request_time"])
            upstreams: str = record.get("upstream") or ""
            statuses: str = record.get("upstream_status") or ""
            variant: str = record.get("variant") or ""
            if not math.isfinite(latency):
                raise ValueError(f"request_time is {latency}")
            if not all(isinstance(value, str) for value in (upstreams, statuses, variant)):
                raise TypeError("upstream, upstream_status and variant must be strings")
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            self._malformed(line, problem)
            return
        failed = status >= 500
        if "," in upstreams or " : " in upstreams:
            # Retried: each upstream tried before the last failed (nginx retries only
            # connection errors and timeouts), in the arm of the instance it was.
            tried = _split_list(upstreams)
            for address, upstream_status in zip(tried[:-1], _split_list(statuses), strict=False):
                refused = not upstream_status.isdigit() or int(upstream_status) >= 500
                arm = self._release_arm(address) if not self._by_variant else OTHER
                self._add(arm, error=refused, latency=None)
            upstreams = tried[-1]
        if self._by_variant:
            arm = self._arms.get(variant.strip(), OTHER)
        else:
            arm = self._release_arm(upstreams)
        self._add(arm, error=failed, latency=latency)

    def _add(self, arm: str, *, error: bool, latency: float | None) -> None:
        tally = self._tallies.get(arm) or self._tally(arm)
        tally.requests += 1
        tally.errors += error
        if latency is not None:
            tally.buckets[bisect.bisect_left(self._bounds, latency)] += 1

    def _tally(self, arm: str) -> _Tally:
        tally = self._tallies[arm] = _Tally(buckets=[0] * (len(self._bounds) + 1))
        return tally

    def _release_arm(self, address: str) -> str:
        release = self._addresses.get(address)
        return OTHER if release is None else self._arms.get(release, OTHER)

    def _refresh_addresses(self) -> None:
        if self._by_variant or self.releases is None:
            return
        try:
            current = self.releases()
        except RollsafeError as error:
            # The records stay readable; addresses listed before still map to releases.
            log.warning("cannot list the instances' releases: %s", error)
            return
        for address, release in current.items():
            self._addresses[address] = release
            self._addresses.move_to_end(address)
        while len(self._addresses) > MAX_ADDRESSES:
            self._addresses.popitem(last=False)

    def _unreadable(self, error: OSError) -> MetricsError:
        return MetricsError(f"cannot read the router's records {self.records}: {error}")

    def _malformed(self, line: bytes, error: Exception) -> None:
        self.malformed += 1
        text = line[:_SAMPLE].decode(errors="replace")
        self.last_malformed = f"{text!r}: {type(error).__name__}: {error}"


def _split_list(value: str) -> list[str]:
    """nginx's per-upstream lists: ``a, b`` (retries) and ``a : b`` (internal redirects)."""
    return [item.strip() for item in value.replace(" : ", ", ").split(",")]
