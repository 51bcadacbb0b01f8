"""What Unleash SDKs report about themselves, as records: who is connected, what they counted.

The flag service parses an SDK's ``/api/client/register`` and
``/api/client/metrics`` bodies into these (`rollsafe.server.unleash_payloads`)
and the store keeps them with bounded retention (`rollsafe.store.rules.usage`).
Counters and histograms arrive as deltas since the SDK's previous send (the
impact metrics specification resets them on each collection), so summing the
stored windows gives cumulative values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WINDOW = 60.0
"""Seconds of one stored window: reports landing in the same minute are added up."""
RETENTION = 48 * 3600.0
"""Seconds a window of toggle counts or impact metrics is kept (Unleash keeps raw metrics 48h)."""
MAX_METRIC_ROWS = 200_000
"""Windows of toggle counts, and separately of impact metrics, kept at most: the oldest go."""
MAX_APPLICATIONS = 10_000
"""SDK instances remembered at most: the least recently seen are forgotten first."""


@dataclass(frozen=True)
class Registration:
    """An SDK instance as it registers (``POST /api/client/register``)."""

    app_name: str
    instance_id: str
    environment: str
    sdk_version: str = ""
    strategies: tuple[str, ...] = ()
    started: str = ""
    interval_ms: int | None = None
    platform: str = ""
    token_name: str = ""


@dataclass(frozen=True)
class ToggleCount:
    yes: int
    no: int
    variants: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImpactSample:
    """One labelled sample: ``value`` (counter, gauge), or count, sum and buckets (histogram)."""

    labels: dict[str, str]
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    buckets: dict[str, int] = field(default_factory=dict)
    """Upper bound (``"0.1"``, ``"+Inf"``) → cumulative count, as Prometheus writes ``le``."""


@dataclass(frozen=True)
class ImpactMetric:
    name: str
    kind: str
    """``counter``, ``gauge`` or ``histogram``."""
    help: str
    samples: tuple[ImpactSample, ...]


@dataclass(frozen=True)
class MetricsReport:
    """One ``POST /api/client/metrics`` body, checked."""

    app_name: str
    instance_id: str
    environment: str
    stop: float
    """When the bucket closed (epoch seconds): the window its counts land in."""
    toggles: dict[str, ToggleCount]
    impact: tuple[ImpactMetric, ...] = ()
    sdk_version: str = ""
    token_name: str = ""


@dataclass(frozen=True)
class ApplicationRecord:
    app_name: str
    instance_id: str
    environment: str
    sdk_version: str
    strategies: tuple[str, ...]
    started: str
    interval_ms: int | None
    platform: str
    token_name: str
    first_seen: float
    last_seen: float

    def as_json(self) -> dict[str, Any]:
        return {
            "appName": self.app_name,
            "instanceId": self.instance_id,
            "environment": self.environment,
            "sdkVersion": self.sdk_version,
            "strategies": list(self.strategies),
            "started": self.started,
            "interval": self.interval_ms,
            "platform": self.platform,
            "token": self.token_name,
            "firstSeen": self.first_seen,
            "lastSeen": self.last_seen,
        }


@dataclass(frozen=True)
class ToggleWindow:
    """Yes/no and variant counts of one toggle, one app, one window."""

    app_name: str
    window_start: float
    yes: int
    no: int
    variants: dict[str, int]


@dataclass(frozen=True)
class ImpactWindow:
    """One impact metric series (name and labels) in one window."""

    name: str
    kind: str
    help: str
    labels: dict[str, str]
    window_start: float
    value: float
    count: int
    sum: float
    buckets: dict[str, int]


@dataclass(frozen=True)
class FlagUsage:
    """What SDKs reported about a flag: its toggle counts, the impact metrics labelled by it."""

    toggles: list[ToggleWindow]
    impact: list[ImpactWindow]

    def as_json(self) -> dict[str, Any]:
        yes = sum(w.yes for w in self.toggles)
        no = sum(w.no for w in self.toggles)
        variants: dict[str, int] = {}
        for window in self.toggles:
            for name, count in window.variants.items():
                variants[name] = variants.get(name, 0) + count
        return {
            "yes": yes,
            "no": no,
            "variants": variants,
            "windows": [
                {
                    "appName": w.app_name,
                    "start": w.window_start,
                    "yes": w.yes,
                    "no": w.no,
                    "variants": w.variants,
                }
                for w in self.toggles
            ],
            "impactMetrics": summarize_impact(self.impact),
        }


def summarize_impact(windows: list[ImpactWindow]) -> list[dict[str, Any]]:
    """Per series (name + labels): counters and histograms summed, a gauge's latest value."""
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for w in sorted(windows, key=lambda w: w.window_start):
        key = (w.name, repr(sorted(w.labels.items())))
        entry = series.get(key)
        if entry is None:
            entry = series[key] = {
                "name": w.name,
                "type": w.kind,
                "help": w.help,
                "labels": w.labels,
                "windows": 0,
                "lastWindow": w.window_start,
            }
            if w.kind == "histogram":
                entry.update(count=0, sum=0.0, buckets={})
            else:
                entry["value"] = 0.0
        entry["windows"] += 1
        entry["lastWindow"] = w.window_start
        if w.kind == "gauge":
            entry["value"] = w.value
        elif w.kind == "counter":
            entry["value"] += w.value
        else:
            entry["count"] += w.count
            entry["sum"] += w.sum
            for le, count in w.buckets.items():
                entry["buckets"][le] = entry["buckets"].get(le, 0) + count
    return list(series.values())
