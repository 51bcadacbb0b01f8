"""A flag rollout of small FastAPI and Flask services that have nothing of rollsafe's but the
SDK middleware and ``is_enabled``: `rollsafe rollout start` analyses the flag per variant
from the middleware's ``/metrics`` (scrape source), promotes the healthy service and
rolls the one whose new path sometimes answers 500 back at level 1 (flag off)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rollsafe.config import load_plan
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.targets import ProcessTarget

pytestmark = pytest.mark.slow

FLAG = "new-greeting"

# What a user writes: a service, the SDK client reading flags from rollsafe's store
# (COMMON: the same for both), two lines for the middleware, and is_enabled where the
# new path starts.
COMMON = """\
import argparse, os, random

from rollsafe.sdk import FlagClient

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--store", required=True)
args = parser.parse_args()
flags = FlagClient(store=os.environ.get("ROLLSAFE_STORE") or args.store, store_interval=0.2)
"""

FASTAPI_SERVICE = (
    COMMON
    + """
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from rollsafe.sdk.middleware import RollsafeMiddleware

app = FastAPI()
app.add_middleware(RollsafeMiddleware, client=flags)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/greeting")
def greeting(user: str):
    if flags.is_enabled("new-greeting", {"userId": user}):
        if random.random() < FAILURE_RATE:
            return JSONResponse({"error": "the new greeting failed"}, status_code=500)
        return {"greeting": "hello there"}
    return {"greeting": "hello"}


uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
"""
)

FLASK_SERVICE = (
    COMMON
    + """
import logging

from flask import Flask, request

from rollsafe.sdk.middleware import RollsafeWSGIMiddleware

app = Flask(__name__)
app.wsgi_app = RollsafeWSGIMiddleware(app.wsgi_app, client=flags)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/greeting")
def greeting():
    if flags.is_enabled("new-greeting", {"userId": request.args["user"]}):
        if random.random() < FAILURE_RATE:
            return {"error": "the new greeting failed"}, 500
        return {"greeting": "hello there"}
    return {"greeting": "hello"}


logging.getLogger("werkzeug").setLevel(logging.WARNING)
app.run(host="127.0.0.1", port=args.port, threaded=True)
"""
)

PLAN = """\
version: 1
service: greeter
target:
  type: process
  root: greeter
  instances: 2
  command: ["{python}", "{release_dir}/app.py", "--port", "{port}", "--store", "{home}/rollsafe.db"]
  health: {path: /health, timeout: 1s, interval: 100ms, retries: 150}
flags:
  - name: new-greeting
# The middleware's series for this flag; its variants are the arms ("on" is quoted:
# unquoted, YAML reads it as true).
metrics:
  provider: scrape
  match: {flag: new-greeting}
  canary: "on"
  baseline: "off"
analysis:
  interval: 1s
  min_requests: 40
  on_inconclusive: rollback
# An explicit guard instead of the defaults: their memory-growth guard extrapolates a
# freshly started interpreter's warm-up to tens of MB per hour.
guards:
  - name: error-rate
    metric: error_rate
    threshold: 0.2
    for: 3s
    window: 5s
    severity: critical
rollback:
  levels: [flags, release]
  # Long enough for flags off to reach both instances on a busy machine (they read
  # the store) and for the guard's 5 s window to hold only requests served after it.
  verify: {for: 8s}
steps:
  - flag: {name: new-greeting, rollout: 50}
  - analysis: {duration: 12s}
  - flag: {name: new-greeting, rollout: 100}
  - promote:
"""


@dataclass
class Service:
    plan_path: Path
    home: Path
    target: ProcessTarget

    def rollsafe(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def make_service(workdir: Path, source: str, failure_rate: float) -> Iterator[Service]:
    release = workdir / "greeter" / "releases" / "1.0.0"
    release.mkdir(parents=True)
    app = source.replace("FAILURE_RATE", repr(failure_rate))
    (release / "app.py").write_text(app)
    plan_path = workdir / "plan.yaml"
    plan_path.write_text(PLAN)
    plan = load_plan(plan_path)
    home = workdir / "home"
    target = ProcessTarget(plan.target, service=plan.service, home=home)
    target.deploy("1.0.0")  # the service is live before the rollout, as in production
    try:
        yield Service(plan_path, home, target)
    finally:
        target.stop()


@pytest.fixture(params=[FASTAPI_SERVICE, FLASK_SERVICE], ids=["fastapi", "flask"])
def service_source(request: pytest.FixtureRequest) -> str:
    source: str = request.param
    return source


@pytest.fixture
def healthy(tmp_path: Path, service_source: str) -> Iterator[Service]:
    yield from make_service(tmp_path, service_source, failure_rate=0.0)


@pytest.fixture
def faulty(tmp_path: Path, service_source: str) -> Iterator[Service]:
    yield from make_service(tmp_path, service_source, failure_rate=0.3)


# (variant header, status) -> responses
Seen = Counter[tuple[str, int]]


@contextmanager
def users_calling(target: ProcessTarget) -> Iterator[Callable[[], Seen]]:
    """Distinct users asking for a greeting, instance after instance, until the block ends."""
    seen: Seen = Counter()
    stop = threading.Event()

    def run() -> None:
        users = itertools.count()
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                for url in target.endpoints():
                    try:
                        answer = client.get(f"{url}/greeting", params={"user": next(users)})
                    except httpx.HTTPError:
                        continue  # an instance restarting: not what this test measures
                    seen[answer.headers.get("x-rollsafe-variant", ""), answer.status_code] += 1
                stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield lambda: seen
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_healthy_flag_is_analysed_per_variant_and_promoted(healthy: Service) -> None:
    with users_calling(healthy.target) as seen:
        result = healthy.rollsafe("rollout", "start", str(healthy.plan_path), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["state"] == "promoted"
    store = SqliteStore(healthy.home / "rollsafe.db")
    try:
        (rollout,) = store.list_rollouts()
        journal = list(store.journal(rollout.id))
        (verdict,) = [e.data for e in journal if e.kind == "analysis.verdict"]
        assert verdict["verdict"]["verdict"] == "pass"
        last_look = [e.data for e in journal if e.kind == "analysis.observation"][-1]
        requests = {o["arm"]: o["requests"] for o in last_look["observations"]}
        assert requests["canary"] >= 40
        assert requests["baseline"] >= 40
        assert store.get_flag(FLAG).definition["enabled"] is True
    finally:
        store.close()
    # Users were told which variant served them, and none failed.
    assert {header for header, _ in seen()} >= {f"{FLAG}=on", f"{FLAG}=off"}
    assert {status for _, status in seen()} == {200}


def test_a_new_path_that_fails_is_caught_per_variant_and_rolled_back_at_level_1(
    faulty: Service,
) -> None:
    with users_calling(faulty.target) as seen:
        result = faulty.rollsafe("rollout", "start", str(faulty.plan_path), "--json")
        assert result.returncode != 0, result.stdout + result.stderr
        summary = json.loads(result.stdout)
        assert summary["state"] == "rolled_back", summary
    store = SqliteStore(faulty.home / "rollsafe.db")
    try:
        (rollout,) = store.list_rollouts()
        assert rollout.state is RolloutState.ROLLED_BACK
        journal = list(store.journal(rollout.id))
        (verdict,) = [e.data for e in journal if e.kind == "analysis.verdict"]
        assert verdict["verdict"]["verdict"] == "fail", verdict
        levels = [e.data for e in journal if e.kind == "rollback.level_ended"]
        recovered = [(level["level"], level["recovered"]) for level in levels]
        assert recovered == [(1, True)], [level["verification"] for level in levels]
        assert store.get_flag(FLAG).definition["enabled"] is False
    finally:
        store.close()
    # The failures were all on the new path, and the header said so.
    failed = {header for header, status in seen() if status == 500}
    assert failed == {f"{FLAG}=on"}
    # Flag off: everyone is back on the old path, and it works.
    with httpx.Client(timeout=5) as client:
        for url in faulty.target.endpoints():
            answer = client.get(f"{url}/greeting", params={"user": "after"})
            assert answer.status_code == 200
            assert answer.headers["x-rollsafe-variant"] == f"{FLAG}=off"
