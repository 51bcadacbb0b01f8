"""A real third-party web application, rolled out as a new user would, with nothing added to it.

sqlite-web 0.6.3 → 0.6.4 (tests/thirdparty/sqliteweb.py) runs as two instances behind
rollsafe's nginx, started by ``rollsafe service up``, under a load of reads and writes
through the front door. The application exports no metrics (its ``/metrics`` is a 404):
the analysis sees only what nginx recorded.

- a healthy release goes through canaries at 20% and 50% and promotes;
- a broken build of the same version (one route answering 500) fails its analysis and
  is taken out at level 2, with every acknowledged write still in the database;
- instances killed under the router trip the front-door guard within 5 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from rollsafe.store import SqliteStore
from tests.thirdparty import sqliteweb

pytestmark = pytest.mark.slow

PLAN = """\
version: 1
service: sqlite-web
target:
  type: process
  root: {root}
  instances: 2
  canary_instances: 1
  command: {command}
  health: {{path: /}}
router:
  type: nginx
backups:
  - {{type: sqlite, name: app, path: {database}}}
guards: []
analysis:
  on_inconclusive: rollback
rollback:
  levels: [flags, release, restore]
  verify: {{for: 3s}}
steps:
{steps}"""

CANARY = """\
  - backup:
  - canary: {release: RELEASE, weight: 20}
  - analysis: {duration: 25s, arms: release}
  - canary: {release: RELEASE, weight: 50}
  - analysis: {duration: 25s, arms: release}
  - deploy: {release: RELEASE}
  - promote:
"""


@dataclass
class App:
    root: Path
    home: Path
    database: Path

    def plan(self, name: str, steps: str) -> Path:
        path = self.root / f"{name}.yaml"
        command = json.dumps(sqliteweb.command(self.database))
        path.write_text(
            PLAN.format(root=self.root, command=command, database=self.database, steps=steps)
        )
        return path

    def rollsafe(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )

    def status(self, plan: Path) -> dict[str, object]:
        result = self.rollsafe("service", "status", str(plan), "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        status: dict[str, object] = json.loads(result.stdout)
        return status


@dataclass
class Users:
    """Browse, read a table and insert rows through the front door, from a thread."""

    url: str
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    inserted: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Users:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        routes = ["/", f"/{sqliteweb.TABLE}/", f"/{sqliteweb.TABLE}/content/", "insert"]
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=5, limits=limits) as client:
            turn = 0
            while not self._stop.is_set():
                route = routes[turn % len(routes)]
                turn += 1
                try:
                    if route == "insert":
                        response = client.post(
                            f"{self.url}/{sqliteweb.TABLE}/insert/", data={"item": f"o{turn}"}
                        )
                        if response.status_code == 302:  # the row is committed: acknowledged
                            self.inserted += 1
                    else:
                        response = client.get(self.url + route)
                    self.statuses[(route, response.status_code)] += 1
                except httpx.HTTPError:
                    self.statuses[(route, 0)] += 1
                time.sleep(0.02)


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three release directories, pip-installed once a session (three ``pip install``
    runs cost each test seconds of CPU); each test deploys from its own copy of them."""
    root = tmp_path_factory.mktemp("sqlite-web-releases")
    for version in sqliteweb.VERSIONS:
        sqliteweb.install_release(root, version)
    sqliteweb.install_release(root, "0.6.4", broken=True, name="0.6.4-badbuild")
    return root / "releases"


@pytest.fixture
def app(tmp_path: Path, releases: Path) -> Iterator[App]:
    root = tmp_path / "sqlite-web"
    shutil.copytree(releases, root / "releases", symlinks=True)
    database = root / "data" / "app.db"
    sqliteweb.create_database(database)
    app = App(root, tmp_path / "home", database)
    plan = app.plan("service", "  - promote:\n")
    up = app.rollsafe("service", "up", str(plan), "--release", "0.6.3", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield app
    finally:
        down = app.rollsafe("service", "down", str(plan))
        assert down.returncode == 0, down.stdout + down.stderr


def front_address(app: App) -> str:
    front = app.status(app.root / "service.yaml")["front"]
    assert isinstance(front, dict), front
    url = front["url"]
    assert isinstance(url, str), front
    return url


def releases_running(app: App) -> set[str]:
    instances = app.status(app.root / "service.yaml")["instances"]
    assert isinstance(instances, list)
    return {instance["release"] for instance in instances}


def journal(app: App, rollout_id: str) -> list[dict[str, object]]:
    store = SqliteStore(app.home / "rollsafe.db")
    try:
        return [
            {"kind": entry.kind, **entry.data} for entry in store.journal(rollout_id)
        ]  # fmt: skip
    finally:
        store.close()


def rollout_id(result: subprocess.CompletedProcess[str]) -> str:
    return rollout_id_of(result.stdout)


def test_a_healthy_release_promotes_on_what_the_router_saw(app: App) -> None:
    url = front_address(app)
    exported = httpx.get(f"{url}/metrics", timeout=5, follow_redirects=True)
    assert exported.status_code == 404  # the application exports no metrics
    plan = app.plan("healthy", CANARY.replace("RELEASE", "0.6.4"))
    with Users(url) as users:
        result = app.rollsafe("rollout", "start", str(plan), "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    entries = journal(app, rollout_id(result))
    verdicts = [e["verdict"] for e in entries if e["kind"] == "analysis.verdict"]
    assert [v["verdict"] for v in verdicts] == ["pass", "pass"], verdicts  # type: ignore[index]
    last = [e for e in entries if e["kind"] == "analysis.observation"][-1]
    arms = {o["arm"]: o for o in last["observations"]}  # type: ignore[attr-defined]
    assert arms["canary"]["requests"] >= 100, arms
    assert arms["baseline"]["requests"] >= 100, arms
    assert releases_running(app) == {"0.6.4"}
    failed = {key: n for key, n in users.statuses.items() if key[1] >= 500 or key[1] == 0}
    assert not failed, failed  # users never met a stopped instance or an error
    assert sqliteweb.order_count(app.database) == users.inserted


def test_a_broken_release_fails_its_analysis_and_is_recovered_at_level_2(app: App) -> None:
    plan = app.plan("broken", CANARY.replace("RELEASE", "0.6.4-badbuild"))
    with Users(front_address(app)) as users:
        result = app.rollsafe("rollout", "start", str(plan), "--json")
        time.sleep(2)  # users keep writing after the rollback
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]  # rolled back
    entries = journal(app, rollout_id(result))
    verdicts = [e["verdict"] for e in entries if e["kind"] == "analysis.verdict"]
    assert verdicts[-1]["verdict"] == "fail", verdicts  # type: ignore[index]
    ended = [e for e in entries if e["kind"] == "rollback.level_ended"]
    assert ended[-1]["recovered"], ended
    assert ended[-1]["name"] == "release", ended
    assert releases_running(app) == {"0.6.3"}
    assert users.statuses[(f"/{sqliteweb.TABLE}/content/", 500)] > 0  # the fault was real
    assert sqliteweb.order_count(app.database) == users.inserted  # no acknowledged write lost
    url = front_address(app)
    assert httpx.get(f"{url}/{sqliteweb.TABLE}/content/", timeout=5).status_code == 200


def test_the_router_follows_a_plan_without_it_and_trips_when_instances_die(app: App) -> None:
    url = front_address(app)
    with Users(url) as users:
        # A plan without router: moves every instance to new ports; nginx follows.
        bare = app.plan("bare", "  - deploy: {release: 0.6.4}\n  - promote:\n")
        bare.write_text(bare.read_text().replace("router:\n  type: nginx\n", ""))
        assert app.rollsafe("rollout", "start", str(bare), "--json").returncode == 0
        # The plan with the router again: a no-op deploy; nginx stays right.
        again = app.plan("again", "  - deploy: {release: 0.6.4}\n  - promote:\n")
        assert app.rollsafe("rollout", "start", str(again), "--json").returncode == 0
        time.sleep(1)
    assert front_address(app) == url  # the front address is stable
    assert releases_running(app) == {"0.6.4"}
    failed = {key: n for key, n in users.statuses.items() if key[1] >= 500 or key[1] == 0}
    assert not failed, failed

    waiting = app.plan("waiting", "  - pause: {duration: 90s}\n  - promote:\n")
    instances = app.status(app.root / "service.yaml")["instances"]
    assert isinstance(instances, list)
    started = subprocess.Popen(
        [sys.executable, "-m", "rollsafe", "--home", str(app.home), "rollout", "start",
         str(waiting), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_pause(app)  # the pause step runs and the front door is watched
        time.sleep(1)
        killed_at = time.time()
        for instance in instances:
            os.killpg(int(instance["pid"]), signal.SIGKILL)
        stdout, stderr = started.communicate(timeout=240)
    finally:
        if started.poll() is None:  # a failure above: reap it here, not in a later test
            started.kill()
            started.communicate()
    assert started.returncode != 0, stdout[-3000:] + stderr[-3000:]
    store = SqliteStore(app.home / "rollsafe.db")
    try:
        trips = [e for e in store.journal(rollout_id_of(stdout)) if e.kind == "guard.tripped"]
    finally:
        store.close()
    assert trips, stdout[-3000:]
    assert trips[0].data["guard"] == "front-door", trips[0].data
    assert trips[0].ts - killed_at <= 5.0, f"tripped {trips[0].ts - killed_at:.1f}s after"


def wait_for_pause(app: App, timeout: float = 120) -> None:
    """Until a pause step runs: a fixed 5 s wait was too short for a CLI starting on a
    starved machine (the instances then died before the rollout began) and longer than
    needed otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        store = SqliteStore(app.home / "rollsafe.db")
        try:
            running = [e for e in store.journal() if e.kind == "step.running"]
        finally:
            store.close()
        if any(e.data.get("kind") == "pause" for e in running):
            return
        assert time.monotonic() < deadline, f"no pause step ran in {timeout}s"
        time.sleep(0.1)


def rollout_id_of(stdout: str) -> str:
    return str(json.loads(stdout)["id"])
