"""Spell a histogram bucket's ``le`` bound one way, whoever reported it.

Prometheus's API and a scraped ``/metrics`` page write the same bound as
``0.05``, ``5e-2`` or ``+Inf``; buckets from both are matched by this key.
"""

from __future__ import annotations

import math


def le_key(raw: str) -> str:
    """A bucket bound spelled one way: ``"0.05"``, ``"1.0"``, ``"+Inf"``; ValueError if bad."""
    bound = float(raw)
    return "+Inf" if bound == math.inf else repr(bound)
