"""The wire format shared by the flag service and its SDK.

Streams and the store source speak Unleash's delta API: documents
``{"events": [...]}`` of ``hydration``, ``feature-updated`` and
``feature-removed`` events, which `rollsafe.flags.Engine.apply_delta` applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollsafe.store.records import FlagChange

CONNECTED = "unleash-connected"
"""First event of a stream: the whole state, or the changes since ``Last-Event-ID``."""
UPDATED = "unleash-updated"
"""Later events: the flags that changed."""
STREAM_PATH = "/api/client/stream"
FEATURES_PATH = "/api/client/features"
HEARTBEAT_HEADER = "x-rollsafe-heartbeat"


def feature_of(change: FlagChange) -> dict[str, Any]:
    """The Unleash feature of a live change (its name taken from the row)."""
    if change.definition is None:
        raise ValueError(f"flag {change.name!r} is deleted")
    return {**change.definition, "name": change.name}


def delta_event(change: FlagChange) -> dict[str, Any]:
    """The delta API event for one change: an update, or a removal for a tombstone."""
    if change.definition is None:
        return {
            "type": "feature-removed",
            "eventId": change.revision,
            "featureName": change.name,
            "project": "default",
        }
    return {"type": "feature-updated", "eventId": change.revision, "feature": feature_of(change)}


def hydration(features: Iterable[dict[str, Any]], event_id: int = 0) -> dict[str, Any]:
    """A delta document replacing everything with ``features``.

    ``eventId`` is required by Unleash's delta format: the SDKs built on its
    Yggdrasil engine (Python, Ruby, .NET...) silently ignore a hydration without it.
    """
    return {
        "events": [
            {
                "eventId": event_id,
                "type": "hydration",
                "features": list(features),
                "segments": [],
            }
        ]
    }


def changed_names(document: Mapping[str, Any]) -> set[str] | None:
    """Names a delta document touches, or None when it replaces everything (hydration)."""
    names: set[str] = set()
    for event in document.get("events") or ():
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "feature-updated":
            feature = event.get("feature") or {}
            if isinstance(feature, dict) and isinstance(feature.get("name"), str):
                names.add(feature["name"])
        elif kind == "feature-removed" and isinstance(event.get("featureName"), str):
            names.add(event["featureName"])
        elif kind in ("hydration", "segment-updated", "segment-removed"):
            return None
    return names
