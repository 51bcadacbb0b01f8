"""PostgreSQL backups against the local server: dump, verified restore, tampering refused."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pydantic
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from rollsafe.backup import redacted_url, restore_backup, sha256_file, take_backup, verify_backup
from rollsafe.backup.archive import manifest_path
from rollsafe.backup.postgres import restore_postgres, snapshot_postgres, table_stats
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.errors import BackupError
from rollsafe.store import SqliteStore
from tests.backup.databases import with_password
from tests.store.backends import POSTGRES_URL, admin

SCHEMA = """
CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    item TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price NUMERIC(10, 2),
    weight DOUBLE PRECISION,
    placed TIMESTAMPTZ NOT NULL,
    extra JSONB
);
CREATE TABLE audit (note TEXT, at DATE);
"""
Rows = list[tuple[Any, ...]]


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """One database for the module (DROP DATABASE forces a checkpoint: not once per test)."""
    name = f"rs_backup_{secrets.token_hex(6)}"
    with admin() as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        with admin() as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def emptied(url: str) -> str:
    """The database with every user schema dropped and an empty ``public``."""
    with psycopg.connect(url, autocommit=True) as connection:
        schemas = connection.execute(
            "SELECT nspname FROM pg_namespace"
            " WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'"
        ).fetchall()
        for (schema,) in schemas:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        connection.execute("CREATE SCHEMA public")
    return url


@pytest.fixture
def shop_db(database: str) -> str:
    """A database with two tables and rows of many types (NULLs and Unicode too)."""
    url = emptied(database)
    with psycopg.connect(url) as connection:
        connection.execute(SCHEMA)
        connection.cursor().executemany(
            "INSERT INTO orders (item, qty, price, weight, placed, extra)"
            " VALUES (%s, %s, %s, %s, %s::timestamptz + %s * interval '1 minute', %s)",
            [
                (f"item-{n} é✓", n, f"{n}.{n % 100:02d}", n / 3 if n % 7 else None,
                 "2024-05-01T12:00:00+02:00", n,
                 json.dumps({"n": n, "tags": ["a", "b"]}) if n % 5 else None)
                for n in range(300)
            ],
        )  # fmt: skip
        connection.execute(
            "INSERT INTO audit VALUES ('created', '2024-05-01'), ('created', '2024-05-01'),"
            " (NULL, NULL)"
        )
    return url


def rows(url: str, table: str = "orders") -> Rows:
    with psycopg.connect(url) as connection:
        query = sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
        return connection.execute(query).fetchall()


def execute(url: str, statement: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(statement)


def source(url: str) -> PostgresBackupSource:
    return PostgresBackupSource(name="shop", url=url, timeout=60)


def test_dump_has_a_manifest_with_row_counts_and_checksums(shop_db: str, tmp_path: Path) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path / "b")
    assert snapshot.path == tmp_path / "b" / "shop.dump"
    assert snapshot.path.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    written = json.loads(manifest_path(snapshot.path).read_text())
    assert written == snapshot.manifest
    assert written["sha256"] == snapshot.sha256
    assert written["size"] == snapshot.path.stat().st_size
    assert written["tables"] == {"public.audit": 3, "public.orders": 300}
    stats = table_stats(shop_db)
    assert written["checksums"] == {table: checksum for table, (_, checksum) in stats.items()}
    assert written["from"] == shop_db


def test_checksums_follow_content_not_row_order(shop_db: str) -> None:
    before = table_stats(shop_db)
    execute(shop_db, "CREATE TABLE copy AS SELECT * FROM audit ORDER BY note DESC NULLS FIRST")
    execute(shop_db, "UPDATE orders SET qty = qty WHERE id % 2 = 0")  # new physical order
    after = table_stats(shop_db)
    assert after["public.orders"] == before["public.orders"]
    assert after["public.copy"] == before["public.audit"]
    execute(shop_db, "UPDATE orders SET qty = qty + 1 WHERE id = 7")
    assert table_stats(shop_db)["public.orders"][1] != before["public.orders"][1]


def test_restore_brings_back_every_row_and_is_verified(shop_db: str, tmp_path: Path) -> None:
    original, original_audit = rows(shop_db), rows(shop_db, "audit")
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    execute(shop_db, "DELETE FROM orders WHERE qty > 100")
    execute(shop_db, "UPDATE orders SET item = 'changed', extra = NULL WHERE qty < 10")
    execute(shop_db, "DROP TABLE audit")
    execute(shop_db, "CREATE TABLE added_by_the_release (x INTEGER)")
    result = restore_postgres(snapshot.path, snapshot.sha256, shop_db, manifest=snapshot.manifest)
    assert rows(shop_db) == original
    assert rows(shop_db, "audit") == original_audit
    assert result["tables"] == snapshot.manifest["tables"]
    assert result["checksums"] == snapshot.manifest["checksums"]
    assert result["extra_tables"] == ["public.added_by_the_release"]
    # The sequence came back too: a new order does not reuse an id.
    with psycopg.connect(shop_db) as connection:
        new = connection.execute(
            "INSERT INTO orders (item, qty, placed) VALUES ('n', 1, now()) RETURNING id"
        ).fetchone()
    assert new == (301,)


def test_restore_reads_the_manifest_beside_the_dump(shop_db: str, tmp_path: Path) -> None:
    original = rows(shop_db)
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    emptied(shop_db)  # as good as another, empty database
    result = restore_postgres(snapshot.path, snapshot.sha256, shop_db)
    assert result["tables"] == {"public.audit": 3, "public.orders": 300}
    assert rows(shop_db) == original


def test_a_tampered_dump_is_refused_and_changes_nothing(shop_db: str, tmp_path: Path) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    execute(shop_db, "DELETE FROM orders WHERE qty >= 10")
    data = bytearray(snapshot.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot.path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_postgres(snapshot.path, snapshot.sha256, shop_db, manifest=snapshot.manifest)
    assert len(rows(shop_db)) == 10


def test_a_manifest_of_another_file_is_refused(shop_db: str, tmp_path: Path) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    manifest = {**snapshot.manifest, "sha256": "0" * 64}
    with pytest.raises(BackupError, match="another file"):
        restore_postgres(snapshot.path, snapshot.sha256, shop_db, manifest=manifest)


def test_a_restore_that_does_not_match_the_manifest_is_an_error(
    shop_db: str, tmp_path: Path
) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    tables = {**snapshot.manifest["tables"], "public.orders": 301, "public.gone": 1}
    checksums = {**snapshot.manifest["checksums"], "public.audit": "f" * 32}
    manifest = {**snapshot.manifest, "tables": tables, "checksums": checksums}
    with pytest.raises(BackupError) as caught:
        restore_postgres(snapshot.path, snapshot.sha256, shop_db, manifest=manifest)
    message = str(caught.value)
    assert "public.orders has 300 rows, expected 301" in message
    assert "public.gone is missing" in message
    assert "public.audit rows differ" in message


def test_dump_and_manifest_agree_while_the_service_writes(shop_db: str, tmp_path: Path) -> None:
    stop, writing = threading.Event(), threading.Event()

    def writer() -> None:
        with psycopg.connect(shop_db) as connection:
            n = 0
            while not stop.is_set():
                with connection.transaction():  # an order and its audit row, together
                    connection.execute(
                        "INSERT INTO orders (item, qty, placed) VALUES (%s, -1, now())", (f"w{n}",)
                    )
                    connection.execute("INSERT INTO audit VALUES (%s, NULL)", (f"w{n}",))
                n += 1
                if n == 20:
                    writing.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(timeout=10)
        snapshot = snapshot_postgres(source(shop_db), tmp_path)
    finally:
        stop.set()
        thread.join()
    counts = snapshot.manifest["tables"]
    assert counts["public.orders"] >= 320
    assert counts["public.orders"] - 300 == counts["public.audit"] - 3
    assert len(rows(shop_db)) > counts["public.orders"]  # it went on writing during the dump
    # The restore checks the dumped rows against the manifest's counts and checksums.
    result = restore_postgres(snapshot.path, snapshot.sha256, shop_db)
    assert result["tables"] == counts


def test_pg_dump_failure_is_a_backup_error_and_leaves_no_file(tmp_path: Path) -> None:
    missing = source(database_url(f"rs_missing_{secrets.token_hex(4)}"))
    with pytest.raises(BackupError, match="cannot back up"):
        snapshot_postgres(missing, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_client_tools_are_named(
    shop_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackupError, match="postgresql-client"):
        snapshot_postgres(source(shop_db), tmp_path / "b")


def test_a_password_reaches_the_tools_by_environment_not_argv(
    shop_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        calls.append((argv, kwargs["env"]))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    with_password = shop_db.replace("://postgres@", "://postgres:s3cret-pw@")
    snapshot = snapshot_postgres(source(with_password), tmp_path)  # trust auth ignores it
    restore_postgres(snapshot.path, snapshot.sha256, with_password)
    assert [Path(argv[0]).name for argv, _ in calls] == ["pg_dump", "pg_restore"]
    for argv, env in calls:
        assert not any("s3cret-pw" in arg for arg in argv)
        assert env["PGPASSWORD"] == "s3cret-pw"
    assert "s3cret-pw" not in json.dumps(snapshot.manifest)


def test_the_source_model_checks_its_fields() -> None:
    parsed = PostgresBackupSource.model_validate(
        {
            "type": "postgres",
            "name": "orders",
            "url": "postgresql://u@db:5432/shop",
            "timeout": "5m",
        }
    )
    assert parsed.timeout == 300.0
    with pytest.raises(pydantic.ValidationError, match="url"):
        PostgresBackupSource.model_validate({"name": "orders", "url": "/var/lib/shop.db"})
    with pytest.raises(pydantic.ValidationError, match="path"):
        PostgresBackupSource.model_validate(
            {"name": "orders", "url": "postgresql://db/shop", "path": "/x"}
        )


def test_take_backup_dispatches_a_postgres_source_by_its_type(
    shop_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DATABASE_URL", with_password(shop_db, "s3cret-pw"))
    declared = PostgresBackupSource(name="shop", url_env="SHOP_DATABASE_URL", timeout=60)
    store = SqliteStore(tmp_path / "rollsafe.db")
    try:
        record = take_backup(
            declared, tmp_path / "b", store, backup_id="b1", rollout_id=None, actor="test"
        )
        assert (record.kind, Path(record.path).name) == ("postgres", "shop.dump")
        assert record.manifest["from"] == shop_db  # the password left out
        assert record.manifest["url_env"] == "SHOP_DATABASE_URL"
        assert record.manifest["tables"] == {"public.audit": 3, "public.orders": 300}
        stored = [store.get_backup("b1").manifest, *(e.data for e in store.journal())]
        assert "s3cret-pw" not in json.dumps(stored)
        assert "s3cret-pw" not in manifest_path(Path(record.path)).read_text()
    finally:
        store.close()
    original = rows(shop_db)
    execute(shop_db, "UPDATE orders SET qty = 0")
    result = restore_backup(
        Path(record.path),
        record.kind,
        record.sha256,
        declared.resolve_url(),
        manifest=record.manifest,
    )
    assert rows(shop_db) == original
    assert result["checksums"] == record.manifest["checksums"]
    assert result["restored"] == shop_db


def test_verify_also_reads_a_postgres_dump_with_pg_restore(shop_db: str, tmp_path: Path) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    checked = verify_backup(snapshot.path, snapshot.sha256, "postgres")
    assert checked["entries"] >= 4  # two tables and their data, at least
    # A file whose checksum matches (it was never a dump) passes the checksum alone ...
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"not a pg_dump archive\n" * 100)
    digest = sha256_file(garbage)
    verify_backup(garbage, digest)
    # ... and only the kind's own check finds it unreadable.
    with pytest.raises(BackupError, match=r"reading .*garbage\.dump failed"):
        verify_backup(garbage, digest, "postgres")


def test_a_postgres_backup_restores_only_into_a_database_url(shop_db: str, tmp_path: Path) -> None:
    snapshot = snapshot_postgres(source(shop_db), tmp_path)
    with pytest.raises(BackupError, match="restores into a database"):
        restore_backup(snapshot.path, "postgres", snapshot.sha256, tmp_path / "shop.db")
    assert not (tmp_path / "shop.db").exists()


def test_a_connection_string_that_does_not_parse_is_not_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libpq quotes this whole URI, password and all, in its own message.
    monkeypatch.setenv("SHOP_DATABASE_URL", "postgresql://app:s3cret-pw@[db/shop")
    declared = PostgresBackupSource(name="shop", url_env="SHOP_DATABASE_URL")
    with pytest.raises(BackupError) as caught:
        snapshot_postgres(declared, tmp_path)
    assert "invalid PostgreSQL URL" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (
            "postgres://app:pw@db:6432/shop?sslmode=require&options=-csearch_path%3Dx",
            "postgresql://app@db:6432/shop?options=-csearch_path%3Dx&sslmode=require",
        ),
        (
            "host=/var/run/postgresql dbname=shop user=app password=pw",
            "postgresql://app@/shop?host=%2Fvar%2Frun%2Fpostgresql",
        ),
        ("postgresql://h1:5432,h2:5433/shop", "postgresql:///shop?host=h1%2Ch2&port=5432%2C5433"),
        ("postgresql:///shop", "postgresql:///shop"),
    ],
)
def test_a_database_is_named_without_its_password_and_keeps_its_options(
    given: str, named: str
) -> None:
    assert redacted_url(given) == named
    # The name reaches the same database: every parameter but the password survives.
    expected = {key: value for key, value in conninfo_to_dict(given).items() if key != "password"}
    assert conninfo_to_dict(named) == expected
