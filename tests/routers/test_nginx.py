"""NginxRouter with a real nginx on loopback in front of real upstream processes."""

from __future__ import annotations

import collections
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from rollsafe.config.routers import NginxRouter as NginxRouterConfig
from rollsafe.errors import TargetError
from rollsafe.routers import NginxRouter, RouterError, Split
from tests.routers.conftest import Upstreams

pytestmark = pytest.mark.slow


def arm(name: str) -> str:
    return name.rsplit("-", 1)[0]


def count(url: str, requests: int, threads: int = 4) -> collections.Counter[str]:
    """Which upstream answered each of ``requests`` GETs, over ``threads`` kept-alive clients."""
    answers: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=5) as client:
                for _ in range(n):
                    response = client.get("/")
                    assert response.status_code == 200, response.text
                    with lock:
                        answers[response.text] += 1
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(requests // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    assert sum(answers.values()) == requests
    return answers


def process_alive(pid: int) -> bool:
    """Running, not exited (a zombie waits for a parent that may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


# -- the split ------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [10, 50, 90])
def test_the_observed_split_is_within_3_points_of_the_weight(
    router: NginxRouter, upstreams: Upstreams, weight: int
) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, weight)
    answers = count(router.url, 2000)
    canary_share = 100 * sum(n for name, n in answers.items() if arm(name) == "canary") / 2000
    assert abs(canary_share - weight) <= 3
    # The stable set shares its part equally between its two servers.
    for name in ("stable-1", "stable-2"):
        assert abs(100 * answers[name] / 2000 - (100 - weight) / 2) <= 3


@pytest.mark.parametrize(("weight", "only"), [(0, "stable"), (100, "canary")])
def test_weight_0_and_100_send_everything_to_one_set(
    router: NginxRouter, upstreams: Upstreams, weight: int, only: str
) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, weight)
    answers = count(router.url, 200)
    assert {arm(name) for name in answers} == {only}
    left_out = upstreams.canary if only == "stable" else upstreams.stable
    conf = router.conf_file.read_text()
    assert all(address not in conf for address in left_out)


def test_server_weights_give_each_set_its_exact_share() -> None:
    split = Split.of(["a:1", "b:2"], ["c:3"], 10)
    assert split.server_weights() == [
        ("a:1", 9, "stable"),
        ("b:2", 9, "stable"),
        ("c:3", 2, "canary"),
    ]
    split = Split.of(["a:1"], ["c:3", "d:4", "e:5"], 25)
    assert split.server_weights() == [
        ("a:1", 9, "stable"), ("c:3", 1, "canary"), ("d:4", 1, "canary"), ("e:5", 1, "canary"),
    ]  # fmt: skip


# -- reloads ----------------------------------------------------------------------------


def test_no_request_fails_while_the_split_changes(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, 10)
    stop = threading.Event()
    answers: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    def traffic(keep_alive: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
        with httpx.Client(base_url=router.url, timeout=5, limits=limits) as client:
            while not stop.is_set():
                try:
                    response = client.get("/")
                except httpx.HTTPError as error:
                    failures.append(f"{type(error).__name__}: {error}")
                    continue
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}: {response.text}")
                answers[response.text] += 1

    senders = [threading.Thread(target=traffic, args=(keep,)) for keep in (True, True, False)]
    for sender in senders:
        sender.start()
    try:
        time.sleep(0.2)
        for weight in [50, 90, 0, 100, 25, 10] * 2:
            router.set_weights(upstreams.stable, upstreams.canary, weight)
            before = sum(answers.values())
            while sum(answers.values()) < before + 20:  # traffic between the reloads
                time.sleep(0.005)
        router.restore_previous()
        time.sleep(0.2)
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    assert failures == []
    assert sum(answers.values()) > 12 * 20
    assert {arm(name) for name in answers} == {"stable", "canary"}


def test_set_weights_returns_once_new_connections_get_the_new_split(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    for weight, only in [(100, "canary"), (0, "stable")] * 3:
        router.set_weights(upstreams.stable, upstreams.canary, weight)
        answers = count(router.url, 40)
        assert {arm(name) for name in answers} == {only}


def test_a_change_that_takes_servers_out_returns_once_their_requests_are_answered(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    """Old workers may still send requests to the servers taken out: the caller stops
    them after set_weights, so it must return only once those workers are done."""
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, 100)
    answered: list[float] = []

    def slow_request() -> None:
        with httpx.Client(base_url=router.url, timeout=10) as client:
            assert client.get("/", params={"delay": "1.5"}).text == "canary-1"
        answered.append(time.monotonic())

    held = threading.Thread(target=slow_request)
    held.start()
    time.sleep(0.3)  # the request is at the canary, through the current worker
    router.set_weights(upstreams.stable, upstreams.canary, 50)  # the canary stays in
    assert answered == []  # not waited for: no server left
    router.set_weights(upstreams.stable, upstreams.canary, 0)  # the canary leaves
    returned = time.monotonic()
    held.join()
    assert answered
    assert answered[0] <= returned
    assert {arm(name) for name in count(router.url, 20)} == {"stable"}


def test_a_drain_longer_than_drain_timeout_is_not_waited_for(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    router = NginxRouter(NginxRouterConfig(drain_timeout=0.3), home=tmp_path / "router")
    try:
        router.start()
        router.set_weights(upstreams.stable, upstreams.canary, 100)
        answers: list[str] = []

        def slow_request() -> None:
            with httpx.Client(base_url=router.url, timeout=10) as client:
                answers.append(client.get("/", params={"delay": "3"}).text)

        held = threading.Thread(target=slow_request)
        held.start()
        time.sleep(0.3)
        started = time.monotonic()
        router.set_weights(upstreams.stable, upstreams.canary, 0)
        assert time.monotonic() - started < 2.0
        held.join()
        assert answers == ["canary-1"]  # the old worker still answered it
    finally:
        router.stop()


def test_nginx_closes_an_idle_connection_to_an_instance_before_the_instance_would(
    router: NginxRouter,
) -> None:
    """An instance closing it first races a request nginx sends on it: a 502 for a POST."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        router.start()
        router.set_weights([address], [], 0)
        answered = threading.Thread(target=count, args=(router.url, 1, 1))
        answered.start()
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5)
            assert connection.recv(65536).startswith(b"GET / HTTP/1.1")
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nidl")
            answered.join()
            idle = time.monotonic()
            assert connection.recv(1) == b""  # nginx closed it, idle, unasked
            closed_after = time.monotonic() - idle
    assert 0.5 < closed_after < 3.0  # upstream_keepalive is 1 s; uvicorn closes after 5 s


# -- refused changes keep the split in force ------------------------------------------


def test_a_configuration_nginx_refuses_changes_nothing(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, 50)
    conf = router.conf_file.read_text()
    with pytest.raises(RouterError, match=r"nginx refused.*host not found in upstream"):
        router.set_weights(["no-such-host.invalid:80"], upstreams.canary, 10)
    assert router.split == Split.of(upstreams.stable, upstreams.canary, 50)
    assert router.conf_file.read_text() == conf
    assert not (router.home / "nginx.conf.next").exists()
    answers = count(router.url, 200)
    assert answers["canary-1"] == 100


@pytest.mark.parametrize(
    ("stable", "canary", "weight", "message"),
    [
        (["127.0.0.1:1"], ["127.0.0.1:2"], 101, "between 0 and 100"),
        (["127.0.0.1:1"], ["127.0.0.1:2"], -1, "between 0 and 100"),
        (["127.0.0.1:1"], ["127.0.0.1:2"], 12.5, "must be an integer"),
        (["127.0.0.1:1; include /etc/passwd"], ["127.0.0.1:2"], 10, "is not a server address"),
        (["127.0.0.1"], ["127.0.0.1:2"], 10, "is not a server address"),
        (["127.0.0.1:70000"], ["127.0.0.1:2"], 10, "is not a server address"),
        (["127.0.0.1:1"], ["127.0.0.1:1"], 10, "listed twice"),
        (["127.0.0.1:1"], [], 10, "no canary server"),
        ([], ["127.0.0.1:2"], 90, "no stable server"),
        ("127.0.0.1:1", ["127.0.0.1:2"], 10, "lists of host:port"),
    ],
)
def test_an_invalid_split_is_refused_before_nginx_sees_it(
    tmp_path: Path, stable: list[str], canary: list[str], weight: int, message: str
) -> None:
    router = NginxRouter(NginxRouterConfig(), home=tmp_path / "router")
    with pytest.raises(RouterError, match=message) as raised:
        router.set_weights(stable, canary, weight)
    assert isinstance(raised.value, TargetError)
    assert router.split is None
    assert not router.conf_file.exists()


def test_ipv6_and_hostnames_are_valid_server_addresses() -> None:
    split = Split.of(["[::1]:8001", "localhost:8002"], ["app-2.internal:8003"], 5)
    assert [address for address, _, _ in split.server_weights()] == [
        "[::1]:8001", "localhost:8002", "app-2.internal:8003",
    ]  # fmt: skip


# -- rollback to the previous split -----------------------------------------------------


def test_restore_previous_returns_to_the_split_before_the_last_change(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    with pytest.raises(RouterError, match="no previous split"):
        router.restore_previous()
    router.set_weights(upstreams.stable, upstreams.canary, 0)
    router.set_weights(upstreams.stable, upstreams.canary, 100)
    assert {arm(name) for name in count(router.url, 40)} == {"canary"}
    router.restore_previous()
    assert router.split == Split.of(upstreams.stable, upstreams.canary, 0)
    assert {arm(name) for name in count(router.url, 40)} == {"stable"}
    # Again (a rollback resumed after a crash): still the previous split, not a flip back.
    router.restore_previous()
    assert router.split == Split.of(upstreams.stable, upstreams.canary, 0)
    assert {arm(name) for name in count(router.url, 40)} == {"stable"}


def test_the_same_split_twice_is_a_no_op(router: NginxRouter, upstreams: Upstreams) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, 10)
    router.set_weights(upstreams.stable, upstreams.canary, 50)
    conf = router.conf_file.read_text()
    router.set_weights(upstreams.stable, upstreams.canary, 50)
    assert router.conf_file.read_text() == conf  # no new configuration, no reload
    assert router.previous == Split.of(upstreams.stable, upstreams.canary, 10)


# -- lifecycle --------------------------------------------------------------------------


def test_start_and_stop_are_idempotent_and_a_new_router_adopts_a_running_nginx(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    pid = int(router.pid_file.read_text())
    router.start()
    assert int(router.pid_file.read_text()) == pid
    # Another controller (a new process after a crash) over the same home.
    adopter = NginxRouter(router.config, home=router.home)
    assert adopter.running()
    assert adopter.url == router.url
    adopter.set_weights(upstreams.stable, upstreams.canary, 100)
    assert {arm(name) for name in count(router.url, 20)} == {"canary"}
    adopter.stop()
    adopter.stop()
    assert not router.running()
    assert not router.pid_file.exists()
    assert not process_alive(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(router.url, timeout=1)
    # Started again: same port, same split.
    router.start()
    assert {arm(name) for name in count(router.url, 20)} == {"canary"}


def test_before_any_split_every_request_gets_503(router: NginxRouter) -> None:
    router.start()
    response = httpx.get(router.url + "/anything", timeout=5)
    assert response.status_code == 503
    assert response.text == "no split set yet\n"


def test_a_split_set_while_stopped_applies_at_start(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.set_weights(upstreams.stable, upstreams.canary, 100)
    assert not router.running()
    router.start()
    assert {arm(name) for name in count(router.url, 20)} == {"canary"}


def test_a_taken_port_fails_the_start_with_nginx_s_reason(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    taken = int(upstreams.stable[0].rsplit(":", 1)[1])
    router = NginxRouter(NginxRouterConfig(listen_port=taken), home=tmp_path / "router")
    try:
        with pytest.raises(RouterError, match="Address already in use"):
            router.start()
        assert not router.running()
    finally:
        router.stop()


def test_a_missing_nginx_binary_is_a_router_error(tmp_path: Path) -> None:
    config = NginxRouterConfig(binary=str(tmp_path / "no-nginx"))
    with pytest.raises(RouterError, match="cannot run"):
        NginxRouter(config, home=tmp_path / "router").start()


def test_the_access_log_names_the_upstream_of_each_request(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.start()
    router.set_weights(upstreams.stable, upstreams.canary, 100)
    count(router.url, 4, threads=1)
    lines = router.access_log.read_text().splitlines()
    assert len(lines) == 4
    assert all(f"upstream={upstreams.canary[0]}" in line for line in lines)


def test_config_refuses_bad_ports() -> None:
    with pytest.raises(ValidationError, match="listen_port"):
        NginxRouterConfig(listen_port=0)
    with pytest.raises(ValidationError, match="type"):
        NginxRouterConfig.model_validate({"type": "haproxy"})


def test_started_as_root_its_workers_run_unprivileged(router: NginxRouter) -> None:
    if os.geteuid() != 0:
        pytest.skip("workers change user only under a root master")
    router.start()
    master = router.pid_file.read_text().strip()
    workers = [text for text in _statuses() if f"\nPPid:\t{master}\n" in text]
    assert workers
    for text in workers:
        uid = next(line for line in text.splitlines() if line.startswith("Uid:"))
        assert uid.split()[1] != "0"


def _statuses() -> list[str]:
    """Every live process's /proc status; one that exits while listed (other tests run
    beside this one under xdist) is left out instead of failing the read."""
    texts = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            texts.append(status.read_text())
        except OSError:
            continue
    return texts


def test_a_home_with_spaces_works_and_one_with_nginx_syntax_is_refused(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    router = NginxRouter(NginxRouterConfig(), home=tmp_path / "my router home")
    try:
        router.start()
        router.set_weights(upstreams.stable, upstreams.canary, 0)
        assert {arm(name) for name in count(router.url, 8)} == {"stable"}
    finally:
        router.stop()
    with pytest.raises(RouterError, match="nginx would read as syntax: ';'"):
        NginxRouter(NginxRouterConfig(), home=tmp_path / "a;b")
