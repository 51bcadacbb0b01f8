"""A busy target lock is transient: the step runs again, journaled, instead of rolling back
(issue 11: a lock timeout in `targets/state.py` failed the step and rolled back a release
that may have been healthy). The lock is held by a real second process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rollsafe.cli.output import describe
from rollsafe.config.plan import Step
from rollsafe.controller import Controller
from rollsafe.controller.adapters import build_target
from rollsafe.controller.context import StepContext
from rollsafe.controller.retries import RETRY_EVENT, RetryPolicy
from rollsafe.controller.steps import run_step
from rollsafe.report.incident import build_incident
from rollsafe.store import RolloutState, StepState, Store, open_store_url
from tests.endpoints import healthy_server

pytestmark = pytest.mark.slow

PLAN = """\
version: 1
service: vm
target:
  type: command
  deploy: [["true"]]
  endpoints: ["{endpoint}"]
  health: {{timeout: 500ms, interval: 100ms, retries: 2}}
  cwd: .
  state_dir: {state}
  lock_wait: 300ms
rollback:
  levels: [release]
  verify: {{for: 1s, interval: 200ms}}
steps:
  - deploy: {{release: 2.0.0}}
  - promote:
"""

# Takes the lock, says so, keeps it for argv[2] seconds (forever when "inf"), lets go.
HOLDER = """\
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def endpoint() -> Iterator[str]:
    with healthy_server() as url:
        yield url


@contextmanager
def lock_held(lock: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holds ``lock`` for ``seconds`` (until the block ends at most)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.communicate()


def _plan(tmp_path: Path, endpoint: str) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(endpoint=endpoint, state=tmp_path / "state"))
    return plan


def test_a_step_retries_while_another_process_holds_the_target_lock(
    tmp_path: Path, endpoint: str
) -> None:
    store = open_store_url(tmp_path / "rollsafe.db")
    controller = Controller(store, tmp_path / "home")
    rollout_id = controller.create(_plan(tmp_path, endpoint), actor="test").id

    with lock_held(tmp_path / "state" / "lock", 2.5) as holder:
        rollout = controller.run(rollout_id)
        assert holder.poll() == 0  # it let go by itself: the deploy waited for it

    entries = store.journal(rollout_id)
    kinds = [entry.kind for entry in entries]
    assert rollout.state is RolloutState.PROMOTED, rollout.reason
    retries = [entry.data for entry in entries if entry.kind == RETRY_EVENT]
    assert len(retries) >= 2  # 300 ms waits and 1 s delays across 2.5 s held
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert {(r["index"], r["kind"]) for r in retries} == {(0, "deploy")}
    assert "another rollsafe process has held" in retries[0]["error"]
    assert not [kind for kind in kinds if kind.startswith("rollback.")]
    assert kinds.index(RETRY_EVENT) < kinds.index("step.succeeded")
    assert store.steps(rollout_id)[0].attempts == 1  # retried inside one run of the step

    # Shown live by the CLI, and in the incident report's timeline.
    first = next(entry for entry in entries if entry.kind == RETRY_EVENT)
    assert "step 0: deploy[/yellow] retry 1 in 1 s: another" in (describe(first) or "")
    timeline = build_incident(entries)["timeline"]
    assert len([row for row in timeline if row["event"] == RETRY_EVENT]) == len(retries)


def _running_context(
    tmp_path: Path, store: Store, endpoint: str, policy: RetryPolicy
) -> tuple[StepContext, Step]:
    controller = Controller(store, tmp_path / "home")
    rollout = controller.create(_plan(tmp_path, endpoint), actor="test")
    plan = controller.plan_of(rollout)
    target = build_target(plan, tmp_path / "home", store.address)
    context = StepContext(
        store, rollout.id, plan, target, tmp_path / "home", "test", retries=policy
    )
    store.set_step_state(rollout.id, 0, StepState.RUNNING, actor="test")
    return context, plan.steps[0]


@pytest.mark.parametrize(
    ("policy", "retried"),
    [
        (RetryPolicy(attempts=3, deadline=60), [1, 2]),  # the third attempt fails the step
        (RetryPolicy(attempts=10, deadline=0.5), []),  # a 1 s delay does not fit in 0.5 s
    ],
    ids=["attempts", "deadline"],
)
def test_retries_are_bounded_and_then_fail_the_step(
    tmp_path: Path, endpoint: str, policy: RetryPolicy, retried: list[int]
) -> None:
    store = open_store_url(tmp_path / "rollsafe.db")
    context, deploy = _running_context(tmp_path, store, endpoint, policy)

    with lock_held(tmp_path / "state" / "lock", 3600):
        outcome = run_step(context, deploy)

    assert outcome.status == "failed"
    assert "another rollsafe process has held" in outcome.reason
    retries = [e for e in store.journal(context.rollout_id) if e.kind == RETRY_EVENT]
    assert [e.data["attempt"] for e in retries] == retried
    assert context.target.current_release() is None  # nothing was deployed


def test_an_abort_ends_the_wait_between_retries(tmp_path: Path, endpoint: str) -> None:
    store = open_store_url(tmp_path / "rollsafe.db")
    context, deploy = _running_context(tmp_path, store, endpoint, RetryPolicy())
    store.request(context.rollout_id, "abort", actor="test")

    with lock_held(tmp_path / "state" / "lock", 3600):
        outcome = run_step(context, deploy)

    assert outcome.status == "aborted"
    retries = [e for e in store.journal(context.rollout_id) if e.kind == RETRY_EVENT]
    assert len(retries) == 1
