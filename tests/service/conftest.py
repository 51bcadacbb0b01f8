"""The real sample shop run behind rollsafe's nginx, plans over it with and without a router,
and a client that polls the front door the way users reach the service."""

from __future__ import annotations

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

from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.controller.adapters import router_of
from rollsafe.demo.runner import prepare_workdir
from rollsafe.routers import NginxRouter
from rollsafe.store import Rollout, SqliteStore
from rollsafe.targets import ProcessTarget

ROUTER = "router:\n  type: nginx\n"
QUICK = """\
guards: []
rollback:
  levels: [flags, release, restore]
  verify:
    for: 1s
"""


@dataclass
class Service:
    """The shop's plan pieces, its state store, and the plans written so far."""

    workdir: Path
    home: Path
    head: str
    """The demo plan up to its ``steps:``, without guards and with a short verification."""
    store: SqliteStore
    target: ProcessTarget
    plans: int = 0

    def plan(self, steps: str, *, router: bool) -> Path:
        """A plan file over the shop with ``steps`` (YAML list items), with or without nginx."""
        self.plans += 1
        path = self.workdir / f"plan-{self.plans}.yaml"
        path.write_text(self.head + (ROUTER if router else "") + "steps:\n" + steps)
        return path

    def run(self, plan: Path) -> Rollout:
        controller = Controller(self.store, self.home)
        return controller.run(controller.create(plan, actor="test").id)

    def wait_running(self, rollout_id: str, seconds: float = 30) -> None:
        """Until the rollout's first step runs."""
        deadline = time.monotonic() + seconds
        while not any(e.kind == "step.running" for e in self.store.journal(rollout_id)):
            assert time.monotonic() < deadline, f"no step of {rollout_id} ran in {seconds}s"
            time.sleep(0.05)

    def router(self) -> NginxRouter:
        record = self.store.get_router(str(self.target.root))
        assert record is not None, "no router recorded for the shop"
        return router_of(record)

    def rollsafe(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def plan_head(plan_text: str) -> str:
    head = plan_text[: plan_text.index("steps:")]
    return head[: head.index("guards:")] + QUICK


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    workdir = tmp_path / "demo"
    plan_path = prepare_workdir(workdir, "none")
    home = workdir / "home"
    plan = load_plan(plan_path)
    target = ProcessTarget(plan.target, service=plan.service, home=home)
    store = SqliteStore(home / "rollsafe.db")
    service = Service(workdir, home, plan_head(plan_path.read_text()), store, target)
    try:
        yield service
    finally:
        target.stop()
        record = store.get_router(str(target.root))
        if record is not None:
            router_of(record).stop()
        store.close()


@dataclass
class Answer:
    status: int
    """0 when the connection failed."""
    release: str | None = None
    retry_after: str | None = None
    body: str = ""


@dataclass
class FrontDoorClient:
    """Polls ``url + path`` from a thread, one new connection per request, recording answers."""

    url: str
    path: str = "/health"
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> FrontDoorClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_for(self, answers: int, seconds: float = 10) -> None:
        """Until ``answers`` more requests were answered (or failed) from now."""
        wanted, deadline = len(self.answers) + answers, time.monotonic() + seconds
        while len(self.answers) < wanted:
            assert time.monotonic() < deadline, f"fewer than {answers} answers in {seconds}s"
            time.sleep(0.05)

    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answer in self.answers)

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=5, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url + self.path)
                except httpx.HTTPError:
                    self.answers.append(Answer(0))
                else:
                    release = None
                    if response.status_code == 200 and self.path == "/health":
                        release = response.json().get("release")
                    self.answers.append(
                        Answer(
                            response.status_code,
                            release,
                            response.headers.get("Retry-After"),
                            response.text[:200],
                        )
                    )
                time.sleep(0.01)


def live_addresses(target: ProcessTarget) -> set[str]:
    return {f"127.0.0.1:{instance.port}" for instance in target.instances()}
