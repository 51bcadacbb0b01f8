"""A metric source that replays observations: recorded, written by hand, or computed.

The data is in the ``rollsafe judge replay`` format (docs/judge.md, "The
observation format"): a JSON-lines file, a list of dicts, or a function of the
look's time ``t``. Lists and files are replayed one look at a time: each
``observe`` returns the observations of the next ``t`` in the data, so a
recording made at one look per second drives a test that looks every 10 ms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from rollsafe.errors import MetricsError
from rollsafe.judge import check_observation
from rollsafe.typing import Observation

Data = Path | Iterable[Mapping[str, Any]] | Callable[[float], list[Observation]]


class ReplaySource:
    """Replays ``data``; once the data is used up, each look repeats the last one
    (cumulative counters that no longer move: no new evidence).

    ``fail()`` makes every look raise MetricsError, as an unreachable endpoint does.
    :meth:`fresh` gives a new cursor over the same data, as each analysis, the
    guards and each verification open a source of their own.
    """

    def __init__(self, data: Data) -> None:
        self._function: Callable[[float], list[Observation]] | None = None
        self._looks: list[list[Observation]] = []
        if callable(data):
            self._function = data
        else:
            self._looks = _by_time(_read(data) if isinstance(data, Path) else data)
        self._next = 0
        self.error: str | None = None
        self.looked_at: list[float] = []
        """The ``t`` of every look, in order."""
        self.closed = False

    def fresh(self) -> ReplaySource:
        """A new source over the same data from its start, failing if this one fails now."""
        clone = ReplaySource([])
        clone._function, clone._looks, clone.error = self._function, self._looks, self.error
        return clone

    def fail(self, error: str = "metrics unavailable (ReplaySource.fail)") -> None:
        """Every look raises MetricsError(``error``) until :meth:`recover`."""
        self.error = error

    def recover(self) -> None:
        self.error = None

    def observe(self, t: float) -> list[Observation]:
        self.looked_at.append(t)
        if self.error is not None:
            raise MetricsError(self.error)
        if self._function is not None:
            return self._function(t)
        if not self._looks:
            raise MetricsError("no observations to replay")
        look = self._looks[min(self._next, len(self._looks) - 1)]
        self._next += 1
        return list(look)

    def close(self) -> None:
        self.closed = True


def steady(
    looks: int = 20,
    *,
    requests: int = 500,
    canary_error_rate: float = 0.0,
    baseline_error_rate: float = 0.0,
) -> list[Observation]:
    """``looks`` looks at both arms, ``requests`` new requests per arm per look, each arm
    failing its given fraction of them: healthy data, or a broken canary."""
    data: list[Observation] = []
    for look in range(1, looks + 1):
        for arm, rate in (("canary", canary_error_rate), ("baseline", baseline_error_rate)):
            total = float(requests * look)
            data.append({"t": float(look), "arm": arm, "requests": total, "errors": total * rate})
    return data


def _read(path: Path) -> list[Mapping[str, Any]]:
    observations: list[Mapping[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: not JSON: {error}") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}:{number}: an observation is a JSON object")
        observations.append(value)
    return observations


def _by_time(observations: Iterable[Mapping[str, Any]]) -> list[list[Observation]]:
    """The observations grouped into looks by their ``t``, in order of first appearance."""
    looks: dict[float, list[Observation]] = {}
    for observation in observations:
        check_observation(observation)  # ValueError naming the bad ``t`` or ``arm``
        looks.setdefault(float(observation["t"]), []).append(cast(Observation, dict(observation)))
    return list(looks.values())
