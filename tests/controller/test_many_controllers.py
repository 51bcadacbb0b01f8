"""Three controllers share one store (SQLite file or PostgreSQL database); one dies by
SIGKILL; every rollout still ends once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.controller import Controller
from rollsafe.store import RolloutState, open_store_url
from tests.store.backends import postgres_schema

pytestmark = pytest.mark.slow

PLAN = """\
version: 1
service: svc-{n}
target:
  root: {root}
  command: ["{{python}}", "-c", "pass"]
flags:
  - name: feature-{n}
guards: []
steps:
  - flag: {{name: feature-{n}, rollout: 10}}
  - pause: {{duration: 1s}}
  - flag: {{name: feature-{n}, rollout: 50}}
  - pause: {{duration: 1s}}
  - flag: {{name: feature-{n}, rollout: 100}}
  - promote:
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_address(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """What the controllers get as ``--store``: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "shared" / "rollsafe.db")
        return
    with postgres_schema() as url:
        yield url


def controller(home: Path, store_address: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "--store", store_address,
         "controller", "run", "--poll", "0.2", "--max-concurrent", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_three_controllers_twenty_rollouts_one_killed(tmp_path: Path, store_address: str) -> None:
    home = tmp_path / "home"
    store = open_store_url(store_address)
    ids = []
    for n in range(20):
        plan = tmp_path / f"plan-{n}.yaml"
        plan.write_text(PLAN.format(n=n, root=tmp_path / f"target-{n}"))
        ids.append(Controller(store, home).create(plan, actor="test").id)

    controllers = [controller(tmp_path / f"home-{i}", store_address) for i in range(3)]
    try:
        victim = controllers[0]
        deadline = time.monotonic() + 30
        while not any(
            r.owner and r.owner.endswith(f":{victim.pid}") for r in store.list_rollouts()
        ):
            assert time.monotonic() < deadline, "the first controller never claimed a rollout"
            time.sleep(0.05)
        time.sleep(0.5)  # let it get into its steps
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        victim_owner = f":{victim.pid}"

        deadline = time.monotonic() + 120
        while not all(store.get_rollout(i).state.is_final for i in ids):
            assert time.monotonic() < deadline, [store.get_rollout(i).state for i in ids]
            time.sleep(0.2)
    finally:
        for process in controllers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)

    taken_over = 0
    for rollout_id in ids:
        assert store.get_rollout(rollout_id).state is RolloutState.PROMOTED
        journal = store.journal(rollout_id)
        succeeded = Counter(e.data["index"] for e in journal if e.kind == "step.succeeded")
        assert succeeded == Counter(range(6)), rollout_id  # every step finished exactly once
        rollouts = [
            e.data["after"]["strategies"][0]["parameters"]["rollout"]
            for e in journal
            if e.kind == "flag.changed" and e.data["after"]["enabled"]
        ]
        assert rollouts == ["10", "50", "100"], rollout_id  # every flag change applied once
        taken_over += any(
            e.kind == "rollout.lease_acquired"
            and (e.data.get("previous_owner") or "").endswith(victim_owner)
            for e in journal
        )
    assert taken_over >= 1, "no rollout of the killed controller was taken over"
    assert store.verify_journal().ok
    store.close()
