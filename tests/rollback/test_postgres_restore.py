"""Level 3 restores a PostgreSQL database from the rollout's pg_dump, end to end (real processes).

A rollout backs up a real database, deploys a release, pauses; meanwhile that
release "migrates" the data badly; on resume the next deploy fails and the
rollback policy (level 3 only) puts the service in maintenance, restores the
dump, verifies every table's row count and checksum, and brings back 1.0.0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.backup.manifests import backup_file
from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.journal import JournalEntry
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.targets import ProcessTarget
from tests.backup.databases import execute, fresh_database, orders, with_password
from tests.rollback.services import TARGET

pytestmark = pytest.mark.slow

PASSWORD = "never-in-the-journal"
PLAN = f"""\
{TARGET}backups:
  - {{name: orders, type: postgres, url_env: RS_TEST_ORDERS_URL, timeout: 60s}}
rollback:
  levels: [restore]
  verify: {{for: 0s}}
steps:
  - backup:
  - deploy: {{release: 2.0.0}}
  - pause:
  - deploy: {{release: 3.0.0}}
"""


class Rollout:
    """The plan's service (1.0.0 live), its database, and a controller over both."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.url = url
        self.plan_path = tmp_path / "plan.yaml"
        self.plan_path.write_text(PLAN)
        releases = tmp_path / "root" / "releases"
        for release in ("1.0.0", "2.0.0", "3.0.0"):
            (releases / release).mkdir(parents=True)
        (releases / "3.0.0" / "crash").write_text("")  # its deploy fails: a rollback follows
        self.home = tmp_path / "home"
        plan = load_plan(self.plan_path)
        self.target = ProcessTarget(plan.target, service=plan.service, home=self.home)
        self.target.deploy("1.0.0")
        self.store = SqliteStore(self.home / "rollsafe.db")
        self.controller = Controller(self.store, self.home)

    def start(self) -> str:
        """Run the rollout up to its pause: backed up, 2.0.0 deployed."""
        rollout = self.controller.create(self.plan_path)
        paused = self.controller.run(rollout.id)
        assert paused.state is RolloutState.PAUSED, paused.reason
        assert self.target.current_release() == "2.0.0"
        return rollout.id

    def journal(self, rollout_id: str, kind: str) -> list[JournalEntry]:
        return [entry for entry in self.store.journal(rollout_id) if entry.kind == kind]


@pytest.fixture
def rollout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rollout]:
    with fresh_database() as url:
        # Trust auth ignores the password; it is there to show it is never written down.
        monkeypatch.setenv("RS_TEST_ORDERS_URL", with_password(url, PASSWORD))
        made = Rollout(tmp_path, url)
        try:
            yield made
        finally:
            made.target.stop()
            made.store.close()


def release_migrates_badly(url: str) -> None:
    execute(url, "UPDATE orders SET qty = -qty WHERE id <= 40")
    execute(url, "DELETE FROM orders WHERE id > 90")
    execute(url, "INSERT INTO orders (item, qty) VALUES ('written by 2.0.0', 1)")


def test_level_3_restores_the_rows_changed_after_the_backup(rollout: Rollout) -> None:
    before = orders(rollout.url)
    rollout_id = rollout.start()
    release_migrates_badly(rollout.url)
    assert orders(rollout.url) != before

    ended = rollout.controller.run(rollout_id, resume=True)

    assert ended.state is RolloutState.ROLLED_BACK, ended.reason
    assert orders(rollout.url) == before
    assert rollout.target.current_release() == "1.0.0"
    assert not rollout.target.in_maintenance()
    assert rollout.target.check_health().healthy
    (backup,) = rollout.store.list_backups()
    assert backup.kind == "postgres"
    (restored,) = rollout.journal(rollout_id, "backup.restored")
    assert restored.data["restored"] == rollout.url
    assert restored.data["tables"] == backup.manifest["tables"] == {"public.orders": 100}
    assert restored.data["checksums"] == backup.manifest["checksums"]
    assert restored.data["verification"]["row_counts"] == "equal to the backup"
    assert restored.data["verification"]["checksums"] == "equal to the backup"
    (level,) = rollout.journal(rollout_id, "rollback.level_ended")
    assert (level.data["level"], level.data["applied"], level.data["recovered"]) == (3, True, True)
    maintenance = [e.data["on"] for e in rollout.journal(rollout_id, "rollback.maintenance")]
    assert maintenance == [True, False]
    everything = json.dumps([e.data for e in rollout.store.journal()] + [backup.manifest])
    assert PASSWORD not in everything
    assert rollout.store.verify_journal().ok

    # The database as the restore found it, kept (owner-only), and what the restore took away.
    (copy,) = rollout.journal(rollout_id, "backup.forensic_copy")
    dump = rollout.home / copy.data["copy"]
    assert dump.name == "orders.dump"
    assert dump.stat().st_mode & 0o777 == 0o600
    assert copy.data["tables"] == {"public.orders": 91}
    (lost,) = rollout.journal(rollout_id, "backup.lost_rows")
    # 40 quantities negated and one order inserted after the backup; 10 orders deleted.
    assert lost.data["tables"] == {"public.orders": {"added": 1, "changed": 40, "removed": 10}}
    lines = [
        json.loads(line) for line in (rollout.home / lost.data["file"]).read_text().splitlines()
    ]
    assert sorted(line["row"]["id"] for line in lines) == [*range(1, 41), 101]
    assert {line["row"]["item"] for line in lines if line["row"]["id"] == 101} == {
        "written by 2.0.0"
    }
    assert PASSWORD not in (rollout.home / lost.data["file"]).read_text()


def test_a_tampered_dump_is_refused_and_the_data_left_alone(rollout: Rollout) -> None:
    rollout_id = rollout.start()
    release_migrates_badly(rollout.url)
    migrated = orders(rollout.url)
    (backup,) = rollout.store.list_backups()
    dump_file = backup_file(backup.path, rollout.home)
    dump = bytearray(dump_file.read_bytes())
    dump[len(dump) // 2] ^= 0x01
    dump_file.write_bytes(bytes(dump))

    ended = rollout.controller.run(rollout_id, resume=True)

    assert ended.state is RolloutState.FAILED, ended.reason
    assert orders(rollout.url) == migrated
    (level,) = rollout.journal(rollout_id, "rollback.level_ended")
    assert (level.data["applied"], level.data["recovered"]) == (False, False)
    assert "does not match its checksum" in level.data["result"]["error"]
    assert "staying in maintenance" in level.data["result"]["error"]
    assert rollout.target.in_maintenance()  # a person decides what happens next
    assert rollout.journal(rollout_id, "backup.restored") == []


def test_a_missing_url_variable_fails_the_level_before_the_service_is_touched(
    rollout: Rollout, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout_id = rollout.start()
    release_migrates_badly(rollout.url)
    migrated = orders(rollout.url)
    monkeypatch.delenv("RS_TEST_ORDERS_URL")

    ended = rollout.controller.run(rollout_id, resume=True)

    assert ended.state is RolloutState.FAILED, ended.reason
    (level,) = rollout.journal(rollout_id, "rollback.level_ended")
    assert "RS_TEST_ORDERS_URL (url_env) is not set" in level.data["result"]["error"]
    assert rollout.journal(rollout_id, "rollback.maintenance") == []
    assert not rollout.target.in_maintenance()
    assert orders(rollout.url) == migrated
    assert rollout.target.check_health().healthy


# The resumed controller dies by SIGKILL once the restore is done and the service has
# acknowledged a write (the moment of issue 17, item 1), on a PostgreSQL database.
KILLED_WHILE_VERIFYING = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import psycopg
    from rollsafe.controller import Controller, rollback
    from rollsafe.store import SqliteStore

    home, rollout_id, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def acknowledge_then_die(context):
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO orders (item, qty) VALUES ('after the restore', 1)")
        os.kill(os.getpid(), signal.SIGKILL)

    rollback.verify_recovery = acknowledge_then_die
    Controller(SqliteStore(home / "rollsafe.db"), home).run(rollout_id, resume=True)
    """
)


def test_a_kill_after_the_restore_never_restores_the_database_again(rollout: Rollout) -> None:
    before = orders(rollout.url)
    rollout_id = rollout.start()
    release_migrates_badly(rollout.url)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_VERIFYING, str(rollout.home), rollout_id, rollout.url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    acknowledged = orders(rollout.url)
    assert acknowledged[:-1] == before
    assert acknowledged[-1][1] == "after the restore"

    ended = rollout.controller.run(rollout_id, resume=True)

    assert ended.state is RolloutState.ROLLED_BACK, ended.reason
    assert orders(rollout.url) == acknowledged  # the write survived: no second restore
    assert len(rollout.journal(rollout_id, "backup.restored")) == 1
    (level,) = rollout.journal(rollout_id, "rollback.level_ended")
    assert level.data["result"]["restored_before"] == [f"{rollout_id}-orders"]
    assert rollout.store.verify_journal().ok
