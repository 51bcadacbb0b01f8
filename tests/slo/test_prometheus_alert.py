"""Generated rules in a real Prometheus: the page alert fires when the burn-rate maths says.

A real shop (uvicorn on loopback, release 1.1.0 with its ``errors`` fault: 5% of
fast checkouts answer 500, seeded) is scraped every 0.25 s by a real Prometheus
that evaluates ``rollsafe slo rules`` output every 0.25 s. The SLO is 99.9% over
28 days compressed 360 times, so the 14.4x tier watches 10 s / 0.83 s. After a
clean phase longer than the long window, the test turns the fast path on (an
error burst) and records every answer it gets. From those answers it computes
when the tier's condition first holds (errors over the last 10 s and over the
last 0.83 s both above 14.4 x 0.1% of requests): the alert must fire no earlier
than a second before that and within the scrape, evaluation and extrapolation
lag after it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rollsafe.demo.prometheus import PrometheusServer, prometheus_binary
from rollsafe.support.http import http_get
from tests.demo.servers import FakeFlags, Shops, checkout_body

pytestmark = pytest.mark.slow

COMPRESS = 360
LONG, SHORT = 3600 / COMPRESS, 300 / COMPRESS  # 10 s and 0.83 s
LIMIT = 14.4 * 0.001
SLOS = f"""\
version: 1
service: shop
selector: {{job: shop}}
compress: {COMPRESS}
objectives:
  - name: checkout-availability
    target: 0.999
    period: 28d
"""


class Load:
    """Checkouts at a steady rate from a thread; every answer's wall time and status."""

    def __init__(self, url: str, per_second: float = 60) -> None:
        self.url, self.pause = url, 1 / per_second
        self.answers: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            user = 0
            while not self._stop.is_set():
                user += 1
                response = client.post("/checkout", json=checkout_body(f"u{user}"))
                self.answers.append((time.time(), response.status_code))
                self._stop.wait(self.pause)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def predicted_firing(self, since: float) -> float | None:
        """The first answer time after ``since`` at which both windows burn above 14.4x."""
        answers = list(self.answers)
        for index, (t, _status) in enumerate(answers):
            if t < since:
                continue
            ratios = []
            for window in (LONG, SHORT):
                inside = [s for u, s in answers[: index + 1] if u > t - window]
                ratios.append(sum(s >= 500 for s in inside) / len(inside))
            if min(ratios) > LIMIT:
                return t
        return None


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[str, FakeFlags]]:
    flags = FakeFlags(False)
    shops = Shops(tmp_path, tmp_path / "shop.db")
    try:
        server = shops.start("1.1.0", "errors", flags=flags, seed=3)
        yield server.url, flags
    finally:
        shops.stop_all()


def alerts(url: str) -> list[dict[str, object]]:
    # polled every 0.1 s while the alert is timed: no new TLS context (CPU) each time
    response = http_get(url + "/api/v1/alerts", timeout=5)
    response.raise_for_status()
    found: list[dict[str, object]] = response.json()["data"]["alerts"]
    return found


def test_the_page_alert_fires_when_the_burn_rate_maths_predicts(
    tmp_path: Path, shop: tuple[str, FakeFlags]
) -> None:
    prometheus_binary("promtool")
    (tmp_path / "slos.yaml").write_text(SLOS)
    rules = tmp_path / "rules.yml"
    done = subprocess.run(
        [sys.executable, "-m", "rollsafe", "slo", "rules", str(tmp_path / "slos.yaml"),
         "-o", str(rules), "--interval", "250ms"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(
        [prometheus_binary("promtool"), "check", "rules", str(rules)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    url, flags = shop
    server = PrometheusServer(
        tmp_path / "prometheus",
        scrape_interval="250ms",
        extra_config={"global": {"evaluation_interval": "250ms"}, "rule_files": [str(rules)]},
    )
    server.start(
        [{"job_name": "shop", "static_configs": [{"targets": [url.removeprefix("http://")]}]}]
    )
    try:
        with Load(url) as load:
            time.sleep(LONG + 3)  # a clean history longer than the long window
            assert alerts(server.url) == []
            burst = time.time()
            flags.on = True
            fired: float | None = None
            deadline = burst + 25
            while fired is None and time.time() < deadline:
                for alert in alerts(server.url):
                    labels = alert["labels"]
                    assert isinstance(labels, dict)
                    # Prometheus has seconds of history only, so its longer windows are
                    # short too and other tiers fire early: the page tier is the one timed.
                    page = (labels["long"], labels["short"]) == ("10s", "833ms")
                    if page and alert["state"] == "firing":
                        assert labels["severity"] == "page"
                        assert labels["slo"] == "checkout-availability"
                        fired = time.time()
                time.sleep(0.1)
        assert fired is not None, f"no alert within 25 s:\n{server.log_tail()}"
        predicted = load.predicted_firing(burst)
        assert predicted is not None
        print(f"burst at 0; predicted {predicted - burst:.2f} s; fired {fired - burst:.2f} s")
        # Scrape (0.25 s) + rule evaluation (0.25 s, twice: records then alerts) + rate()'s
        # extrapolation and the error series appearing with its first error: within 4 s.
        assert predicted - 1.0 <= fired <= predicted + 4.0
    finally:
        server.stop()
