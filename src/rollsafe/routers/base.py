"""What every traffic router shares: its error, its protocol and the split it applies."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rollsafe.errors import RouterError as RouterError  # defined with the whole tree

_ADDRESS = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$"
)


class TrafficRouter(Protocol):
    """Sends a share of the traffic to the canary instances, the rest to the stable ones."""

    def start(self) -> None:
        """Start serving (idempotent); the split is the last one set, if any."""
        ...

    def stop(self) -> None:
        """Stop serving, after in-flight requests (idempotent)."""
        ...

    def set_weights(self, stable: Sequence[str], canary: Sequence[str], canary_weight: int) -> None:
        """Send ``canary_weight`` percent of requests to ``canary``; RouterError if refused."""
        ...

    def restore_previous(self) -> None:
        """Return to the split in force before the last change."""
        ...

    def set_maintenance(self, retry_after: int) -> None:
        """Answer every request with 503 and ``Retry-After`` until the next ``set_weights``."""
        ...

    @property
    def in_maintenance(self) -> bool:
        """Whether the maintenance page is up."""
        ...

    @property
    def split(self) -> Split | None:
        """The split in force, None before the first ``set_weights``."""
        ...

    @property
    def url(self) -> str:
        """Where clients send requests (``http://host:port``); RouterError before a start."""
        ...


@dataclass(frozen=True)
class Split:
    """Stable and canary servers (``host:port``) and the canary's percentage of requests.

    Built with :meth:`of`, which refuses (RouterError) what no router can apply:
    a malformed address, a server in both sets, a weight outside 0..100, or traffic
    sent to an empty set.
    """

    stable: tuple[str, ...]
    canary: tuple[str, ...]
    canary_weight: int

    @classmethod
    def of(cls, stable: Sequence[str], canary: Sequence[str], canary_weight: int) -> Split:
        if isinstance(stable, str) or isinstance(canary, str):
            raise RouterError("stable and canary must be lists of host:port, not strings")
        if isinstance(canary_weight, bool) or not isinstance(canary_weight, int):
            raise RouterError(f"canary_weight must be an integer, got {canary_weight!r}")
        if not 0 <= canary_weight <= 100:
            raise RouterError(f"canary_weight must be between 0 and 100, got {canary_weight}")
        for address in [*stable, *canary]:
            match = _ADDRESS.match(address) if isinstance(address, str) else None
            if match is None or not 1 <= int(match.group(1)) <= 65535:
                raise RouterError(f"{address!r} is not a server address like 127.0.0.1:8001")
        seen: set[str] = set()
        for address in [*stable, *canary]:
            if address in seen:
                raise RouterError(f"{address} is listed twice (each server is stable or canary)")
            seen.add(address)
        if canary_weight > 0 and not canary:
            raise RouterError(f"no canary server to send {canary_weight}% of requests to")
        if canary_weight < 100 and not stable:
            raise RouterError(f"no stable server to send {100 - canary_weight}% of requests to")
        return cls(tuple(stable), tuple(canary), canary_weight)

    def server_weights(self) -> list[tuple[str, int, str]]:
        """``(address, weight, "stable"|"canary")`` with integer weights giving the split.

        Each canary server gets ``p·n_stable``, each stable one ``(100-p)·n_canary``
        (reduced by their gcd), so the canary set's share is exactly ``p`` percent.
        Servers of a set with share 0 are left out.
        """
        p = self.canary_weight
        stable_weight, canary_weight = (100 - p) * len(self.canary), p * len(self.stable)
        if p == 0:
            stable_weight = 1
        elif p == 100:
            canary_weight = 1
        else:
            divisor = math.gcd(stable_weight, canary_weight)
            stable_weight, canary_weight = stable_weight // divisor, canary_weight // divisor
        servers = [(address, stable_weight, "stable") for address in self.stable if p < 100]
        servers += [(address, canary_weight, "canary") for address in self.canary if p > 0]
        return servers

    def to_json(self) -> dict[str, Any]:
        return {
            "stable": list(self.stable),
            "canary": list(self.canary),
            "canary_weight": self.canary_weight,
        }

    @classmethod
    def from_json(cls, data: Any) -> Split:
        try:
            return cls.of(data["stable"], data["canary"], data["canary_weight"])
        except (TypeError, KeyError) as error:
            raise RouterError(f"not a saved split: {data!r:.200}") from error
