"""Query templates against a real Prometheus scraping Micrometer-style services on loopback.

Two loopback services play the stable (1.0.0) and canary (1.1.0) instances; the
plan's own PromQL reads them by release. Once Prometheus has scraped, the
source's totals per arm equal what the services expose, resets included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest

from rollsafe.config import PrometheusMetrics
from rollsafe.errors import MetricsError
from rollsafe.judge import Judge
from rollsafe.metrics import SourceNeeds, TemplateSource, build_source
from tests.metrics.micrometer import Micrometer
from tests.metrics.prometheus_server import Prometheus

pytestmark = pytest.mark.slow

REQUESTS = 'sum by (instance) (http_server_requests_seconds_count{job="svc",release="{release}"})'
ERRORS = (
    'sum by (instance) (http_server_requests_seconds_count{job="svc",release="{release}",'
    'status=~"5.."})'
)
BUCKETS = 'sum by (le) (http_server_requests_seconds_bucket{job="svc",release="{release}"})'
MEMORY = 'avg(jvm_memory_used_bytes{job="svc",area="heap"})'


@dataclass
class Services:
    prometheus: Prometheus
    stable: Micrometer
    canary: Micrometer

    def set_and_wait(self, stable: dict[str, int], canary: dict[str, int]) -> None:
        """Expose these counts and wait until Prometheus has scraped both services."""
        self.stable.set(**stable)
        self.canary.set(**canary)
        for service, counts in ((self.stable, stable), (self.canary, canary)):
            total = counts["ok"] + counts["failed"]
            self.prometheus.wait_until(
                f'sum(http_server_requests_seconds_count{{release="{service.release}"}})',
                lambda value, total=total: value == total,
            )


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    stable, canary = Micrometer("1.0.0"), Micrometer("1.1.0")
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        prometheus.start({"svc": [s.url.removeprefix("http://") for s in (stable, canary)]})
        yield Services(prometheus, stable, canary)
    finally:
        prometheus.stop()
        stable.stop()
        canary.stop()


def by_release(url: str, **queries: Any) -> PrometheusMetrics:
    """Arms by release, as after a canary step (``arms: release``)."""
    queries = {"requests": REQUESTS, "errors": ERRORS, **queries}
    return PrometheusMetrics(
        url=url,
        timeout="3s",
        arm_label="release",
        canary="1.1.0",
        baseline="1.0.0",
        queries=queries,
    )


def no_release() -> str | None:
    return None


def test_totals_per_release_equal_the_services_counters_with_resets(services: Services) -> None:
    config = by_release(services.prometheus.url, latency_buckets=BUCKETS, memory=MEMORY)
    services.set_and_wait({"ok": 100, "failed": 1}, {"ok": 40, "failed": 8, "slow": 10})
    with closing(TemplateSource(config, no_release)) as source:
        canary, baseline = source.observe(1.0)
        assert (canary["arm"], canary["requests"], canary["errors"]) == ("canary", 48, 8)
        assert (baseline["arm"], baseline["requests"], baseline["errors"]) == ("baseline", 101, 1)
        # Buckets summed over both statuses: 10 of the canary's 48 took more than 0.1 s.
        assert canary["latency_seconds_bucket"] == {"0.05": 38, "0.1": 38, "0.5": 48, "+Inf": 48}
        assert canary["memory_bytes"] == baseline["memory_bytes"] == 5e7

        services.set_and_wait({"ok": 150, "failed": 1}, {"ok": 60, "failed": 10, "slow": 10})
        canary, baseline = source.observe(2.0)
        assert (canary["requests"], canary["errors"]) == (70, 10)
        assert (baseline["requests"], baseline["errors"]) == (151, 1)

        # The canary restarts: its counters start again from zero and count in full.
        services.set_and_wait({"ok": 150, "failed": 1}, {"ok": 5, "failed": 2})
        canary, baseline = source.observe(3.0)
        assert (canary["requests"], canary["errors"]) == (77, 12)
        assert (baseline["requests"], baseline["errors"]) == (151, 1)


def test_a_canary_failing_more_is_judged_a_failure(services: Services) -> None:
    config = by_release(services.prometheus.url)
    judge = Judge(None)
    services.set_and_wait({"ok": 0, "failed": 0}, {"ok": 0, "failed": 0})
    with closing(TemplateSource(config, no_release)) as source:
        for observation in source.observe(0.0):
            judge.update(observation)
        services.set_and_wait({"ok": 2000, "failed": 2}, {"ok": 1600, "failed": 400})
        for observation in source.observe(1.0):
            verdict = judge.update(observation)
    assert verdict.verdict == "fail", verdict.reason


def test_release_placeholder_with_flag_arms_is_the_running_release(services: Services) -> None:
    """Arms by a variant label: both arms run the target's release, ``{release}`` names it."""
    services.set_and_wait({"ok": 30, "failed": 3}, {"ok": 10, "failed": 0})
    config = PrometheusMetrics(
        url=services.prometheus.url,
        canary="500",
        baseline="200",
        queries={
            "requests": 'sum(http_server_requests_seconds_count{release="{release}",'
            'status="{arm}"})',
            "errors": 'sum(http_server_requests_seconds_count{release="{release}",'
            'status="{arm}",status=~"5.."})',
        },
    )
    with closing(build_source(config, SourceNeeds(list, lambda: "1.0.0"))) as source:
        canary, baseline = source.observe(0.0)
    assert (canary["requests"], canary["errors"]) == (3, 3)
    assert (baseline["requests"], baseline["errors"]) == (30, 0)


def test_a_query_prometheus_refuses_fails_the_look_naming_it(services: Services) -> None:
    # Valid syntax, wrong type: rate() needs a range; Prometheus says so at the first look.
    config = by_release(
        services.prometheus.url,
        requests='rate(http_server_requests_seconds_count{release="{release}"})',
    )
    with (
        closing(TemplateSource(config, no_release)) as source,
        pytest.raises(MetricsError) as caught,
    ):
        source.observe(0.0)
    assert "Prometheus refused rate(" in str(caught.value)
    assert "1.1.0" in str(caught.value)


def test_no_series_for_either_arm_fails_the_look(services: Services) -> None:
    config = by_release(services.prometheus.url).model_copy(
        update={"canary": "9.9.9", "baseline": "9.9.8"}
    )
    with (
        closing(TemplateSource(config, no_release)) as source,
        pytest.raises(MetricsError) as caught,
    ):
        source.observe(0.0)
    assert "no series for the requests query" in str(caught.value)


def test_release_placeholder_without_a_release_fails_the_look(services: Services) -> None:
    config = by_release(services.prometheus.url).model_copy(update={"arm_label": "variant"})
    with (
        closing(TemplateSource(config, no_release)) as source,
        pytest.raises(MetricsError) as caught,
    ):
        source.observe(0.0)
    assert "no release is deployed yet to fill {release}" in str(caught.value)
