"""SDK usage in the store (both backends): windows add up, and the tables stay bounded."""

from __future__ import annotations

import time

import pytest

from rollsafe.store import Store
from rollsafe.store import usage as limits
from rollsafe.store.rules import usage as rules
from rollsafe.store.usage import (
    ImpactMetric,
    ImpactSample,
    MetricsReport,
    Registration,
    ToggleCount,
)


def report(app: str = "shop", *, toggles: dict[str, ToggleCount] | None = None,
           impact: tuple[ImpactMetric, ...] = ()) -> MetricsReport:  # fmt: skip
    return MetricsReport(
        app_name=app,
        instance_id="i1",
        environment="default",
        stop=time.time(),
        toggles=toggles if toggles is not None else {"checkout": ToggleCount(3, 1, {"new": 2})},
        impact=impact,
    )


def counter(value: float, variant: str) -> ImpactMetric:
    return ImpactMetric(
        "orders", "counter", "", (ImpactSample({"checkout": variant}, value=value),)
    )


def test_reports_add_up_in_their_window(store: Store) -> None:
    store.record_client_metrics(report(impact=(counter(5, "new"), counter(2, "old"))))
    store.record_client_metrics(report(impact=(counter(1, "new"),)))
    usage = store.flag_usage("checkout")
    assert usage.as_json()["yes"] == 6
    assert usage.as_json()["variants"] == {"new": 4}
    totals = {m["labels"]["checkout"]: m["value"] for m in usage.as_json()["impactMetrics"]}
    assert totals == {"new": 6, "old": 2}
    assert [a.app_name for a in store.list_applications()] == ["shop"]


def test_a_flag_named_like_a_pattern_matches_only_itself(store: Store) -> None:
    odd = ImpactMetric("m", "counter", "", (ImpactSample({"a_%b": "on"}, value=1),))
    other = ImpactMetric("n", "counter", "", (ImpactSample({"axxb": "on"}, value=1),))
    store.record_client_metrics(report(toggles={}, impact=(odd, other)))
    assert [w.name for w in store.impact_windows(flag="a_%b")] == ["m"]


def test_old_windows_are_dropped_after_the_retention(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "RETENTION", 120.0)
    store.record_client_metrics(report(impact=(counter(1, "new"),)))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 600)
    store.record_client_metrics(report(app="later", toggles={}))
    assert store.flag_usage("checkout").toggles == []
    assert store.impact_windows() == []
    assert [a.app_name for a in store.list_applications()] == ["later"]


def test_rows_beyond_the_limit_go_oldest_first(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "MAX_METRIC_ROWS", 3)
    monkeypatch.setattr(rules, "MAX_APPLICATIONS", 2)
    real = time.time
    for minute in range(5):
        monkeypatch.setattr(time, "time", lambda m=minute: real() + 60 * m)
        store.record_client_metrics(report(app=f"app{minute}", impact=(counter(1, "new"),)))
    assert len(store.flag_usage("checkout").toggles) <= 3
    assert len(store.impact_windows()) <= 3
    assert [a.app_name for a in store.list_applications()] == ["app3", "app4"]


def test_register_replaces_what_an_instance_said(store: Store) -> None:
    store.register_application(
        Registration("shop", "i1", "default", sdk_version="a:1", strategies=("default",))
    )
    store.register_application(Registration("shop", "i1", "default", sdk_version="a:2"))
    [app] = store.list_applications()
    assert (app.sdk_version, app.strategies) == ("a:2", ())
    assert app.first_seen <= app.last_seen


def test_limits_are_the_documented_ones() -> None:
    assert rules.RETENTION == limits.RETENTION == 48 * 3600
    assert rules.MAX_METRIC_ROWS == limits.MAX_METRIC_ROWS


def test_a_flood_within_one_window_stays_bounded(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "MAX_METRIC_ROWS", 5)
    many = {f"t{i}": ToggleCount(1, 0) for i in range(4)}
    store.record_client_metrics(report(toggles=many))
    assert len(store.impact_windows()) == 0
    kept = sum(len(store.flag_usage(f"t{i}").toggles) for i in range(4))
    assert kept == 4  # under the limit: all kept
    store.record_client_metrics(report(app="other", toggles=many))  # 8 rows in one window
    kept = sum(len(store.flag_usage(f"t{i}").toggles) for i in range(4))
    assert kept <= 5
