"""A real Alertmanager delivers its webhook to the flag server, and the rollout rolls back.

Debian's ``prometheus-alertmanager`` (scripts/install-servers.sh) runs on a free
loopback port with clustering off, routing every alert to the flag server's
``/api/admin/alerts`` with an admin bearer token (``http_config.authorization``),
``group_wait`` 100 ms and ``group_interval`` 1 s. The test posts an alert to
Alertmanager's own API (``/api/v2/alerts``), as Prometheus would; the rollout is
driven by a real controller on rollsafe.testing's fakes.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rollsafe.journal.kinds import Kind
from rollsafe.server import BackgroundServer
from rollsafe.store import RolloutState
from tests.controller.rig import Rig
from tests.ports import unused_port
from tests.server.servers import FAST, add_tokens

# Installed by scripts/install-servers.sh (`make servers`, run by `make test`).
BINARY = shutil.which("prometheus-alertmanager", path="/usr/sbin:/usr/bin") or "alertmanager"

pytestmark = pytest.mark.slow

CONFIG = """\
route:
  receiver: rollsafe
  group_by: [alertname, service]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rollsafe
    webhook_configs:
      - url: {url}/api/admin/alerts
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def post(self, labels: dict[str, str]) -> None:
        alert = {"labels": labels, "annotations": {"summary": "checkout 5xx above 5%"}}
        answer = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def alertmanager(rig: Rig, tmp_path: Path) -> Iterator[Alertmanager]:
    rig.controller()  # creates the store
    token = add_tokens(rig.stores[-1]).admin
    server = BackgroundServer(rig.root / "rollsafe.db", FAST).start()
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=server.url, token=token))
    port = unused_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=debug"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    manager = Alertmanager(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(manager)
        yield manager
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        server.stop()


def _wait_ready(manager: Alertmanager, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manager.process.poll() is not None:
            raise RuntimeError(f"alertmanager exited:\n{manager.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{manager.url}/-/ready", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"alertmanager not ready:\n{manager.log.read_text()[-3000:]}")


def test_an_alertmanager_webhook_rolls_back_a_running_rollout(
    rig: Rig, alertmanager: Alertmanager
) -> None:
    controller, rollout_id = rig.create(
        ["deploy", "pause: {duration: 60s}", "promote"], levels="[release]"
    )
    ended: list[RolloutState] = []
    driving = threading.Thread(target=lambda: ended.append(controller.run(rollout_id).state))
    driving.start()
    deadline = time.monotonic() + 10
    while rig.target.current_release() != "1.1.0" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rig.target.current_release() == "1.1.0"

    # An alert about another service comes first: delivered, answered 200, ignored.
    alertmanager.post({"alertname": "DiskFull", "service": "billing"})
    posted = time.time()
    alertmanager.post({"alertname": "HighErrorRate", "service": "shop", "rollout": rollout_id})
    driving.join(30)

    log = alertmanager.log.read_text()[-3000:]
    assert ended == [RolloutState.ROLLED_BACK], log
    assert rig.target.current_release() == "1.0.0"
    journal = rig.stores[-1].journal()
    (rolled,) = [e for e in journal if e.kind == Kind.ALERT_ROLLBACK]
    assert rolled.rollout_id == rollout_id
    # group_wait is 100 ms: the request is left within a second or two of the alert.
    print(f"alert posted to Alertmanager -> rollback requested: {rolled.ts - posted:.3f}s")
    assert rolled.ts - posted < 5.0
    assert rolled.actor == "token ops"
    assert rolled.data["receiver"] == "rollsafe"
    assert rolled.data["alert"]["labels"]["alertname"] == "HighErrorRate"
    assert rolled.data["alert"]["fingerprint"]  # Alertmanager's own, to find it there again
    rollout = rig.stores[-1].get_rollout(rollout_id)
    assert "alert HighErrorRate firing via receiver rollsafe" in rollout.reason
    # The other group is delivered on its own (group_by service): ignored, not retried.
    deadline = time.monotonic() + 10
    while not (ignored := _ignored(rig, "billing")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ignored
    assert ignored[0]["reason"] == "no rollout of 'billing' matches its labels"


def _ignored(rig: Rig, service: str) -> list[dict[str, object]]:
    return [
        dict(e.data)
        for e in rig.stores[-1].journal()
        if e.kind == Kind.ALERT_IGNORED and e.data["alert"]["labels"].get("service") == service
    ]
