"""A PostgreSQL store that cannot be reached is a transient error, not a failed step.

When the backend's own retries run out on a lost, refused or exhausted connection,
it raises `StoreUnavailableError`, a `TemporaryError`: the controller runs the step
again (journaled, `rollsafe.controller.retries`) instead of rolling back a release
that may be healthy. Errors that will not clear by themselves (a closed store, a
schema newer than this rollsafe) stay a plain, permanent `StoreError`.

Real failures on the real server: a closed loopback port, sessions killed with
``pg_terminate_backend``, a pool with its only connection taken.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from rollsafe.controller.context import StepContext
from rollsafe.controller.retries import RETRY_EVENT, RetryPolicy
from rollsafe.controller.runner import Controller
from rollsafe.controller.steps import run_step
from rollsafe.errors import StoreError, StoreUnavailableError, TemporaryError
from rollsafe.store import PostgresStore, StepState
from rollsafe.testing import FakeTarget, fake_adapters
from tests.ports import unused_port
from tests.store.backends import POSTGRES_URL, PostgresBackend, terminate

PLAN = """\
version: 1
service: shop
target: {{type: process, root: {root}/root, command: ["{{python}}", "-c", "pass"]}}
flags: [{{name: checkout}}]
steps:
  - flag: {{name: checkout, rollout: 50}}
  - promote:
"""


@pytest.fixture
def app() -> str:
    """An application_name unique to the test, so its sessions can be found and killed."""
    return f"rollsafe-test-{secrets.token_hex(4)}"


@pytest.fixture
def fragile(postgres_url: str, app: str) -> Iterator[PostgresStore]:
    """A store that gives up at the first lost connection (no retry of its own)."""
    store = PostgresStore(postgres_url, application_name=app, retries=0, max_backoff=0.05)
    yield store
    store.close()


def test_a_refused_connection_is_store_unavailable_after_the_retries() -> None:
    closed = POSTGRES_URL.replace("127.0.0.1:5432", f"127.0.0.1:{unused_port()}")
    assert closed != POSTGRES_URL

    with pytest.raises(StoreUnavailableError, match="after 2 attempts") as raised:
        PostgresStore(closed, retries=1, backoff=0.01, max_backoff=0.3)

    assert isinstance(raised.value, TemporaryError)
    assert isinstance(raised.value, StoreError)  # callers catching StoreError still do
    assert raised.value.delay == 0.3  # the controller waits the longest backoff
    assert raised.value.code == "store_unavailable"


def test_a_terminated_session_is_store_unavailable_and_then_clears(
    fragile: PostgresStore, app: str
) -> None:
    fragile.append("test.event", {}, actor="a")  # the pool's connection is open and used
    assert terminate(app) >= 1

    with pytest.raises(StoreUnavailableError, match="cannot read"):
        fragile.journal()

    # The pool replaced the lost connection: the condition cleared by itself.
    assert [entry.kind for entry in fragile.journal()] == ["test.event"]


def test_an_exhausted_pool_is_store_unavailable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, max_size=1, connect_timeout=0.3, retries=0)
    try:
        store.journal()
        # The pool's only connection, held by another user of the store.
        with store._connection(), pytest.raises(StoreUnavailableError):
            store.journal()
        assert store.journal() == []
    finally:
        store.close()


def test_permanent_store_errors_are_not_temporary(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.close()
    with pytest.raises(StoreError, match="closed") as closed:
        store.journal()
    assert not isinstance(closed.value, TemporaryError)

    with closing(PostgresStore(postgres_url)) as other:
        other.append("test.event", {}, actor="a")
    PostgresBackend(postgres_url).set_schema_version(10_000)
    with pytest.raises(StoreError, match="newer") as newer:
        PostgresStore(postgres_url)
    assert not isinstance(newer.value, TemporaryError)


def test_a_step_that_meets_an_unavailable_store_runs_again_journaled(
    tmp_path: Path, fragile: PostgresStore, app: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(root=tmp_path))
    target = FakeTarget()
    controller = Controller(fragile, tmp_path / "home", adapters=fake_adapters(target))
    rollout = controller.create(plan, actor="test")
    loaded = controller.plan_of(rollout)
    context = StepContext(
        fragile,
        rollout.id,
        loaded,
        target,
        tmp_path / "home",
        "test",
        retries=RetryPolicy(attempts=5, deadline=30),
    )
    fragile.set_step_state(rollout.id, 0, StepState.RUNNING, actor="test")
    assert terminate(app) >= 1  # the flag step's first read meets the lost session

    outcome = run_step(context, loaded.steps[0])

    assert outcome.status == "succeeded", outcome.reason
    retries = [e.data for e in fragile.journal(rollout.id) if e.kind == RETRY_EVENT]
    assert len(retries) >= 1
    assert retries[0]["kind"] == "flag"
    assert retries[0]["attempt"] == 1
    assert "cannot read" in retries[0]["error"]
    assert fragile.get_flag("checkout").definition["enabled"] is True
