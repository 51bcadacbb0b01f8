"""Faults a 1.1.0 release can be built with (``"fault"`` in ``release.json``), for the demo.

A fault is active only on release 1.1.0; 1.0.0 ignores the field, so rolling back
the release always removes the code-level faults.

- ``errors``: the fast-checkout path (flag ``fast-checkout`` on, ``variant="new"``)
  answers 500 on 5% of checkouts, before writing anything. The old path is unaffected,
  so turning the flag off (rollback level 1) recovers.
- ``latency``: the fast-checkout path sleeps 150-200 ms on 10% of checkouts, which
  moves its p95 from a few milliseconds to about 175 ms. The flag off recovers.
- ``leak``: every request on every path, flag or not, retains 96 KiB that are never
  freed (about 4.8 MB/s per instance at 50 requests/s). Turning the flag off does not
  stop it; going back to 1.0.0 (level 2) does, since the leak dies with the process.
- ``corrupt``: 1.1.0's schema migration destroys the ``orders`` table's
  ``total_cents`` column; see :mod:`rollsafe.demo.shop.orders` for exactly what it
  does and how each release then answers. Only restoring the database recovers.
"""

from __future__ import annotations

import random

from rollsafe.demo.shop.release import Release

ERROR_RATE = 0.05
SLOW_SHARE = 0.10
SLOW_SECONDS = (0.150, 0.200)
LEAK_BYTES = 96 * 1024


class Faults:
    """The active fault of one app instance, and the memory it leaked."""

    def __init__(self, release: Release, rng: random.Random | None = None) -> None:
        self.fault = release.active_fault
        self._rng = rng or random.Random()
        self._leaked: list[bytes] = []

    def on_request(self) -> None:
        """Called for every HTTP request; ``leak`` keeps a fresh, touched buffer forever."""
        if self.fault == "leak":
            # Filled with a non-zero byte so every page is written and counts in the RSS.
            self._leaked.append(b"\xa5" * LEAK_BYTES)

    def fast_checkout_fails(self) -> bool:
        return self.fault == "errors" and self._rng.random() < ERROR_RATE

    def fast_checkout_delay(self) -> float:
        if self.fault == "latency" and self._rng.random() < SLOW_SHARE:
            return self._rng.uniform(*SLOW_SECONDS)
        return 0.0

    @property
    def leaked_bytes(self) -> int:
        return len(self._leaked) * LEAK_BYTES
