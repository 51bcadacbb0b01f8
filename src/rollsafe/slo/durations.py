"""Durations as Prometheus writes them, and the compressed ones tests and drills use."""

from __future__ import annotations

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def prom_duration(seconds: float) -> str:
    """``3600`` → ``1h``, ``4320`` → ``1h12m``, ``0.4`` → ``400ms`` (rounded to a millisecond,
    at least 1ms): what a range selector ``[...]`` and a rule's ``for`` accept."""
    left = max(round(seconds * 1000), 1)
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
