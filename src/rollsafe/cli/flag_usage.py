"""What Unleash SDKs reported about a flag, as ``rollsafe flags get`` shows it under ``usage``.

Yes/no and variant counts summed over the stored windows (48 hours at most),
and each impact metric series labelled by the flag: counters and histograms
summed, a gauge's latest value. Nothing when no SDK reported the flag.
"""

from __future__ import annotations

from typing import Any

from rollsafe.store.protocol import Store


def flag_usage_summary(store: Store, name: str, environment: str) -> dict[str, Any] | None:
    usage = store.flag_usage(name, environment)
    if not usage.toggles and not usage.impact:
        return None
    summary = usage.as_json()
    windows = summary.pop("windows")
    starts = [w["start"] for w in windows]
    summary["applications"] = sorted({w["appName"] for w in windows})
    summary["since"] = min(starts) if starts else None
    for metric in summary["impactMetrics"]:
        metric.pop("help", None)
    return summary
