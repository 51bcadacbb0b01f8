"""The Unleash client API's views of one environment: filters, segment shape, delta documents.

Official SDKs ask for a subset of the flags (``project``, ``namePrefix``,
``tag=type:value``, each repeatable, as Unleash reads them) and say in the
``Unleash-Client-Spec`` header which specification they follow: from 4.2.0 on
they resolve segments themselves (``segments`` listed once, strategies naming
their ids); older clients get each segment's constraints inlined into the
strategies that use it. Flags stored by rollsafe already have their segments
inlined (``rollsafe flags import`` does it), so both shapes coincide for them;
the shaping matters for documents that carry segments.

``/api/client/delta`` follows Unleash's delta API: a client without a usable
``If-None-Match`` gets one ``hydration`` event (every flag, ``eventId`` the
environment's revision); a client naming a revision it holds gets the
``feature-updated`` / ``feature-removed`` events after it, or 304 when nothing
changed. The ETag is the revision in quotes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rollsafe.server.errors import ApiError
from rollsafe.server.fanout import EnvironmentState

SEGMENTS_SPEC = (4, 2, 0)
"""The first client specification whose SDKs resolve segments by id."""
MAX_FILTER_VALUES = 100


@dataclass(frozen=True)
class Filters:
    projects: tuple[str, ...] = ()
    name_prefix: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.projects or self.name_prefix or self.tags)

    def key(self) -> str:
        """A short digest naming this filter (part of the ETag of a filtered document)."""
        text = json.dumps([self.projects, self.name_prefix, self.tags])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def admits(self, feature: dict[str, Any]) -> bool:
        if self.projects and feature.get("project", "default") not in self.projects:
            return False
        if self.name_prefix and not str(feature.get("name", "")).startswith(self.name_prefix):
            return False
        if self.tags:
            tags = feature.get("tags") or []
            held = {(str(t.get("type")), str(t.get("value"))) for t in tags if isinstance(t, dict)}
            if not held.intersection(self.tags):
                return False
        return True


def filters_of(projects: Sequence[str], name_prefix: str | None, tags: Sequence[str]) -> Filters:
    """The filters of a request's query; 400 naming the parameter when one is malformed."""
    if len(projects) > MAX_FILTER_VALUES or len(tags) > MAX_FILTER_VALUES:
        raise _bad("project/tag", f"at most {MAX_FILTER_VALUES} values each")
    pairs = []
    for tag in tags:
        kind, sep, value = tag.partition(":")
        if not sep or not kind or not value:
            raise _bad("tag", f"must be 'type:value', got {tag[:100]!r}")
        pairs.append((kind, value))
    projects = tuple(p for p in projects if p)
    # A token for all projects asking for "*" (as Unleash SDKs may) means no project filter.
    if "*" in projects:
        projects = ()
    return Filters(projects, name_prefix or None, tuple(pairs))


def supports_segments(spec: str | None) -> bool:
    """Whether a client of this ``Unleash-Client-Spec`` resolves segments (False: inline them)."""
    if not spec:
        return False
    parts = spec.strip().lstrip("v").split("-")[0].split(".")
    try:
        version = tuple(int(p) for p in parts[:3])
    except ValueError:
        return False
    return version >= SEGMENTS_SPEC


def inline_segments(
    features: Iterable[dict[str, Any]], segments: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The features with each strategy's segments replaced by their constraints."""
    by_id = {s.get("id"): s for s in segments}
    shaped = []
    for feature in features:
        strategies = feature.get("strategies") or []
        if not any(isinstance(s, dict) and s.get("segments") for s in strategies):
            shaped.append(feature)
            continue
        feature = copy.deepcopy(feature)
        for strategy in feature["strategies"]:
            ids = strategy.pop("segments", None) or []
            constraints = list(strategy.get("constraints") or [])
            for segment_id in ids:
                segment = by_id.get(segment_id)
                if segment is not None:
                    constraints.extend(segment.get("constraints") or [])
            strategy["constraints"] = constraints
        shaped.append(feature)
    return shaped


def document(
    state: EnvironmentState, filters: Filters, spec: str | None, segments: Sequence[Any] = ()
) -> bytes:
    """The ``/api/client/features`` document of ``state`` for this filter and client spec."""
    features = [f for f in state.features() if filters.admits(f)]
    if not supports_segments(spec):
        features, segments = inline_segments(features, segments), []
    return json.dumps(
        {
            "version": 1,
            "features": features,
            "segments": list(segments),
            "query": _query(filters),
            "meta": {"revision": state.revision, "environment": state.name},
        },
        separators=(",", ":"),
    ).encode()


def feature(state: EnvironmentState, name: str) -> dict[str, Any]:
    """One live feature of ``state``; 404 when it does not exist (or was deleted)."""
    change = state.flags.get(name)
    if change is None or change.definition is None:
        raise ApiError(404, "not_found", f"no flag {name!r} in environment {state.name!r}")
    return {**change.definition, "name": name}


def delta(state: EnvironmentState, held: int | None, filters: Filters) -> dict[str, Any] | None:
    """The delta document for a client holding revision ``held`` (None: hydration); None: 304."""
    revision = state.revision
    if held is not None and held == revision:
        return None
    if held is None or held > revision:
        features = [f for f in state.features() if filters.admits(f)]
        return {
            "events": [
                {"eventId": revision, "type": "hydration", "features": features, "segments": []}
            ]
        }
    events = []
    for change in sorted(state.flags.values(), key=lambda c: c.revision):
        if change.revision <= held:
            continue
        definition = change.definition
        live = definition is not None and filters.admits({**definition, "name": change.name})
        if live:
            events.append(
                {
                    "eventId": change.revision,
                    "type": "feature-updated",
                    "feature": {**(definition or {}), "name": change.name},
                }
            )
        else:
            # Deleted, or moved out of the filter: either way the client must drop it.
            events.append(
                {
                    "eventId": change.revision,
                    "type": "feature-removed",
                    "featureName": change.name,
                    "project": (definition or {}).get("project", "default"),
                }
            )
    return {"events": events}


def held_revision(if_none_match: str | None) -> int | None:
    """The revision an ``If-None-Match`` names (``"12"``, ``W/"12"``), or None."""
    if if_none_match is None:
        return None
    text = if_none_match.split(",")[0].strip().removeprefix("W/").strip('"')
    if not (0 < len(text) <= 18 and text.isascii() and text.isdigit()):
        return None
    return int(text)


def _query(filters: Filters) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if filters.projects:
        query["project"] = list(filters.projects)
    if filters.name_prefix:
        query["namePrefix"] = filters.name_prefix
    if filters.tags:
        query["tag"] = [[kind, value] for kind, value in filters.tags]
    return query


def _bad(field: str, message: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        f"{field}: {message}",
        problems=[{"field": field, "message": message}],
    )
