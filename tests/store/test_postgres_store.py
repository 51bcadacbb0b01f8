"""The PostgreSQL store shared by several controllers: one journal chain, exactly-once writes."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rollsafe.errors import StoreError
from rollsafe.store import PostgresStore, SqliteStore, open_store_url
from rollsafe.store import postgres as postgres_module
from tests.store.backends import terminate

WRITER = """
import sys
from rollsafe.store import PostgresStore

url, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PostgresStore(url)
print("ready", flush=True)
sys.stdin.readline()
for n in range(count):
    store.append("test.event", {"writer": writer, "n": n}, actor=writer)
store.close()
"""


@pytest.fixture
def app() -> str:
    """An application_name unique to the test, so its sessions can be found and killed."""
    return f"rollsafe-test-{secrets.token_hex(4)}"


@pytest.fixture
def store(postgres_url: str, app: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url, application_name=app)
    yield store
    store.close()


def test_concurrent_appends_from_processes_and_threads_keep_one_chain(
    postgres_url: str, store: PostgresStore
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, postgres_url, f"process-{n}", "40"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"

        def write(writer: str) -> None:
            for n in range(40):
                store.append("test.event", {"writer": writer, "n": n}, actor=writer)

        threads = [threading.Thread(target=write, args=(f"thread-{n}",)) for n in range(3)]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [process.wait(timeout=60) for process in processes] == [0, 0, 0]
    finally:
        for process in processes:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    entries = store.journal()
    assert [entry.seq for entry in entries] == list(range(1, 241))
    writes = Counter((entry.data["writer"], entry.data["n"]) for entry in entries)
    assert len(writes) == 240
    assert set(writes.values()) == {1}
    writers = {writer for writer, _ in writes}
    assert len(writers) == 6
    result = store.verify_journal()
    assert result.ok, result.reason
    assert result.entries == 240


def test_only_one_of_many_controllers_takes_over_a_dead_owners_lease(
    postgres_url: str, store: PostgresStore
) -> None:
    rollout = store.create_rollout(
        service="shop", plan_path="p", plan_text="t", steps=[("promote", {})], actor="t"
    )
    assert store.acquire_lease(rollout.id, "dead", ttl=60)
    others = [PostgresStore(postgres_url) for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(others) * 2)

    def take_over(other: PostgresStore, owner: str) -> None:
        barrier.wait()
        results.append(other.acquire_lease(rollout.id, owner, ttl=60, take_over_from="dead"))

    threads = [
        threading.Thread(target=take_over, args=(other, f"c{n}-{m}"))
        for n, other in enumerate(others)
        for m in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    assert sorted(results) == [False] * 7 + [True]
    takeovers = [e for e in store.journal(rollout.id) if e.kind == "rollout.lease_acquired"]
    assert [e.data["previous_owner"] for e in takeovers] == [None, "dead"]
    assert store.get_rollout(rollout.id).owner == takeovers[-1].data["owner"]


def test_sessions_killed_between_writes_are_replaced_transparently(
    store: PostgresStore, app: str
) -> None:
    store.put_flag("f", {"name": "f", "enabled": False}, actor="a")
    assert terminate(app) >= 1
    flag = store.put_flag("f", {"name": "f", "enabled": True}, actor="a", expected_version=1)
    assert flag.version == 2
    assert terminate(app) >= 1
    assert store.get_flag("f").definition["enabled"] is True
    assert [e.kind for e in store.journal()] == ["flag.changed", "flag.changed"]


def test_a_session_killed_mid_transaction_is_retried_and_the_write_lands_once(
    store: PostgresStore, app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    attempts = 0
    real = postgres_module.canonical_json

    def kill_the_first_time(value: Any) -> str:
        nonlocal attempts
        attempts += 1
        if not killed:
            killed.append(terminate(app))  # holding the head lock, before the INSERT
        return real(value)

    monkeypatch.setattr(postgres_module, "canonical_json", kill_the_first_time)
    store.append("test.event", {"n": 1}, actor="a")
    assert killed[0] >= 1
    assert attempts == 2
    assert [(e.seq, e.data) for e in store.journal()] == [(1, {"n": 1})]
    assert store.verify_journal().ok


class LosesCommit(PostgresStore):
    """Kills its session around the next COMMIT: before it reaches the server, or after."""

    def __init__(self, url: str, app: str) -> None:
        super().__init__(url, application_name=app)
        self.app = app
        self.mode: str | None = None
        self.commits = 0

    def _commit(self, conn: psycopg.Connection[Any]) -> None:
        self.commits += 1
        mode, self.mode = self.mode, None
        if mode == "before":
            terminate(self.app)
        super()._commit(conn)
        if mode == "after":
            terminate(self.app)
            raise psycopg.OperationalError("simulated: the answer to COMMIT was lost")


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_commit_whose_answer_is_lost_is_applied_exactly_once(
    postgres_url: str, app: str, mode: str
) -> None:
    store = LosesCommit(postgres_url, app)
    try:
        store.put_flag("f", {"name": "f", "enabled": False}, actor="a")
        store.mode = mode
        flag = store.put_flag("f", {"name": "f", "enabled": True}, actor="b", expected_version=1)
        assert store.mode is None
        # Lost before the server saw it: run again; lost after it committed: found, not rerun.
        assert store.commits == {"before": 3, "after": 2}[mode]
        assert (flag.version, flag.updated_by) == (2, "b")
        assert store.flags_revision() == 2
        assert [e.data["version"] for e in store.journal()] == [1, 2]
        assert store.verify_journal().ok
    finally:
        store.close()


def test_an_unreachable_server_is_a_store_error_after_bounded_retries() -> None:
    with pytest.raises(StoreError, match="after 3 attempts"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/test", retries=2, backoff=0.01)


def test_migrations_run_once_when_controllers_start_together(postgres_url: str) -> None:
    stores: list[PostgresStore] = []
    lock = threading.Lock()

    def start() -> None:
        store = PostgresStore(postgres_url)
        with lock:
            stores.append(store)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(stores) == 4
        stores[0].append("test.event", {}, actor="a")
        assert [e.seq for e in stores[3].journal()] == [1]
    finally:
        for store in stores:
            store.close()


def test_flag_writes_notify_listeners_on_commit(postgres_url: str, store: PostgresStore) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {postgres_module.FLAGS_CHANNEL}")
        store.put_flag("f", {"name": "f"}, actor="a")
        store.delete_flag("f", actor="a")
        # A bound for a lost notification, not a speed: it returns once both arrive.
        payloads = [note.payload for note in listener.notifies(timeout=15.0, stop_after=2)]
    assert payloads == ["1", "2"]


def test_open_store_url_takes_a_postgres_url_or_a_sqlite_path(
    postgres_url: str, tmp_path: Path
) -> None:
    postgres = open_store_url(postgres_url)
    sqlite_file = open_store_url(str(tmp_path / "state.db"))
    sqlite_home = open_store_url(str(tmp_path))
    try:
        assert isinstance(postgres, PostgresStore)
        assert isinstance(sqlite_file, SqliteStore)
        assert sqlite_file.path == tmp_path / "state.db"
        assert isinstance(sqlite_home, SqliteStore)
        assert sqlite_home.path == tmp_path / "rollsafe.db"
    finally:
        for store in (postgres, sqlite_file, sqlite_home):
            store.close()


def test_a_closed_store_refuses_work(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.journal()
