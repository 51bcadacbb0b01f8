"""The http source against a real JSON service on loopback: fields found by path, per arm."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from rollsafe.config import HttpMetrics
from rollsafe.errors import MetricsError
from rollsafe.judge import Judge
from rollsafe.metrics import HttpSource, SourceNeeds, build_source


class StatsService:
    """Answers ``GET /stats/<arm>?...`` with what ``answers[arm]`` holds (a body or a status)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.requests: list[str] = []
        self.delay = 0.0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.requests.append(self.path)
                time.sleep(service.delay)
                parts = urlsplit(self.path)
                arm = unquote(parts.path.rsplit("/", 1)[-1]) or parse_qs(parts.query)["arm"][0]
                answer = service.answers.get(arm, 404)
                status, body = (answer, b"") if isinstance(answer, int) else (200, answer)
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def service() -> Iterator[StatsService]:
    service = StatsService()
    try:
        yield service
    finally:
        service.stop()


FIELDS = {
    "requests": "$.series[0].total",
    "errors": 'series[0].by_status["5xx"]',
    "latency_seconds_bucket": "latency.buckets",
    "memory_bytes": "process.rss",
}


def answer(total: int, errors: int, rss: float = 1e8) -> dict[str, Any]:
    return {
        "series": [{"total": total, "by_status": {"5xx": errors, "2xx": total - errors}}],
        "latency": {"buckets": {"0.1": total - errors, "+Inf": total}},
        "process": {"rss": rss},
    }


def config(url: str, **fields: Any) -> HttpMetrics:
    fields.setdefault("fields", FIELDS)
    return HttpMetrics(provider="http", url=url, timeout="1s", **fields)


def no_release() -> str | None:
    return None


def failure(source: HttpSource) -> str:
    with pytest.raises(MetricsError) as caught:
        source.observe(0.0)
    return str(caught.value)


def test_fields_map_onto_observations_that_the_judge_fails(service: StatsService) -> None:
    source = build_source(
        config(service.url + "/stats/{arm}", headers={"DD-API-KEY": "k"}),
        SourceNeeds(list, no_release),
    )
    judge = Judge(None)
    with closing(source):
        service.answers = {"new": answer(0, 0), "old": answer(0, 0)}
        for observation in source.observe(0.0):
            judge.update(observation)
        service.answers = {"new": answer(2000, 400, 2e8), "old": answer(2000, 2)}
        canary, baseline = source.observe(1.0)
        judge.update(canary)
        verdict = judge.update(baseline)
    assert isinstance(source, HttpSource)
    assert canary == {
        "t": 1.0,
        "arm": "canary",
        "requests": 2000,
        "errors": 400,
        "latency_seconds_bucket": {"0.1": 1600, "+Inf": 2000},
        "memory_bytes": 2e8,
    }
    assert (baseline["requests"], baseline["errors"]) == (2000, 2)
    assert verdict.verdict == "fail", verdict.reason
    assert service.requests[-2:] == ["/stats/new", "/stats/old"]


def test_arm_in_query_params_and_url_encoded_in_the_path(service: StatsService) -> None:
    service.answers = {"a b/c": answer(5, 0), "old": answer(7, 1)}
    with closing(
        HttpSource(config(service.url + "/stats/{arm}", canary="a b/c"), no_release)
    ) as source:
        canary, _ = source.observe(0.0)
    assert canary["requests"] == 5
    assert service.requests[0] == "/stats/a%20b%2Fc"
    service.requests.clear()
    service.answers["new"] = answer(3, 0)
    with closing(
        HttpSource(config(service.url + "/stats/", params={"arm": "{arm}"}), no_release)
    ) as source:
        _, baseline = source.observe(0.0)
    assert baseline["requests"] == 7
    assert service.requests == ["/stats/?arm=new", "/stats/?arm=old"]


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        (404, "HTTP 404 from GET {url}/stats/new (canary)"),
        (b"<html>oops</html>", "did not answer JSON: '<html>oops</html>'"),
        ({"series": []}, "requests at $.series[0].total: $.series has no item [0]"),
        (
            {**answer(5, 0), "process": 3},
            "memory_bytes at process.rss: $.process has no field 'rss'",
        ),
        (
            {**answer(5, 0), "series": [{"total": "5", "by_status": {"5xx": 0}}]},
            "requests: expected a number, got str '5'",
        ),
    ],
)
def test_bad_answers_fail_the_look_naming_the_error(
    service: StatsService, canary: Any, message: str
) -> None:
    service.answers = {"new": canary, "old": answer(1, 0)}
    with closing(HttpSource(config(service.url + "/stats/{arm}"), no_release)) as source:
        assert message.format(url=service.url) in failure(source)


def test_a_slow_or_absent_service_fails_the_look(service: StatsService) -> None:
    service.answers = {"new": answer(1, 0), "old": answer(1, 0)}
    service.delay = 2.0
    with closing(HttpSource(config(service.url + "/stats/{arm}"), no_release)) as source:
        started = time.monotonic()
        assert "ReadTimeout" in failure(source)
        assert time.monotonic() - started < 1.9
    url = service.url
    service.delay = 0.0
    service.stop()
    with closing(HttpSource(config(url + "/stats/{arm}"), no_release)) as source:
        assert "ConnectError" in failure(source)
