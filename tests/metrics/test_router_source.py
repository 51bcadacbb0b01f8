"""RouterSource with a real nginx (rollsafe's router) in front of real loopback instances.

Each test counts what its clients saw and checks that the observations per arm
say the same; the records are nginx's own, written as it served the requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from rollsafe.config import RouterMetrics
from rollsafe.config.router_metrics import record_fields
from rollsafe.config.routers import NginxRouter as NginxRouterConfig
from rollsafe.errors import MetricsError
from rollsafe.metrics import RouterSource
from rollsafe.routers import NginxRouter
from rollsafe.typing import Observation
from tests.metrics.prometheus_server import free_port

pytestmark = pytest.mark.slow

UPSTREAM = Path(__file__).parents[1] / "routers" / "upstream.py"
OLD, NEW = "1.0.0", "1.1.0"
BY_RELEASE = RouterMetrics(arm_label="release", canary=NEW, baseline=OLD)


@pytest.fixture(scope="module")
def instances() -> Iterator[dict[str, str]]:
    """One instance of each release, answering its release name: ``{release: host:port}``."""
    ports = {OLD: free_port(), NEW: free_port()}
    processes = [
        subprocess.Popen(
            [sys.executable, str(UPSTREAM), release, str(port)], stdout=subprocess.PIPE, text=True
        )
        for release, port in ports.items()
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        yield {release: f"127.0.0.1:{port}" for release, port in ports.items()}
    finally:
        for process in processes:
            process.terminate()
            process.communicate(timeout=10)


@pytest.fixture
def make_router(tmp_path: Path) -> Iterator[Callable[..., NginxRouter]]:
    routers: list[NginxRouter] = []

    def make(**config: object) -> NginxRouter:
        router = NginxRouter(
            NginxRouterConfig.model_validate(config), home=tmp_path / f"router{len(routers)}"
        )
        routers.append(router)
        router.start()
        return router

    try:
        yield make
    finally:
        for router in routers:
            router.stop()


@pytest.fixture
def router(make_router: Callable[..., NginxRouter]) -> NginxRouter:
    return make_router()


def releases_of(instances: dict[str, str]) -> Callable[[], dict[str, str]]:
    return lambda: {address: release for release, address in instances.items()}


def get(router: NginxRouter, query: str = "", timeout: float = 5.0) -> httpx.Response:
    return httpx.get(f"{router.url}/?{query}", timeout=timeout)


def settle(source: RouterSource, requests: float, timeout: float = 5.0) -> dict[str, Observation]:
    """Observations once the arms hold ``requests`` in all, and one more look finds no more.

    A record is written as the request ends, just after its client has the response.
    """
    deadline = time.monotonic() + timeout
    while True:
        looks = {o["arm"]: o for o in source.observe(time.monotonic())}
        if sum(o.get("requests", 0) for o in looks.values()) >= requests:
            break
        assert time.monotonic() < deadline, f"only {looks} of {requests} requests recorded"
        time.sleep(0.05)
    time.sleep(0.2)
    return {o["arm"]: o for o in source.observe(time.monotonic())}


def test_requests_and_errors_per_release_are_what_clients_saw(
    router: NginxRouter, instances: dict[str, str]
) -> None:
    router.set_weights([instances[OLD]], [instances[NEW]], 50)
    source = RouterSource(BY_RELEASE, router.records_log, releases=releases_of(instances))
    seen: Counter[tuple[str, str]] = Counter()
    queries = ["status=500", "status=404", "", "delay=0.03", "status=502"]
    for i in range(60):
        response = get(router, queries[i % len(queries)])
        seen[response.text, queries[i % len(queries)]] += 1
    arms = settle(source, 60)
    assert set(arms) == {"canary", "baseline"}
    for arm, release in (("canary", NEW), ("baseline", OLD)):
        observation = arms[arm]
        assert observation["requests"] == sum(seen[release, query] for query in queries) > 0
        assert observation["errors"] == seen[release, "status=500"] + seen[release, "status=502"]
        assert observation["errors"] > 0
        buckets = observation["latency_seconds_bucket"]
        assert list(buckets) == [repr(b) for b in BY_RELEASE.latency_buckets] + ["+Inf"]
        assert buckets["+Inf"] == buckets["1.0"] == observation["requests"]
        # The delayed requests waited more than 25 ms.
        assert 0 < buckets["0.025"] <= observation["requests"] - seen[release, "delay=0.03"]
    record = json.loads(router.records_log.read_text().splitlines()[0])
    assert set(record) == set(record_fields("X-Rollsafe-Variant"))
    assert record["upstream"] in instances.values()
    # In order, to nginx's resolution: it reads these from its cached millisecond clock,
    # refreshed at different moments, so on a busy machine one may run a tick ahead
    # (seen: upstream response 0.002 s within a request of 0.001 s).
    tick = 0.001
    connect, response = float(record["connect_time"]), float(record["response_time"])
    assert connect <= response + tick
    assert response <= record["request_time"] + tick
    source.close()


def test_connection_failures_at_the_router_are_errors_the_instances_never_see(
    router: NginxRouter, instances: dict[str, str]
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    releases = {dead: OLD, instances[NEW]: NEW}
    router.set_weights([dead], [], 0)
    source = RouterSource(BY_RELEASE, router.records_log, releases=lambda: releases)
    assert [get(router).status_code for _ in range(5)] == [502] * 5
    arms = settle(source, 5)
    assert (arms["baseline"]["requests"], arms["baseline"]["errors"]) == (5, 5)

    # nginx retries another instance: clients see no error, the refusing arm does.
    router.set_weights([dead, instances[NEW]], [], 0)
    assert [get(router).status_code for _ in range(10)] == [200] * 10
    arms = settle(source, 15 + 1)
    failed_attempts = arms["baseline"]["errors"] - 5
    assert failed_attempts >= 1
    assert arms["baseline"]["requests"] == 5 + failed_attempts
    assert (arms["canary"]["requests"], arms["canary"]["errors"]) == (10, 0)
    # An instance of neither the canary's nor the baseline's release answers in "other".
    releases[instances[NEW]] = "1.2.0"
    get(router)
    arms = settle(source, 16 + failed_attempts)
    assert (arms["other"]["requests"], arms["other"]["errors"]) == (1, 0)
    assert arms["canary"]["requests"] == 10


def test_a_client_that_gives_up_is_not_an_error(
    router: NginxRouter, instances: dict[str, str]
) -> None:
    router.set_weights([instances[OLD]], [], 0)
    source = RouterSource(BY_RELEASE, router.records_log, releases=releases_of(instances))
    with pytest.raises(httpx.ReadTimeout):
        get(router, "delay=1.5", timeout=0.3)
    assert get(router, "status=503").status_code == 503
    arms = settle(source, 2)
    assert (arms["baseline"]["requests"], arms["baseline"]["errors"]) == (2, 1)
    records = router.records_log.read_text().splitlines()
    statuses = [json.loads(record)["status"] for record in records]
    assert sorted(statuses) == [499, 503]


def test_arms_by_the_variant_header_the_service_sent(
    make_router: Callable[..., NginxRouter], instances: dict[str, str]
) -> None:
    router = make_router()
    router.set_weights([instances[OLD]], [instances[NEW]], 50)
    source = RouterSource(RouterMetrics(), router.records_log)
    queries = ["variant=new"] * 6 + ["variant=old"] * 4 + [""] * 3 + ["variant=new&status=500"] * 2
    assert [get(router, query).status_code for query in queries].count(500) == 2
    arms = settle(source, len(queries))
    counts = {arm: (o["requests"], o["errors"]) for arm, o in arms.items()}
    assert counts == {"canary": (8, 2), "baseline": (4, 0), "other": (3, 0)}

    custom = make_router(variant_header="X-Checkout-Variant")
    custom.set_weights([instances[OLD]], [], 0)
    source = RouterSource(RouterMetrics(canary="fast", baseline="slow"), custom.records_log)
    get(custom, "variant=fast&header=X-Checkout-Variant")
    get(custom, "variant=slow&header=x-checkout-variant")
    get(custom, "variant=fast")  # the default header: not this router's
    arms = settle(source, 3)
    assert {arm: o["requests"] for arm, o in arms.items()} == {
        "canary": 1,
        "baseline": 1,
        "other": 1,
    }


def test_arms_by_one_flag_among_the_pairs_the_sdk_middleware_writes(
    router: NginxRouter, instances: dict[str, str]
) -> None:
    """``X-Rollsafe-Variant: flag=variant, ...`` (percent-encoded), as rollsafe.sdk.middleware
    sets it: ``metrics.flag`` picks the pair that decides the arm."""
    router.set_weights([instances[OLD]], [], 0)
    config = RouterMetrics(flag="new checkout", canary="on", baseline="off")
    source = RouterSource(config, router.records_log)
    headers = [
        "new%20checkout=on",
        "banner=red, new%20checkout=off",
        "banner=red",  # the request never met the flag
        "on",  # a bare value names no flag
    ]
    for header in headers:
        get(router, f"variant={quote(header)}")
    get(router, f"variant={quote(headers[0])}&status=500")
    arms = settle(source, len(headers) + 1)
    counts = {arm: (o["requests"], o["errors"]) for arm, o in arms.items()}
    assert counts == {"canary": (2, 1), "baseline": (1, 0), "other": (2, 0)}


def test_no_record_is_lost_or_counted_twice_across_reloads_and_rotation(
    router: NginxRouter, instances: dict[str, str], tmp_path: Path
) -> None:
    router.set_weights([instances[OLD]], [instances[NEW]], 50)
    source = RouterSource(RouterMetrics(), router.records_log)
    sent = 0
    stop = threading.Event()
    failures: list[BaseException] = []

    def load() -> None:
        nonlocal sent
        try:
            with httpx.Client(base_url=router.url, timeout=5) as client:
                while not stop.is_set():
                    assert client.get("/?variant=new").status_code == 200
                    sent += 1
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=load)
    thread.start()
    master = int(router.pid_file.read_text())
    try:
        for step in range(6):
            time.sleep(0.3)
            source.observe(time.monotonic())
            if step == 1:
                router.set_weights([instances[OLD]], [instances[NEW]], 20)  # reload
            elif step == 2:
                os.rename(router.records_log, tmp_path / "requests.log.1")  # logrotate
            elif step == 3:
                os.kill(master, signal.SIGUSR1)  # ... then nginx -s reopen
            elif step == 4:
                router.set_weights([instances[OLD]], [instances[NEW]], 70)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not failures, failures
    assert sent > 20
    arms = settle(source, sent)
    assert arms["canary"]["requests"] == sent
    assert router.records_log.exists()
    assert source.malformed == 0


def test_malformed_records_are_counted_and_skipped_and_half_lines_completed(
    router: NginxRouter, instances: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    router.set_weights([instances[OLD]], [], 0)
    source = RouterSource(RouterMetrics(), router.records_log)
    get(router, "variant=old")
    # nginx writes its record just after the response: wait for it, or the half line
    # below could end up in front of it and the two make one malformed line.
    settle(source, 1)
    with router.records_log.open("ab") as log:  # appended as nginx appends, between its records
        log.write(b"not json\n\xff\xfe\n[1, 2]\n" + b'{"status": "ok", "request_time": 0.1}\n')
        log.write(b'{"status": 200, "request_time": NaN}\n{"status": 200}\n')
        log.write(b'{"t":1,"status":200,"request_time":0.01,"upstream":"","upst')
    arms = {o["arm"]: o for o in source.observe(time.monotonic())}
    assert arms["baseline"]["requests"] == 1
    assert source.malformed == 6
    assert source.last_malformed is not None
    assert "KeyError: 'request_time'" in source.last_malformed
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"skipped 6 malformed records in {router.records_log}; last: ")
    with router.records_log.open("ab") as log:
        log.write(b'ream_status":"","variant":"new"}\n')
    get(router, "variant=old")
    arms = settle(source, 3)
    assert (arms["canary"]["requests"], arms["baseline"]["requests"]) == (1, 2)
    assert source.malformed == 6


def test_before_the_router_ever_ran_there_is_no_evidence(tmp_path: Path) -> None:
    source = RouterSource(RouterMetrics(), tmp_path / "router" / "requests.log")
    with pytest.raises(MetricsError, match="does not exist"):
        source.observe(1.0)


def test_memory_stays_flat_however_many_records(tmp_path: Path) -> None:
    records = tmp_path / "requests.log"
    records.write_bytes(b"")
    source = RouterSource(RouterMetrics(), records)
    line = json.dumps(
        {
            "t": 1.5,
            "status": 200,
            "upstream": "127.0.0.1:8001",
            "upstream_status": "200",
            "request_time": 0.012,
            "connect_time": "0.000",
            "response_time": "0.012",
            "variant": "new",
        },
        separators=(",", ":"),
    ).encode()
    with records.open("ab") as file:
        file.write((line + b"\n") * 60_000)  # ~12 MB, more than the peak allowed
    tracemalloc.start()
    try:
        (canary, _baseline) = source.observe(1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert canary["requests"] == 60_000
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"
