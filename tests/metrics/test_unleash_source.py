"""``metrics.provider: unleash``: per-arm observations from stored impact metrics, no server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rollsafe.config.unleash_metrics import UnleashMetrics
from rollsafe.errors import MetricsError
from rollsafe.metrics.unleash import UnleashSource
from rollsafe.store.sqlite import SqliteStore
from rollsafe.store.usage import ImpactMetric, ImpactSample, MetricsReport


def config(db: Path, **extra: object) -> UnleashMetrics:
    return UnleashMetrics.model_validate(
        {"provider": "unleash", "store": str(db), "flag": "checkout", "canary": "new",
         "baseline": "old", "requests": "reqs", "errors": "errs", **extra}
    )  # fmt: skip


def send(store: SqliteStore, *metrics: ImpactMetric) -> None:
    store.record_client_metrics(
        MetricsReport("svc", "i1", "default", time.time(), {}, impact=tuple(metrics))
    )


def counter(name: str, **by_arm: float) -> ImpactMetric:
    samples = tuple(
        ImpactSample({"checkout": arm, "appName": "svc"}, value=v) for arm, v in by_arm.items()
    )
    return ImpactMetric(name, "counter", "", samples)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "rollsafe.db")


def test_each_arm_is_the_samples_labelled_with_its_variant(
    store: SqliteStore, tmp_path: Path
) -> None:
    send(store, counter("reqs", new=10, old=10), counter("errs", new=1, old=0))
    source = UnleashSource(config(tmp_path / "rollsafe.db"), clock=lambda: time.time() - 60)
    try:
        first = {o["arm"]: o for o in source.observe(1.0)}
        assert (first["canary"]["requests"], first["canary"]["errors"]) == (10, 1)
        send(store, counter("reqs", new=5, old=7), counter("errs", new=2))
        later = {o["arm"]: o for o in source.observe(2.0)}
        assert (later["canary"]["requests"], later["canary"]["errors"]) == (15, 3)
        assert (later["baseline"]["requests"], later["baseline"]["errors"]) == (17, 0)
    finally:
        source.close()


def test_histograms_and_gauges_feed_latency_and_memory(store: SqliteStore, tmp_path: Path) -> None:
    histogram = ImpactMetric("secs", "histogram", "", (
        ImpactSample({"checkout": "new"}, count=3, sum=0.3, buckets={"0.1": 2, "+Inf": 3}),
    ))  # fmt: skip
    gauge = ImpactMetric("rss", "gauge", "", (
        ImpactSample({"checkout": "new", "pod": "a"}, value=100.0),
        ImpactSample({"checkout": "new", "pod": "b"}, value=300.0),
    ))  # fmt: skip
    send(store, counter("reqs", new=3), counter("errs", new=0), histogram, gauge)
    source = UnleashSource(config(tmp_path / "rollsafe.db", latency="secs", memory="rss"))
    try:
        canary = {o["arm"]: o for o in source.observe(1.0)}["canary"]
        assert canary["latency_seconds_bucket"] == {"0.1": 2, "+Inf": 3}
        assert canary["memory_bytes"] == 200.0
    finally:
        source.close()


def test_only_the_named_application_counts(store: SqliteStore, tmp_path: Path) -> None:
    send(store, counter("reqs", new=10), counter("errs", new=0))
    source = UnleashSource(config(tmp_path / "rollsafe.db", app_name="other"))
    try:
        canary = {o["arm"]: o for o in source.observe(1.0)}["canary"]
        assert canary["requests"] == 0
    finally:
        source.close()


def test_a_metric_of_the_wrong_kind_or_more_errors_fails_the_look(
    store: SqliteStore, tmp_path: Path
) -> None:
    send(store, counter("reqs", new=1), counter("errs", new=5))
    source = UnleashSource(config(tmp_path / "rollsafe.db"))
    with pytest.raises(MetricsError, match="exceeds requests"):
        source.observe(1.0)
    source.close()
    gauge = ImpactMetric("g", "gauge", "", (ImpactSample({"checkout": "new"}, value=1.0),))
    send(store, gauge)
    wrong = UnleashSource(config(tmp_path / "rollsafe.db", requests="g"))
    with pytest.raises(MetricsError, match="not a counter"):
        wrong.observe(1.0)
    wrong.close()


def test_a_store_that_cannot_be_opened_fails_the_look(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    source = UnleashSource(config(tmp_path / "file" / "sub" / "rollsafe.db"))
    with pytest.raises(MetricsError, match="cannot read impact metrics"):
        source.observe(1.0)
    source.close()


def test_canary_and_baseline_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must differ"):
        config(tmp_path / "db", canary="x", baseline="x")
