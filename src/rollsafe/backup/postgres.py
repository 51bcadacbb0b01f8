"""PostgreSQL backups: ``pg_dump -Fc`` with a manifest of per-table row counts and checksums.

The dump and the manifest describe the same instant: the manifest's counts and
checksums are read in a repeatable-read transaction whose snapshot ``pg_dump``
imports (``--snapshot``), so a service writing meanwhile changes neither.
A restore checks the file's SHA-256 first and refuses a mismatch, runs
``pg_restore --clean --if-exists`` in a single transaction (all or nothing), then
recomputes every table's count and checksum and compares them with the manifest.

The client tools run from argv lists (never a shell) with timeouts; a password
in the URL reaches them through ``PGPASSWORD``, not their command line, and the
manifest and every message name the database by its URL without the password.
The tools come from the Debian package ``postgresql-client``, which must not be
older than the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString

from rollsafe.backup.manifests import (
    Snapshot,
    manifest_path,
    record_snapshot,
    verify_checksum,
)
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.errors import BackupError
from rollsafe.support.private import create_private_file, private_directory
from rollsafe.support.redaction import (
    AMBIGUOUS,
    UNPARSABLE,
    ambiguous_credentials,
    url_without_secrets,
)

# psycopg is imported where it is used: this module is imported by every command
# (through the controller), and psycopg costs a process ~9 MB that a SQLite setup,
# `rollsafe server` included, never uses.
if TYPE_CHECKING:
    import psycopg

TableStats = dict[str, tuple[int, str]]
"""``schema.table`` to (row count, checksum of its rows)."""

# Row text must not depend on the session: fix every setting that changes a value's output.
_STABLE_OUTPUT: tuple[LiteralString, ...] = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
    "SET lc_monetary = 'C'",
)
_TABLES: LiteralString = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
"""


def snapshot_postgres(source: PostgresBackupSource, directory: Path) -> Snapshot:
    """Dump ``source`` into ``directory`` (``<name>.dump``) and write its manifest beside it."""
    import psycopg

    private_directory(directory)
    destination = directory / f"{source.name}.dump"
    partial = destination.with_name(destination.name + ".partial")
    client = _Client.of(source.resolve_url())
    where = client.where
    try:
        create_private_file(partial)  # pg_dump truncates it and keeps its mode
        with client.connect() as conn:
            for statement in _STABLE_OUTPUT:
                conn.execute(statement)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
            version = conn.execute("SHOW server_version").fetchone()
            if exported is None or version is None:
                raise BackupError(f"cannot export a snapshot of {where}")
            stats = _table_stats(conn)
            _run(
                [_tool("pg_dump"), "--format=custom", f"--snapshot={exported[0]}",
                 f"--file={partial}", f"--dbname={client.conninfo}"],
                client.env, source.timeout, f"pg_dump of {where}",
            )  # fmt: skip
            conn.execute("COMMIT")
    except psycopg.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot back up PostgreSQL database {where}: {error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(destination)
    details: dict[str, Any] = {
        **({"url_env": source.url_env} if source.url_env else {}),
        "format": "pg_dump custom",
        "server_version": version[0],
        "tables": {table: count for table, (count, _) in stats.items()},
        "checksums": {table: checksum for table, (_, checksum) in stats.items()},
    }
    return record_snapshot(source.name, source.type, where, destination, details)


def restore_postgres(
    path: Path,
    sha256: str,
    url: str,
    *,
    manifest: Mapping[str, Any] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Restore a verified dump into the database at ``url``, then verify every table.

    ``manifest`` is the backup's record (the manifest file beside the dump when
    None). Raises BackupError, changing nothing, when the file does not match
    ``sha256``; raises BackupError after the restore when a table's row count or
    checksum differs from the manifest. Clients of the database should be stopped.
    """
    verify_checksum(path, sha256)
    if manifest is None:
        try:
            manifest = json.loads(manifest_path(path).read_text())
        except (OSError, ValueError) as error:
            raise BackupError(f"cannot read the manifest of {path}: {error}") from error
    if manifest.get("sha256") != sha256:
        raise BackupError(f"the manifest of {path} is for another file; refusing to restore it")
    expected_counts: Mapping[str, int] = manifest.get("tables", {})
    expected_sums: Mapping[str, str] = manifest.get("checksums", {})
    client = _Client.of(url)
    where = client.where
    _run(
        [_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction",
         "--exit-on-error", f"--dbname={client.conninfo}", str(path)],
        client.env, timeout, f"pg_restore into {where}",
    )  # fmt: skip
    stats = table_stats(url)
    problems = []
    for table in sorted(expected_counts):
        if table not in stats:
            problems.append(f"{table} is missing")
            continue
        count, checksum = stats[table]
        if count != expected_counts[table]:
            problems.append(f"{table} has {count} rows, expected {expected_counts[table]}")
        elif checksum != expected_sums.get(table):
            problems.append(f"{table} rows differ from the backup (checksum {checksum[:12]}…)")
    if problems:
        raise BackupError(
            f"the database restored into {where} does not match the backup {path.name}: "
            + "; ".join(problems)
        )
    return {
        "restored": where,
        "tables": {table: stats[table][0] for table in sorted(expected_counts)},
        "checksums": {table: stats[table][1] for table in sorted(expected_counts)},
        "extra_tables": sorted(set(stats) - set(expected_counts)),
    }


def table_stats(url: str) -> TableStats:
    """Row count and content checksum of every user table of the database at ``url``."""
    import psycopg

    client = _Client.of(url)
    try:
        with client.connect() as conn:
            for statement in _STABLE_OUTPUT:
                conn.execute(statement)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            stats = _table_stats(conn)
            conn.execute("COMMIT")
            return stats
    except psycopg.Error as error:
        raise BackupError(f"cannot read the tables of {client.where}: {error}") from error


@contextmanager
def connect_stable(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to ``url`` whose row text, and so each row's MD5, is session-independent."""
    with _Client.of(url).connect() as conn:
        for statement in _STABLE_OUTPUT:
            conn.execute(statement)
        yield conn


def check_dump(path: Path, *, timeout: float = 120.0) -> dict[str, Any]:
    """Read the dump's table of contents with ``pg_restore --list`` (no database needed).

    Beyond the checksum, this proves the installed ``pg_restore`` can read the
    archive (a client older than the dump's format cannot), before a restore needs it.
    """
    listing = _run([_tool("pg_restore"), "--list", str(path)], {}, timeout, f"reading {path}")
    entries = [line for line in listing.splitlines() if line.strip() and not line.startswith(";")]
    return {"entries": len(entries)}


def redacted_url(url: str) -> str:
    """``url`` (or a ``key=value`` connection string) as a URL without its password."""
    return _Client.of(url).where


def _table_stats(conn: psycopg.Connection[Any]) -> TableStats:
    """Counts and checksums in the connection's transaction (one snapshot for all tables).

    A table's checksum is the MD5 of its rows' MD5s in sorted order: independent of
    physical row order, so a restored table with the same rows has the same checksum.
    """
    from psycopg import sql

    stats: TableStats = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h COLLATE \"C\"), ''))"
            " FROM (SELECT md5(t::text) AS h FROM {} AS t) AS rows"
        ).format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        if row is not None:
            stats[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    return stats


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed; install the PostgreSQL client tools (Debian package"
            " postgresql-client, the server's major version or newer)"
        )
    return path


def _run(argv: list[str], env: Mapping[str, str], timeout: float, what: str) -> str:
    try:
        completed = subprocess.run(
            argv,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BackupError(f"{what} did not finish within {timeout:g}s; it was stopped") from error
    except OSError as error:
        raise BackupError(f"cannot run {argv[0]}: {error}") from error
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()[-5:]
        raise BackupError(f"{what} failed (exit {completed.returncode}): " + " / ".join(detail))
    return completed.stdout


@dataclass(frozen=True)
class _Client:
    """One database as the tools and psycopg reach it, and as messages may name it."""

    conninfo: str
    """Every parameter but the password: safe on a command line."""
    password: str | None
    where: str
    """A URL without the password, for the manifest, the journal and messages."""

    @classmethod
    def of(cls, url: str) -> _Client:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        if ambiguous_credentials(url):
            raise BackupError(AMBIGUOUS)
        try:
            params = {key: str(value) for key, value in conninfo_to_dict(url).items()}
        except psycopg.Error:
            raise BackupError(UNPARSABLE) from None
        # sslpassword has no environment variable, so it stays in the tools' conninfo;
        # names (url_without_secrets) omit it.
        password = params.pop("password", None)
        return cls(make_conninfo("", **params), password, url_without_secrets(params))

    @property
    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password is not None else {}

    def connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        conninfo = self.conninfo
        if self.password is not None:
            conninfo = make_conninfo(conninfo, password=self.password)
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
