"""Delta API events: engines are replaced, never changed, and a bad batch changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.errors import FlagError
from rollsafe.flags import Engine, rollout_feature


def in_segment(name: str, segment_id: int) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "default", "segments": [segment_id]}],
    }


def segment(segment_id: int, *apps: str) -> dict[str, Any]:
    return {
        "id": segment_id,
        "constraints": [{"contextName": "appName", "operator": "IN", "values": list(apps)}],
    }


def delta(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": [{"eventId": i + 1, **event} for i, event in enumerate(events)]}


@pytest.fixture
def base() -> Engine:
    return Engine.from_delta(
        delta(
            {
                "type": "hydration",
                "features": [rollout_feature("a", 100), in_segment("seg", 1)],
                "segments": [segment(1, "web")],
            }
        )
    )


def test_hydration_replaces_everything(base: Engine) -> None:
    after = base.apply_delta(
        delta({"type": "hydration", "features": [rollout_feature("b", 100)], "segments": []})
    )
    assert after.feature_names() == ["b"]
    assert base.feature_names() == ["a", "seg"]


def test_feature_updates_and_removals_apply_in_order(base: Engine) -> None:
    after = base.apply_delta(
        delta(
            {"type": "feature-updated", "feature": rollout_feature("a", 100, enabled=False)},
            {"type": "feature-updated", "feature": rollout_feature("c", 100)},
            {"type": "feature-removed", "featureName": "c", "project": "default"},
            {"type": "feature-removed", "featureName": "never-existed"},
        )
    )
    assert not after.is_enabled("a", {"userId": "u"})
    assert "c" not in after
    assert base.is_enabled("a", {"userId": "u"}), "the old engine is unchanged"


def test_segment_updates_reach_features_already_using_them(base: Engine) -> None:
    assert base.is_enabled("seg", {"appName": "web"})
    updated = base.apply_delta(delta({"type": "segment-updated", "segment": segment(1, "api")}))
    assert updated.is_enabled("seg", {"appName": "api"})
    assert not updated.is_enabled("seg", {"appName": "web"})
    removed = updated.apply_delta(delta({"type": "segment-removed", "segmentId": 1}))
    assert not removed.is_enabled("seg", {"appName": "api"}), "a missing segment never matches"
    restored = removed.apply_delta(delta({"type": "segment-updated", "segment": segment(1, "web")}))
    assert restored.is_enabled("seg", {"appName": "web"})


def test_dependencies_follow_a_parent_replaced_by_a_delta() -> None:
    child = {
        "name": "child",
        "enabled": True,
        "strategies": [],
        "dependencies": [{"feature": "parent"}],
    }
    engine = Engine.from_unleash({"features": [rollout_feature("parent", 100), child]})
    assert engine.is_enabled("child", {"userId": "u"})
    parent_off = rollout_feature("parent", 100, enabled=False)
    after = engine.apply_delta(delta({"type": "feature-updated", "feature": parent_off}))
    assert not after.is_enabled("child", {"userId": "u"})
    assert after.get_variant("child")["feature_enabled"] is False


def test_a_bad_event_fails_the_whole_batch_and_names_it(base: Engine) -> None:
    bad = {"type": "feature-updated", "feature": {"name": "x", "enabled": "yes"}}
    with pytest.raises(FlagError, match="feature 'x': enabled: expected a boolean"):
        base.apply_delta(
            delta({"type": "feature-removed", "featureName": "a"}, bad),
        )
    with pytest.raises(FlagError, match="delta event 2: featureName: expected a string"):
        base.apply_delta(
            delta({"type": "feature-removed", "featureName": "a"}, {"type": "feature-removed"})
        )
    assert base.feature_names() == ["a", "seg"]


def test_unknown_event_types_are_skipped_unless_strict(base: Engine) -> None:
    event = delta({"type": "something-new"}, {"type": "feature-removed", "featureName": "a"})
    assert base.apply_delta(event).feature_names() == ["seg"]
    strict = Engine.from_delta(delta({"type": "hydration", "features": []}), strict=True)
    with pytest.raises(FlagError, match="unknown delta event type 'something-new'"):
        strict.apply_delta(event)


@pytest.mark.parametrize("document", [{}, {"events": {}}, [], {"events": ["x"]}])
def test_malformed_delta_documents_raise(document: Any) -> None:
    with pytest.raises(FlagError):
        Engine().apply_delta(document)


def test_a_new_engine_is_empty() -> None:
    engine = Engine()
    assert len(engine) == 0
    assert not engine.is_enabled("anything")
    assert engine.get_variant("anything") == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": False,
    }


def test_features_keep_the_document_order_through_updates_removals_and_additions(
    base: Engine,
) -> None:
    after = base.apply_delta(
        delta(
            {"type": "feature-updated", "feature": rollout_feature("new", 100)},
            {"type": "feature-removed", "featureName": "a"},
            {"type": "feature-updated", "feature": rollout_feature("a", 100)},
            {"type": "feature-updated", "feature": in_segment("seg", 1)},
        )
    )
    assert after.feature_names() == ["seg", "new", "a"]
    assert [f["name"] for f in after.to_unleash()["features"]] == ["seg", "new", "a"]


def test_a_removed_feature_is_off_and_unknown(base: Engine) -> None:
    after = base.apply_delta(delta({"type": "feature-removed", "featureName": "a"}))
    assert not after.is_enabled("a", {"userId": "u"})
    assert after.get_variant("a")["feature_enabled"] is False
    assert len(after) == 1


def test_an_update_compiles_only_what_it_touches(base: Engine) -> None:
    # White-box on purpose: sharing the untouched compiled features is what makes an
    # update cost one feature's compilation, whatever the number of flags.
    names = [f"f{i}" for i in range(50)]
    engine = base.apply_delta(
        delta(*({"type": "feature-updated", "feature": rollout_feature(n, 10)} for n in names))
    )
    after = engine.apply_delta(
        delta({"type": "feature-updated", "feature": rollout_feature("f7", 90)})
    )
    changed = {n for n in engine.feature_names() if after._features[n] is not engine._features[n]}
    assert changed == {"f7"}
    by_segment = after.apply_delta(delta({"type": "segment-updated", "segment": segment(1, "x")}))
    changed = {
        n for n in after.feature_names() if by_segment._features[n] is not after._features[n]
    }
    assert changed == {"seg"}, "a segment's change recompiles the features using it"


def test_copy_false_keeps_the_callers_definitions_and_copy_true_does_not() -> None:
    feature = rollout_feature("a", 100)
    document = delta({"type": "feature-updated", "feature": feature})
    kept = Engine().apply_delta(document, copy=False)
    copied = Engine().apply_delta(document)
    feature["description"] = "changed afterwards"
    assert kept.to_unleash()["features"][0]["description"] == "changed afterwards"
    assert copied.to_unleash()["features"][0]["description"] == ""
    assert Engine.from_unleash({"features": [feature]}, copy=False).is_enabled("a", {})


def test_dependencies_follow_parents_added_and_removed_later() -> None:
    child = {"name": "child", "enabled": True, "dependencies": [{"feature": "parent"}]}
    engine = Engine().apply_delta(delta({"type": "feature-updated", "feature": child}))
    assert not engine.is_enabled("child"), "a missing parent is off"
    with_parent = engine.apply_delta(
        delta({"type": "feature-updated", "feature": rollout_feature("parent", 100)})
    )
    assert with_parent.is_enabled("child")
    without = with_parent.apply_delta(delta({"type": "feature-removed", "featureName": "parent"}))
    assert not without.is_enabled("child")
    child_alone = without.apply_delta(
        delta({"type": "feature-updated", "feature": {**child, "dependencies": []}})
    )
    assert child_alone.is_enabled("child")
    assert with_parent.is_enabled("child"), "older engines keep their answers"


def test_hydration_unlinks_everything_it_does_not_name(base: Engine) -> None:
    after = base.apply_delta(
        delta(
            {"type": "feature-updated", "feature": rollout_feature("gone", 100)},
            {
                "type": "hydration",
                "features": [in_segment("seg", 2)],
                "segments": [segment(2, "api")],
            },
        )
    )
    assert after.feature_names() == ["seg"]
    assert not after.is_enabled("a", {"userId": "u"})
    assert not after.is_enabled("gone", {"userId": "u"})
    assert after.is_enabled("seg", {"appName": "api"})


def test_a_definition_that_contains_itself_is_refused_by_name() -> None:
    feature: dict[str, Any] = rollout_feature("loop", 100)
    feature["description_source"] = feature
    with pytest.raises(FlagError, match="contains itself"):
        Engine().apply_delta(delta({"type": "feature-updated", "feature": feature}))
