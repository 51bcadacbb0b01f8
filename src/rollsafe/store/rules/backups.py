"""The record of each backup (where its dump is, its checksum) and of its deletion."""

from __future__ import annotations

from rollsafe.errors import NotFoundError
from rollsafe.journal import canonical_json
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import BackupCreated, BackupDeleted
from rollsafe.store import rows as record
from rollsafe.store.records import BackupRecord
from rollsafe.store.transaction import Reader, Transaction


def add(tx: Transaction, backup: BackupRecord, *, actor: str) -> None:
    tx.execute(
        "INSERT INTO backups (id, source, kind, path, sha256, size, created_at,"
        " rollout_id, manifest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (backup.id, backup.source, backup.kind, backup.path, backup.sha256, backup.size,
         backup.created_at, backup.rollout_id, canonical_json(backup.manifest)),
    )  # fmt: skip
    data: BackupCreated = {"id": backup.id, "source": backup.source, "sha256": backup.sha256}
    tx.journal(Kind.BACKUP_CREATED, data, actor=actor, rollout_id=backup.rollout_id)


def listed(db: Reader, source: str | None) -> list[BackupRecord]:
    if source is None:
        rows = db.all('SELECT * FROM backups ORDER BY created_at DESC, id COLLATE "C"')
    else:
        rows = db.all(
            'SELECT * FROM backups WHERE source = ? ORDER BY created_at DESC, id COLLATE "C"',
            (source,),
        )
    return [record.backup(row) for row in rows]


def get(db: Reader, backup_id: str) -> BackupRecord:
    row = db.one("SELECT * FROM backups WHERE id = ?", (backup_id,))
    if row is None:
        raise NotFoundError(f"no backup {backup_id!r}; see 'rollsafe backup list'")
    return record.backup(row)


def delete(tx: Transaction, backup_id: str, *, actor: str, reason: str) -> None:
    row = tx.one("SELECT * FROM backups WHERE id = ?", (backup_id,))
    if row is None:
        raise NotFoundError(f"no backup {backup_id!r}")
    tx.execute("DELETE FROM backups WHERE id = ?", (backup_id,))
    data: BackupDeleted = {"id": backup_id, "source": row["source"], "reason": reason}
    tx.journal(Kind.BACKUP_DELETED, data, actor=actor, rollout_id=row["rollout_id"])
