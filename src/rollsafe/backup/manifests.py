"""What every kind of backup shares: one file, its SHA-256, and a JSON manifest beside it."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.errors import BackupError
from rollsafe.support.private import write_private_text


@dataclass(frozen=True)
class Snapshot:
    source: str
    kind: str
    path: Path
    sha256: str
    size: int
    created_at: float
    manifest: dict[str, Any]


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".manifest.json")


def stored_path(path: Path, home: Path) -> str:
    """How the store records a backup file: relative to the home when it lies inside, so
    the home can be moved (``mv``) and its backups still found."""
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)


def backup_file(stored: str, home: Path) -> Path:
    """The file a stored backup path names: a relative one under ``home``; an absolute one
    (as recorded before paths were relative) as it is."""
    path = Path(stored)
    return path if path.is_absolute() else home / path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path, sha256: str) -> None:
    """Raise BackupError unless the file exists and matches its recorded checksum."""
    if not path.exists():
        raise BackupError(f"backup file {path} is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise BackupError(
            f"backup {path} does not match its checksum (recorded {sha256[:12]}…, "
            f"found {actual[:12]}…); refusing to restore it"
        )


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never a half-written manifest."""
    partial = path.with_name(path.name + ".partial")
    write_private_text(partial, text + "\n")
    partial.replace(path)


def record_snapshot(
    name: str, kind: str, origin: str, destination: Path, details: dict[str, Any]
) -> Snapshot:
    """Hash the finished copy at ``destination``, write its manifest beside it (what every
    kind records, plus ``details``), and describe it."""
    digest, size = sha256_file(destination), destination.stat().st_size
    created = time.time()
    manifest = {
        "source": name,
        "kind": kind,
        "from": origin,
        "file": destination.name,
        "sha256": digest,
        "size": size,
        "created_at": created,
        **details,
    }
    write_atomic(manifest_path(destination), json.dumps(manifest, indent=2, sort_keys=True))
    return Snapshot(name, kind, destination, digest, size, created, manifest)
