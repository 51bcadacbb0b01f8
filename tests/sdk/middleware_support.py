"""What the middleware tests share: the flags, the requests every app answers alike, a
reader of the exposition, and a WSGI server in a thread.

Every test app serves the same routes:

- ``GET /checkout?user=U[&fail=1]``: ``is_enabled("new-checkout", {userId: U})``; on
  the ``on`` path with ``fail=1`` it answers 500, else 200;
- ``GET /colour?user=U``: ``get_variant("colour", ...)``, 200;
- ``GET /both?user=U``: both flags, 200;
- ``GET /plain``: no flag, 200;
- ``GET /boom?user=U``: evaluates ``new-checkout``, then raises.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
from prometheus_client.parser import text_string_to_metric_families

from rollsafe.sdk import FlagClient

CHECKOUT = "new-checkout"
COLOUR = "colour"
FEATURES: dict[str, Any] = {
    "version": 1,
    "features": [
        {
            "name": CHECKOUT,
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": CHECKOUT},
                }
            ],
        },
        {
            "name": COLOUR,
            "enabled": True,
            "strategies": [{"name": "default"}],
            "variants": [
                {"name": name, "weight": 500, "stickiness": "userId", "weightType": "variable"}
                for name in ("blue", "green")
            ],
        },
    ],
}


def flags() -> FlagClient:
    """A client that serves `FEATURES` (no service: the tests are about the middleware)."""
    return FlagClient(bootstrap=FEATURES)


class BoomError(Exception):
    """What ``/boom`` raises."""


# (flag, variant, status) -> requests
Expected = Counter[tuple[str, str, str]]


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    flags: dict[str, str]
    """What the handler is expected to get for each flag it evaluates."""
    status: int


def requests_to_send() -> list[Request]:
    """The mix every app gets, with what each request should be told (from the flags alone)."""
    reference = flags()

    def checkout(user: str) -> str:
        return "on" if reference.is_enabled(CHECKOUT, {"userId": user}) else "off"

    def colour(user: str) -> str:
        return str(reference.get_variant(COLOUR, {"userId": user})["name"])

    sent = []
    for i in range(60):
        user, fail = f"user-{i}", i % 3 == 0
        variant = checkout(user)
        status = 500 if fail and variant == "on" else 200
        params = {"user": user, **({"fail": "1"} if fail else {})}
        sent.append(Request("/checkout", params, {CHECKOUT: variant}, status))
    for i in range(20):
        user = f"user-{i}"
        sent.append(Request("/colour", {"user": user}, {COLOUR: colour(user)}, 200))
    for i in range(4):
        user = f"both-{i}"
        both = {CHECKOUT: checkout(user), COLOUR: colour(user)}
        sent.append(Request("/both", {"user": user}, both, 200))
    sent += [Request("/plain", {}, {}, 200) for _ in range(5)]
    sent += [Request("/boom", {"user": f"boom-{i}"}, {CHECKOUT: checkout(f"boom-{i}")}, 500)
             for i in range(3)]  # fmt: skip
    # Both arms of the flag, with and without failures, or the test proves little.
    variants = Counter((r.flags.get(CHECKOUT), r.status) for r in sent if r.path == "/checkout")
    assert {("on", 500), ("on", 200), ("off", 200)} <= set(variants), variants
    return sent


def expected_counts(sent: list[Request]) -> Expected:
    expected: Expected = Counter()
    for request in sent:
        for flag, variant in (request.flags or {"": "none"}).items():
            expected[flag, variant, str(request.status)] += 1
    return expected


def exercise(url: str, sent: list[Request], header: str = "X-Rollsafe-Variant") -> None:
    """Send ``sent`` eight at a time; each answer must have its status and variant header."""

    def one(request: Request) -> None:
        response = client.get(request.path, params=request.params)
        assert response.status_code == request.status, (request, response.text)
        expected_header = ", ".join(f"{flag}={variant}" for flag, variant in request.flags.items())
        assert response.headers.get(header) == (expected_header or None), request

    # A connection per request: after a handler raises, uvicorn (like any ASGI server whose
    # app re-raises) closes that connection, and a kept-alive request racing onto it
    # would be reset, which is the server's way and not what this test measures.
    limits = httpx.Limits(max_keepalive_connections=0)
    with (
        httpx.Client(base_url=url, timeout=10, limits=limits) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(one, sent))


@dataclass
class Exposition:
    requests: Expected
    latency_counts: Counter[tuple[str, str]]
    labels: list[dict[str, str]]
    names: set[str]


def scrape(url: str, path: str = "/metrics") -> Exposition:
    """The middleware's metrics, as Prometheus's own parser reads them."""
    response = httpx.get(url + path, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    requests: Expected = Counter()
    latency: Counter[tuple[str, str]] = Counter()
    labels = []
    names = set()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            names.add(sample.name)
            if sample.name == "http_requests_total":
                labels.append(sample.labels)
                key = (sample.labels["flag"], sample.labels["variant"], sample.labels["status"])
                requests[key] += int(sample.value)
            elif sample.name == "http_request_duration_seconds_count":
                latency[sample.labels["flag"], sample.labels["variant"]] += int(sample.value)
    return Exposition(requests, latency, labels, names)


def assert_counted(url: str, sent: list[Request]) -> Exposition:
    """The exposition counts exactly the requests sent, per flag, variant and status."""
    exposition = scrape(url)
    expected = expected_counts(sent)
    assert exposition.requests == expected
    by_variant: Counter[tuple[str, str]] = Counter()
    for (flag, variant, _), count in expected.items():
        by_variant[flag, variant] += count
    assert exposition.latency_counts == by_variant
    assert {"process_resident_memory_bytes", "process_start_time_seconds"} <= exposition.names
    return exposition


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def wsgiref_server(app: Any) -> AbstractContextManager[str]:
    """The standard library's WSGI server, a thread per request, on a free loopback port."""
    return _serving(
        make_server(
            "127.0.0.1", 0, app, server_class=_ThreadedWSGIServer, handler_class=_QuietHandler
        )
    )


def werkzeug_server(app: Any) -> AbstractContextManager[str]:
    """Werkzeug's threaded development server (what ``flask run`` uses) on loopback."""
    from werkzeug.serving import make_server as make_werkzeug_server

    return _serving(make_werkzeug_server("127.0.0.1", 0, app, threaded=True))


@contextmanager
def _serving(server: Any) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
