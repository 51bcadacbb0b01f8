"""Rollback level 3: put this rollout's backups back, each exactly once, and keep what they replace.

A restore wipes every write made after its backup, so running one twice wipes
the writes the service acknowledged after the first one. Each backup's restore
is therefore journaled (``backup.restored``) as soon as it is done and before
the service starts again; a controller that resumes this level (it crashed
after the restore, before the level was journaled as ended) finds that record,
restores nothing, brings the previous release back if needed, and goes on to
verify. A crash between a restore and its record leaves the service stopped
and in maintenance, so nothing wrote to the data since: restoring that backup
again puts back the very same data and loses nothing.

Before the first restore of a backup, the data it will overwrite is copied
into ``<home>/forensics/<rollout>/`` (owner-only), journaled as
``backup.forensic_copy``; a resumed restore keeps that first copy. Once the
service is back, the rows written after the backup that the restore took
away are counted per table and written to a JSON-lines file there
(``backup.lost_rows``, see :mod:`rollsafe.backup.forensics`), for the
incident report and for a person to re-apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollsafe.backup import manifest_path, restore_backup, snapshot_source
from rollsafe.backup.forensics import (
    export_postgres_rows,
    lost_rows,
    make_private,
    postgres_changes,
    postgres_lost_rows,
    private_directory,
    raw_copy,
)
from rollsafe.backup.manifests import backup_file
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.config.plan import BackupSource, FilesBackupSource, SqliteBackupSource
from rollsafe.controller.context import StepContext
from rollsafe.errors import BackupError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.store import BackupRecord

RESTORED = Kind.BACKUP_RESTORED
FORENSIC_COPY = Kind.BACKUP_FORENSIC_COPY
LOST_ROWS = Kind.BACKUP_LOST_ROWS
MAINTENANCE = Kind.ROLLBACK_MAINTENANCE
LEVEL = 3


def restore_level(context: StepContext, previous: str) -> dict[str, Any]:
    """Maintenance on, stop, restore the backups not yet restored, start ``previous``."""
    backups = [b for b in context.store.list_backups() if b.rollout_id == context.rollout_id]
    if not backups:
        raise BackupError("this rollout took no backup, so there is nothing to restore")
    journal = _this_level(context.store.journal(context.rollout_id))
    done = {e.data["id"] for e in journal if e.kind == RESTORED}
    copies = {e.data["backup"]: dict(e.data) for e in journal if e.kind == FORENSIC_COPY}
    maintenance = [bool(e.data["on"]) for e in journal if e.kind == MAINTENANCE]
    in_maintenance = bool(maintenance) and maintenance[-1]
    pending = [backup for backup in backups if backup.id not in done]
    # Every source and destination is known (a database URL from its environment
    # variable too) before the service is touched: a missing one fails the level with
    # the service up.
    sources = [(backup, _source(context, backup)) for backup in pending]
    target = context.target
    if pending:
        if not in_maintenance:
            target.set_maintenance(True)
            context.journal(MAINTENANCE, {"on": True})
            in_maintenance = True
        target.stop()
    restored = []
    for backup, source in sources:
        if backup.id not in copies:
            copies[backup.id] = _preserve(context, backup, source)
        restored.append(_restore_one(context, backup, source, copies[backup.id]))
    target.deploy(previous)
    if in_maintenance:
        target.set_maintenance(False)
        context.journal(MAINTENANCE, {"on": False})
    result: dict[str, Any] = {"release": previous, "restored": restored}
    if done:
        result["restored_before"] = sorted(done)
        result["note"] = "restored before the controller stopped; verified, not restored again"
    lost = _lost_rows(context, backups, copies)
    if lost:
        result["lost_rows"] = lost
    return result


def _this_level(journal: list[JournalEntry]) -> list[JournalEntry]:
    """The entries since level 3 first started: a restore by hand before it (``rollsafe
    backup restore`` journals one too) says nothing about what this level did."""
    started = next(
        (
            i
            for i, e in enumerate(journal)
            if e.kind == Kind.ROLLBACK_LEVEL_STARTED and e.data.get("level") == LEVEL
        ),
        len(journal),
    )
    return journal[started:]


def _source(context: StepContext, backup: BackupRecord) -> BackupSource:
    """The source ``backup`` was taken of: where it goes back to (and its timeout)."""
    if backup.kind == "postgres":
        # The manifest names the database without its password; the plan's source has it.
        source = next((s for s in context.plan.backups if s.name == backup.source), None)
        if not isinstance(source, PostgresBackupSource):
            raise BackupError(
                f"backup {backup.id}: the plan declares no postgres source {backup.source!r}"
                " to restore it into"
            )
        source.resolve_url()  # raises now, with the service up, when its variable is unset
        return source
    path = Path(backup.manifest["from"])
    if backup.kind == "sqlite":
        return SqliteBackupSource(name=backup.source, path=path)
    return FilesBackupSource(name=backup.source, path=path)


def _preserve(context: StepContext, backup: BackupRecord, source: BackupSource) -> dict[str, Any]:
    """Copy what the restore of ``backup`` will overwrite; journal where the copy is."""
    directory = private_directory(context.home / "forensics" / context.rollout_id)
    record: dict[str, Any] = {"backup": backup.id, "source": backup.source, "kind": backup.kind}
    if isinstance(source, SqliteBackupSource | FilesBackupSource) and not source.path.exists():
        record["copy"] = None
        record["reason"] = f"{source.path} did not exist before the restore"
    else:
        try:
            snapshot = snapshot_source(source, directory)
        except BackupError as error:
            # A database too damaged to copy through SQLite is still kept, byte for byte;
            # otherwise the restore, which recovers the service, goes ahead and says so.
            record["copy"] = None
            record["reason"] = f"no forensic copy: {error}"
            if isinstance(source, SqliteBackupSource):
                record["raw_files"] = [
                    _home_relative(context, path) for path in raw_copy(source.path, directory)
                ]
        else:
            make_private(snapshot.path, manifest_path(snapshot.path))
            record.update(
                copy=_home_relative(context, snapshot.path),
                sha256=snapshot.sha256,
                size=snapshot.size,
                tables=snapshot.manifest.get("tables"),
            )
            if isinstance(source, PostgresBackupSource):
                record["checksums"] = snapshot.manifest.get("checksums")
                record["rows_file"] = _export_rows(context, source, snapshot.manifest, backup)
    context.journal(FORENSIC_COPY, record)
    return record


def _export_rows(
    context: StepContext,
    source: PostgresBackupSource,
    manifest: dict[str, Any],
    backup: BackupRecord,
) -> str | None:
    """The pre-restore rows of the tables that changed since the backup, for the comparison."""
    changed = [t for t in postgres_changes(manifest, backup.manifest) if t in manifest["tables"]]
    out = context.home / "forensics" / context.rollout_id / f"{source.name}.pre-restore-rows.jsonl"
    try:
        export_postgres_rows(source.resolve_url(), changed, out)
    except BackupError:
        return None  # the dump still holds them; the report says the rows were not compared
    return _home_relative(context, out)


def _restore_one(
    context: StepContext, backup: BackupRecord, source: BackupSource, copy: dict[str, Any]
) -> dict[str, Any]:
    destination: Path | str = (
        source.resolve_url() if isinstance(source, PostgresBackupSource) else source.path
    )
    timeout = source.timeout if isinstance(source, PostgresBackupSource) else 600.0
    try:
        outcome = restore_backup(
            backup_file(backup.path, context.home),
            backup.kind,
            backup.sha256,
            destination,
            manifest=backup.manifest,
            timeout=timeout,
        )
        verification = _verification(backup, outcome)
    except BackupError as error:
        raise BackupError(f"{error}; staying in maintenance") from error
    record = {"id": backup.id, "kind": backup.kind, **outcome, "verification": verification}
    if isinstance(destination, str) and copy.get("rows_file"):
        # Compared now, while the database holds exactly the backup: once the service
        # writes again, its new rows would read as rows the restore brought back.
        record["lost_rows"] = _postgres_lost(context, backup, destination, copy["rows_file"])
    # The record that makes a resumed rollback skip this restore: before the service runs.
    context.journal(RESTORED, record)
    return {"backup": backup.id, "sha256": backup.sha256, "verified": True, **outcome}


def _verification(backup: BackupRecord, outcome: dict[str, Any]) -> dict[str, Any]:
    """The restored data against the backup's manifest: row counts, and checksums if it has them."""
    expected_counts = backup.manifest.get("tables")
    expected_sums = backup.manifest.get("checksums")
    where = outcome.get("restored")
    if expected_counts is not None and outcome.get("tables") != expected_counts:
        raise BackupError(
            f"restored {where} has tables {outcome.get('tables')}, "
            f"the backup recorded {expected_counts}"
        )
    if expected_sums is not None and outcome.get("checksums") != expected_sums:
        differ = sorted(
            table
            for table, checksum in expected_sums.items()
            if (outcome.get("checksums") or {}).get(table) != checksum
        )
        raise BackupError(f"restored {where}: rows of {', '.join(differ)} differ from the backup")
    return {
        "sha256": "matched before the restore",
        "tables": len(expected_counts or {}),
        "rows": sum((expected_counts or {}).values()),
        "row_counts": "equal to the backup" if expected_counts is not None else "not recorded",
        "checksums": "equal to the backup" if expected_sums is not None else "not recorded",
    }


def _lost_rows(
    context: StepContext,
    backups: list[BackupRecord],
    copies: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Compare each forensic copy with its backup, once; journal and return what was lost."""
    # This level's entries, the restores journaled a moment ago included.
    journal = _this_level(context.store.journal(context.rollout_id))
    reported = {e.data["backup"]: dict(e.data) for e in journal if e.kind == LOST_ROWS}
    restored = {e.data["id"]: dict(e.data) for e in journal if e.kind == RESTORED}
    found = []
    for backup in backups:
        copy = copies.get(backup.id)
        if copy is None or not copy.get("copy"):
            continue
        if backup.id in reported:
            found.append(reported[backup.id])
            continue
        record: dict[str, Any] = {"backup": backup.id, "source": backup.source}
        try:
            record.update(_compare(context, backup, copy, restored.get(backup.id, {})))
        except BackupError as error:
            record["error"] = str(error)
        context.journal(LOST_ROWS, record)
        found.append(record)
    return found


def _postgres_lost(
    context: StepContext, backup: BackupRecord, url: str, rows_file: str
) -> dict[str, Any]:
    out = context.home / "forensics" / context.rollout_id / f"{backup.source}.lost-rows.jsonl"
    try:
        changes = postgres_lost_rows(url, context.home / rows_file, out)
    except (BackupError, OSError, ValueError) as error:
        return {"error": f"rows not compared: {error}"}
    return {
        "tables": changes,
        "rows": sum(counts["added"] + counts["changed"] for counts in changes.values()),
        "file": _home_relative(context, out),
    }


def _compare(
    context: StepContext, backup: BackupRecord, copy: dict[str, Any], restored: dict[str, Any]
) -> dict[str, Any]:
    if backup.kind == "postgres":
        if restored.get("lost_rows"):
            return dict(restored["lost_rows"])
        return {
            "tables": postgres_changes(copy, backup.manifest),
            "rows": None,
            "file": None,
            "note": "tables whose rows differ from the backup; the forensic dump holds them",
        }
    if backup.kind != "sqlite":
        return {
            "tables": {},
            "rows": None,
            "file": None,
            "note": "files are not compared row by row: compare the forensic copy by hand",
        }
    copy_path = context.home / copy["copy"]
    out = copy_path.with_name(f"{backup.source}.lost-rows.jsonl")
    changes = lost_rows(copy_path, backup_file(backup.path, context.home), out)
    return {
        "tables": changes,
        "rows": sum(sum(counts.values()) for counts in changes.values()),
        "file": _home_relative(context, out),
    }


def _home_relative(context: StepContext, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(context.home.resolve()))
    except ValueError:
        return str(path)
