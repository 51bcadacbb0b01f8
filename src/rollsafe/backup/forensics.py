"""What a restore is about to overwrite: a forensic copy of it, and the rows it will lose.

Before level 3 puts a backup back, the data as it stands (the pre-restore state,
whatever the faulty release did to it, and every order the service acknowledged
since the backup) is copied into the home, readable by its owner only. After
the restore, :func:`lost_rows` compares that copy with the backup and writes,
as JSON lines, every row written after the backup that the restore took away,
so a person can re-apply the ones that matter.

SQLite: the copy is an online backup of the live file, the comparison is SQL
over both files attached read-only (memory stays flat whatever their size).
Rows are matched by primary key (``rowid`` for tables without one): a key only
in the copy was *added* after the backup, a key in both with other values was
*changed*, a key only in the backup was *removed* (the restore brought it back).
PostgreSQL: the copy is a ``pg_dump`` of the live database, whose manifest
holds every table's row count and checksum. The rows of each table whose
checksum differs from the backup's are also exported as JSON lines with each
row's MD5 (:func:`export_postgres_rows`); right after the restore, before the
service runs again, :func:`postgres_lost_rows` matches them by content against
the restored rows, then sorts the rows that differ by primary key into the same
*added*, *changed* and *removed* as for SQLite.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString, TextIO

from rollsafe.backup.postgres import connect_stable, redacted_url
from rollsafe.errors import BackupError

# psycopg is imported where it is used, as in rollsafe.backup.postgres.
if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

Changes = dict[str, dict[str, int]]
"""Per table: how many rows were ``added``, ``changed`` and ``removed`` after the backup."""


def private_directory(path: Path) -> Path:
    """``path`` created if needed and readable by its owner only, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)
    return path


def make_private(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            path.chmod(PRIVATE_FILE)


def raw_copy(database: Path, directory: Path) -> list[Path]:
    """The SQLite file and its ``-wal`` and ``-shm`` beside it, copied as they are (owner-only).

    For a database SQLite cannot read any more: what is on disk is kept for a person.
    """
    copies = []
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        if path.is_file():
            copy = directory / f"{path.name}.raw"
            shutil.copyfile(path, copy)
            copy.chmod(PRIVATE_FILE)
            copies.append(copy)
    return copies


def lost_rows(pre_restore: Path, backup: Path, out: Path) -> Changes:
    """Write the rows of ``pre_restore`` the restore of ``backup`` took away into ``out``.

    Both are SQLite files. Each line of ``out`` is ``{"table", "change", "key", "row"}``:
    ``row`` is the pre-restore row for ``added`` and ``changed``, the backup's row
    for ``removed``. Returns the counts per table (tables with no change left out).
    """
    try:
        with (
            closing(sqlite3.connect(":memory:", uri=True)) as conn,
            _private_partial(out) as stream,
        ):
            conn.execute("ATTACH ? AS pre", (f"file:{pre_restore}?mode=ro",))
            conn.execute("ATTACH ? AS bak", (f"file:{backup}?mode=ro",))
            changes = {
                table: counts
                for table in _tables(conn, "pre") | _tables(conn, "bak")
                if any((counts := _diff_table(conn, table, stream)).values())
            }
    except sqlite3.Error as error:
        raise BackupError(f"cannot compare {pre_restore} with {backup}: {error}") from error
    return dict(sorted(changes.items()))


def export_postgres_rows(url: str, tables: list[str], out: Path) -> int:
    """Write every row of ``tables`` (``schema.table``) at ``url`` with its MD5; count them."""
    written = 0
    with _private_partial(out) as stream, _postgres(url) as conn:
        for table in tables:
            for digest, row in conn.execute(_rows_of(table, "md5(t::text), row_to_json(t)::text")):
                line = {"table": table, "md5": digest, "row": json.loads(row)}
                stream.write(json.dumps(line) + "\n")
                written += 1
    return written


def postgres_lost_rows(url: str, exported: Path, out: Path) -> Changes:
    """Rows of ``exported`` (before the restore) the database at ``url`` no longer holds.

    Rows are matched by content (their MD5), then classified by primary key when the
    table has one, as for SQLite: ``added``, ``changed`` (pre-restore rows, written to
    ``out`` as ``{"table", "change", "row"}``) and ``removed`` (counted). Without a
    primary key a row that is not in the backup counts as ``added``. Holds the exported
    rows (those of the tables that changed since the backup) in memory.
    """
    with exported.open(encoding="utf-8") as stream:
        before = [json.loads(line) for line in stream]
    changes: Changes = {}
    with _postgres(url) as conn, _private_partial(out) as stream:
        for table in sorted({line["table"] for line in before}):
            rows = [line for line in before if line["table"] == table]
            changes[table] = _compare_table(conn, table, rows, stream)
    return {table: counts for table, counts in changes.items() if any(counts.values())}


def _compare_table(
    conn: psycopg.Connection[Any], table: str, before: list[dict[str, Any]], stream: TextIO
) -> dict[str, int]:
    from psycopg import sql

    schema, _, name = table.partition(".")
    key = _primary_key(conn, schema, name)
    keyed = sql.SQL("json_build_array({})::text").format(
        sql.SQL(", ").join(sql.Identifier("t", column) for column in key)
    )
    query = sql.SQL("SELECT md5(t::text), {} FROM {} AS t").format(
        keyed if key else sql.SQL("''"), sql.Identifier(schema, name)
    )
    restored: dict[str, list[str]] = {}  # content digest -> keys of the restored rows
    for digest, row_key in conn.execute(query):
        restored.setdefault(str(digest), []).append(str(row_key))
    restored_keys = {k for keys in restored.values() for k in keys}
    counts = {"added": 0, "changed": 0, "removed": 0}
    before_keys = set()
    for line in before:
        row_key = json.dumps([line["row"].get(column) for column in key]) if key else ""
        before_keys.add(row_key)
        same = restored.get(line["md5"])
        if same:
            same.pop()
            continue
        change = "changed" if key and row_key in restored_keys else "added"
        counts[change] += 1
        stream.write(json.dumps({"table": table, "change": change, "row": line["row"]}) + "\n")
    left = [k for keys in restored.values() for k in keys]
    counts["removed"] = sum(1 for k in left if not key or k not in before_keys)
    return counts


def _primary_key(conn: psycopg.Connection[Any], schema: str, name: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indisprimary AND i.indrelid = ("
        "  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE n.nspname = %s AND c.relname = %s)"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (schema, name),
    )
    return [str(row[0]) for row in rows]


def postgres_changes(
    pre_restore: Mapping[str, Any], backup: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Tables whose rows differ between two dump manifests (counts and checksums)."""
    before_counts: Mapping[str, int] = pre_restore.get("tables", {})
    before_sums: Mapping[str, str] = pre_restore.get("checksums", {})
    backup_counts: Mapping[str, int] = backup.get("tables", {})
    backup_sums: Mapping[str, str] = backup.get("checksums", {})
    changes: dict[str, dict[str, Any]] = {}
    for table in sorted(set(before_counts) | set(backup_counts)):
        if before_sums.get(table) == backup_sums.get(table):
            continue
        changes[table] = {
            "rows_before_restore": before_counts.get(table, 0),
            "rows_in_backup": backup_counts.get(table, 0),
        }
    return changes


@contextmanager
def _private_partial(out: Path) -> Iterator[TextIO]:
    """A file written under a temporary name, owner-only, renamed to ``out`` once complete."""
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as stream:
            partial.chmod(PRIVATE_FILE)
            yield stream
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)


@contextmanager
def _postgres(url: str) -> Iterator[psycopg.Connection[Any]]:
    """One connection with stable row text (for MD5s), errors as BackupError."""
    import psycopg

    try:
        with connect_stable(url) as conn:
            yield conn
    except psycopg.Error as error:
        raise BackupError(f"cannot compare the rows of {redacted_url(url)}: {error}") from error


def _rows_of(table: str, columns: LiteralString) -> sql.Composed:
    from psycopg import sql

    schema, _, name = table.partition(".")
    return sql.SQL("SELECT {} FROM {} AS t").format(sql.SQL(columns), sql.Identifier(schema, name))


def _tables(conn: sqlite3.Connection, schema: str) -> set[str]:
    rows = conn.execute(
        f"SELECT name FROM {schema}.sqlite_master"  # noqa: S608 - schema is pre or bak
        " WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {str(row[0]) for row in rows}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[tuple[str, int]]:
    """(name, position in the primary key, 0 if none) of each column; empty if no table."""
    rows = conn.execute(f"PRAGMA {schema}.table_info({_quote(table)})").fetchall()
    return [(str(row[1]), int(row[5])) for row in rows]


def _diff_table(conn: sqlite3.Connection, table: str, stream: TextIO) -> dict[str, int]:
    pre, bak = _columns(conn, "pre", table), _columns(conn, "bak", table)
    name = _quote(table)
    counts = {"added": 0, "changed": 0, "removed": 0}
    keys = _key(pre)
    if not pre or not bak or keys != _key(bak):
        # A table on one side only, or keyed differently: its rows cannot be matched.
        for change, side, columns in (("added", "pre", pre), ("removed", "bak", bak)):
            if columns:
                everything = f"SELECT * FROM {side}.{name}"  # noqa: S608 - quoted identifiers
                counts[change] = _write(conn, stream, table, change, everything)
        return counts
    match = " AND ".join(f"o.{_quote(k)} IS t.{_quote(k)}" for k in keys)
    for change, side, other in (("added", "pre", "bak"), ("removed", "bak", "pre")):
        counts[change] = _write(
            conn, stream, table, change,
            f"SELECT t.* FROM {side}.{name} AS t"  # noqa: S608 - quoted identifiers
            f" WHERE NOT EXISTS (SELECT 1 FROM {other}.{name} AS o WHERE {match})", keys,
        )  # fmt: skip
    changed = f"SELECT t.* FROM pre.{name} AS t JOIN bak.{name} AS o ON {match}"  # noqa: S608
    if [c for c, _ in pre] == [c for c, _ in bak]:
        changed += " WHERE " + " OR ".join(f"o.{_quote(c)} IS NOT t.{_quote(c)}" for c, _ in pre)
    # else the schema changed: every row the backup also has was changed
    counts["changed"] = _write(conn, stream, table, "changed", changed, keys)
    return counts


def _key(columns: list[tuple[str, int]]) -> list[str]:
    """The primary key's columns in order, or ``rowid`` for a table without one."""
    return [name for name, position in sorted(columns, key=lambda c: c[1]) if position] or ["rowid"]


def _write(
    conn: sqlite3.Connection,
    stream: TextIO,
    table: str,
    change: str,
    query: str,
    keys: list[str] | None = None,
) -> int:
    written = 0
    for row in _rows(conn, query, keys or []):
        stream.write(json.dumps({"table": table, "change": change, **row}, default=_plain) + "\n")
        written += 1
    return written


def _rows(conn: sqlite3.Connection, query: str, keys: list[str]) -> Iterator[dict[str, Any]]:
    with_rowid = keys == ["rowid"]
    if with_rowid:  # SELECT t.* leaves the rowid out; name it first
        query = query.replace("SELECT t.*", "SELECT t.rowid, t.*", 1)
    cursor = conn.execute(query)
    names = [column[0] for column in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        rowid = row.pop("rowid", None) if with_rowid else None
        key = {"rowid": rowid} if with_rowid else {k: row.get(k) for k in keys}
        yield {"key": key, "row": row}


def _plain(value: Any) -> Any:
    """A BLOB as hex text (JSON has no bytes)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
