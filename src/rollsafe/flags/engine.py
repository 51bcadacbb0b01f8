"""`Engine`: Unleash-compatible local flag evaluation, compiled once, evaluated without I/O.

An engine is built from an Unleash ``/api/client/features`` document
(`Engine.from_unleash`) or from delta API events (`Engine.from_delta`,
`Engine.apply_delta`). Building it checks every field and compiles each feature
into predicates: constraints are parsed, segments resolved, hash prefixes and
thresholds precomputed, so `Engine.is_enabled` is a dict lookup and a few
closure calls. An engine never changes after it is built: `apply_delta`
returns a new one, so a reader can swap engines between requests without locks.

Wrong types anywhere in a document raise `rollsafe.errors.FlagError` naming the
feature (or segment, or event) and the field. Definitions that are well-formed
but cannot be evaluated (an unknown strategy or operator, an invalid regex)
evaluate to false, as the Unleash specification requires; pass ``strict=True``
to refuse them instead (what a flag service should do with its own writes).
"""

from __future__ import annotations

import functools
import math
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from rollsafe.errors import FlagError
from rollsafe.flags.contexts import EMPTY_CONTEXT, Context, Predicate, never
from rollsafe.flags.features import (
    Dependency,
    Feature,
    all_of_checks,
    compile_feature,
    compile_segment,
    copy_definition,
    copy_json,
    index_features,
    index_segments,
)
from rollsafe.flags.strategies import StrategyScope
from rollsafe.flags.validation import (
    expect_int,
    expect_list,
    expect_mapping,
    expect_str,
    fail,
    type_name,
)

__all__ = ["Engine", "rollout_feature"]

_DOCUMENT = "document"


def _disabled_variant(feature_enabled: bool) -> dict[str, Any]:
    return {"name": "disabled", "enabled": False, "feature_enabled": feature_enabled}


@functools.cache
def _machine_hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname() or "undefined"


class Engine:
    """Evaluates Unleash feature flags locally; immutable once built.

    Contexts are mappings with Unleash's keys (``userId``, ``sessionId``,
    ``remoteAddress``, ``currentTime``, ``environment``, ``appName``) and custom
    fields under ``properties``.
    """

    __slots__ = (
        "_checks",
        "_dependency_checks",
        "_dependents",
        "_features",
        "_hostname",
        "_raw_segments",
        "_segments",
        "_strict",
    )

    def __init__(self, *, strict: bool = False, hostname: str | None = None) -> None:
        """An engine without features (every flag off); see `from_unleash` and `from_delta`.

        ``strict`` refuses unknown strategies, operators, delta events and invalid
        constraint values with `FlagError`; ``hostname`` is what
        ``applicationHostname`` compares with (default: ``$HOSTNAME``, else the host name).
        """
        self._strict = strict
        self._hostname = hostname
        self._raw_segments: dict[int, Mapping[str, Any]] = {}
        self._segments: dict[int, tuple[Predicate, ...]] = {}
        self._features: dict[str, Feature] = {}
        self._checks: dict[str, Predicate] = {}
        self._dependency_checks: dict[str, Predicate] = {}
        self._dependents: frozenset[str] = frozenset()
        """Features with dependencies."""

    # -- building -------------------------------------------------------------------------
    #
    # Engines built one from another share everything that did not change: the
    # compiled features, their definitions and the segments. An update copies the
    # two name-keyed dicts (features, checks) and compiles only the features its
    # events touch (and those using a touched segment); nothing else is visited.

    @classmethod
    def from_unleash(
        cls,
        state: Mapping[str, Any],
        *,
        strict: bool = False,
        hostname: str | None = None,
        copy: bool = True,
    ) -> Engine:
        """Build from an Unleash ``/api/client/features`` document.

        ``{"version": 1, "features": [...], "segments": [...]}``; raises `FlagError`.
        The engine keeps deep copies of the definitions; ``copy=False`` keeps the
        document's own, for a caller that never changes it afterwards (one it just parsed).
        """
        state = expect_mapping(state, _DOCUMENT, "(top level)")
        if "features" not in state and "events" in state:
            fail(_DOCUMENT, "features", "missing (a delta document? use Engine.from_delta)")
        if "features" not in state:
            fail(_DOCUMENT, "features", "missing")
        features = expect_list(state["features"], _DOCUMENT, "features")
        segments = expect_list(state.get("segments"), _DOCUMENT, "segments")
        engine = cls(strict=strict, hostname=hostname)
        raw_segments = index_segments(segments, _DOCUMENT, "segments", copy=copy)
        definitions = index_features(features, _DOCUMENT, "features", copy=copy)
        return engine._rebuild(
            dict.fromkeys(definitions), definitions, raw_segments, set(raw_segments), set()
        )

    @classmethod
    def from_delta(
        cls,
        document: Mapping[str, Any],
        *,
        strict: bool = False,
        hostname: str | None = None,
        copy: bool = True,
    ) -> Engine:
        """Build from an Unleash delta API document ``{"events": [...]}`` (see `apply_delta`)."""
        return cls(strict=strict, hostname=hostname).apply_delta(document, copy=copy)

    def apply_delta(self, document: Mapping[str, Any], *, copy: bool = True) -> Engine:
        """A new engine with the delta API events of ``document`` applied, in order.

        Events: ``hydration`` (``features`` and ``segments`` replace everything),
        ``feature-updated`` (``feature``), ``feature-removed`` (``featureName``),
        ``segment-updated`` (``segment``), ``segment-removed`` (``segmentId``).
        Unknown event types are skipped (refused when strict). Raises `FlagError`;
        this engine is unchanged either way. ``copy=False``: as for `from_unleash`.
        """
        document = expect_mapping(document, "delta document", "(top level)")
        if "events" not in document:
            fail("delta document", "events", "missing")
        events = expect_list(document["events"], "delta document", "events")
        # Every insertion and removal goes to `features` as it would to the document,
        # so it keeps the document's order; None holds the place of one in `pending`.
        features: dict[str, Feature | None] = dict(self._features)
        pending: dict[str, Mapping[str, Any]] = {}  # definitions to compile, by name
        removed: set[str] = set()
        raw_segments = self._raw_segments  # copied before its first change
        changed_segments: set[int] = set()
        for index, event in enumerate(events):
            event = expect_mapping(event, "delta document", f"events[{index}]")
            owner = f"delta event {event.get('eventId', index)!r}"
            kind = expect_str(event.get("type"), owner, "type")
            if kind == "feature-updated":
                feature = expect_mapping(event.get("feature"), owner, "feature")
                name = expect_str(feature.get("name"), owner, "feature.name", non_empty=True)
                features[name] = None
                pending[name] = copy_definition(feature, owner, "feature") if copy else feature
            elif kind == "feature-removed":
                name = expect_str(event.get("featureName"), owner, "featureName", non_empty=True)
                features.pop(name, None)
                pending.pop(name, None)
                removed.add(name)
            elif kind == "hydration":
                raw_segments = index_segments(event.get("segments"), owner, "segments", copy=copy)
                pending = index_features(event.get("features"), owner, "features", copy=copy)
                features = dict.fromkeys(pending)
                removed.update(self._features)
                changed_segments.update(self._raw_segments, raw_segments)
            elif kind in ("segment-updated", "segment-removed"):
                if raw_segments is self._raw_segments:
                    raw_segments = dict(raw_segments)
                if kind == "segment-updated":
                    segment = expect_mapping(event.get("segment"), owner, "segment")
                    segment_id = expect_int(segment.get("id"), owner, "segment.id")
                    raw_segments[segment_id] = (
                        copy_definition(segment, owner, "segment") if copy else segment
                    )
                else:
                    segment_id = expect_int(event.get("segmentId"), owner, "segmentId")
                    raw_segments.pop(segment_id, None)
                changed_segments.add(segment_id)
            elif self._strict:
                fail(owner, "type", f"unknown delta event type {kind!r}")
        return self._rebuild(features, pending, raw_segments, changed_segments, removed)

    def _rebuild(
        self,
        features: dict[str, Feature | None],
        pending: dict[str, Mapping[str, Any]],
        raw_segments: dict[int, Mapping[str, Any]],
        changed_segments: set[int],
        removed: set[str],
    ) -> Engine:
        """A new engine: ``features`` with each None compiled from ``pending``.

        ``changed_segments`` are compiled again, and so is every feature using one;
        ``removed`` names the features gone, so they are unlinked.
        """
        segments = self._segments
        if changed_segments:
            segments = dict(segments)
            for segment_id in changed_segments:
                segments.pop(segment_id, None)
                if segment_id in raw_segments:
                    segments[segment_id] = compile_segment(
                        raw_segments[segment_id], segment_id, strict=self._strict
                    )
            # A strategy holds its segments' predicates, compiled in: compile it again.
            for name, feature in features.items():
                if feature is not None and feature.segment_ids & changed_segments:
                    pending[name] = feature.definition
        hostname, strict = self._hostname_source(), self._strict
        for name, definition in pending.items():
            scope = StrategyScope(name, segments, hostname, strict)
            features[name] = compile_feature(definition, scope)
        engine = Engine.__new__(Engine)  # no empty dicts to throw away: every slot is set here
        engine._strict = strict
        engine._hostname = self._hostname
        engine._raw_segments = raw_segments
        engine._segments = segments
        # Each None had its definition in `pending`, compiled above.
        engine._features = cast(dict[str, Feature], features)
        engine._link(
            pending.keys() | removed | self._dependents,
            dict(self._checks),
            dict(self._dependency_checks),
            set(self._dependents),
        )
        return engine

    def _hostname_source(self) -> Callable[[], str]:
        if self._hostname is not None:
            hostname = self._hostname
            return lambda: hostname
        return _machine_hostname

    def _link(
        self,
        names: Iterable[str],
        checks: dict[str, Predicate],
        dependency_checks: dict[str, Predicate],
        dependents: set[str],
    ) -> None:
        """Build the full check of features ``names`` into ``checks``, the previous
        engine's (copied): the others keep theirs.

        Dependencies included (parents must have none). A feature with dependencies
        holds its parents' checks, so every such feature (``dependents``) is linked
        again whenever anything changes.
        """
        # Assigned over, never popped and put back: a dict with a deleted entry copies
        # item by item (8 times slower), and the next update copies this one.
        for name in names:
            feature = self._features.get(name)
            if feature is None or not feature.dependencies or feature.check is never:
                dependency_checks.pop(name, None)
            if feature is None:  # removed
                checks.pop(name, None)
                dependents.discard(name)
                continue
            if not feature.dependencies:
                checks[name] = feature.check
                dependents.discard(name)
                continue
            dependents.add(name)
            if feature.check is never:
                checks[name] = never
                continue
            parents = all_of_checks([self._dependency_check(d) for d in feature.dependencies])
            dependency_checks[name] = parents
            checks[name] = all_of_checks([parents, feature.check])
        self._checks = checks
        self._dependency_checks = dependency_checks
        self._dependents = frozenset(dependents)

    def _dependency_check(self, dependency: Dependency) -> Predicate:
        parent = self._features.get(dependency.feature)
        if parent is None or parent.dependencies:
            return never  # A missing parent, or a transitive dependency (cycles included).
        parent_check = parent.check
        if not dependency.enabled:
            return lambda context: not parent_check(context)
        if not dependency.variants:
            return parent_check
        wanted = dependency.variants
        return lambda context: parent.variant_name(context) in wanted

    # -- evaluating -----------------------------------------------------------------------

    def is_enabled(self, name: str, context: Context | None = None) -> bool:
        """Whether flag ``name`` is on for ``context``; unknown flags are off."""
        check = self._checks.get(name)
        if check is None:
            return False
        return check(context or EMPTY_CONTEXT)

    def get_variant(self, name: str, context: Context | None = None) -> dict[str, Any]:
        """The variant of flag ``name`` for ``context``, shaped like Unleash's.

        ``{"name", "payload"?, "enabled", "feature_enabled"}``; ``{"name": "disabled",
        "enabled": False, ...}`` when the flag is off or has no variants. A new dict each call.
        """
        feature = self._features.get(name)
        if feature is None:
            return _disabled_variant(False)
        context = context or EMPTY_CONTEXT
        dependencies = self._dependency_checks.get(name)
        if dependencies is not None and not dependencies(context):
            return _disabled_variant(False)
        enabled, variants = feature.evaluate(context)
        if not enabled:
            return _disabled_variant(False)
        variant = variants.select(context) if variants is not None else None
        if variant is None:
            return _disabled_variant(True)
        return variant.as_result()

    # -- inspecting -----------------------------------------------------------------------

    def feature(self, name: str) -> Feature | None:
        """The compiled feature ``name`` (its ``check`` without dependencies), or None.

        For callers that explain an evaluation (`rollsafe.flags.resolution`): which
        strategy matched, which variants applied. Shared and immutable: never change it.
        """
        return self._features.get(name)

    def dependencies_met(self, name: str, context: Context | None = None) -> bool:
        """Whether the parents flag ``name`` depends on allow it (True without dependencies)."""
        dependencies = self._dependency_checks.get(name)
        if dependencies is None:
            feature = self._features.get(name)
            # A feature with dependencies but no linked check has a missing parent.
            return feature is None or not feature.dependencies or feature.check is never
        return dependencies(context or EMPTY_CONTEXT)

    def __contains__(self, name: object) -> bool:
        return name in self._features

    def __len__(self) -> int:
        return len(self._features)

    def feature_names(self) -> list[str]:
        """Names of the features, in document order."""
        return list(self._features)

    def to_unleash(self) -> dict[str, Any]:
        """The definitions as an Unleash ``/api/client/features`` document (a deep copy)."""
        return {
            "version": 1,
            "features": [copy_json(feature.definition) for feature in self._features.values()],
            "segments": [copy_json(raw) for raw in self._raw_segments.values()],
        }

    def __repr__(self) -> str:
        return f"<Engine features={len(self._features)} segments={len(self._segments)}>"


def rollout_feature(
    name: str, rollout: float, *, enabled: bool = True, description: str = ""
) -> dict[str, Any]:
    """The Unleash feature for flag ``name`` on for ``rollout`` percent of users.

    One ``flexibleRollout`` strategy, stickiness ``default`` (``userId``, else
    ``sessionId``, else random), ``groupId`` = ``name``; Unleash buckets are whole
    percents, so 12.5 acts as 12. Raises `FlagError` for an empty name or a
    rollout outside 0..100.
    """
    if not isinstance(name, str) or not name:
        raise FlagError(f"flag name must be a non-empty string, got {name!r}")
    if isinstance(rollout, bool) or not isinstance(rollout, int | float):
        raise FlagError(f"flag {name!r}: rollout must be a number, got {type_name(rollout)}")
    if not math.isfinite(rollout) or not 0 <= rollout <= 100:
        raise FlagError(f"flag {name!r}: rollout must be between 0 and 100, got {rollout!r}")
    text = str(int(rollout)) if float(rollout).is_integer() else repr(float(rollout))
    return {
        "name": name,
        "description": description,
        "enabled": enabled,
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": text, "stickiness": "default", "groupId": name},
                "constraints": [],
            }
        ],
        "variants": [],
    }
