"""Create rollsafe's own directories and files private to its user, whatever the umask.

The home holds the store, backups and incident reports: data of the service
and a journal that is evidence. Readable by every local user (0644 files) they
leak; writable by them (0777 directories under umask 000) anyone could plant a
forged ``-wal`` beside a backup. So whatever rollsafe creates there is 0700
(directories) or 0600 (files). Existing paths are left as their owner set them.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """``path``, created with any missing parents as 0700 directories if it does not exist."""
    missing = []
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process: its mode is its creator's
        os.chmod(directory, DIRECTORY_MODE)  # an umask such as 0o277 would strip even ours
    return path


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 unless it exists; True when created.

    For files another library fills: SQLite gives its ``-wal``, ``-shm`` and
    ``-journal`` files the database file's mode; ``tarfile`` and ``pg_dump``
    truncate an existing file and keep its mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, created or tightened to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        os.fchmod(fd, FILE_MODE)
        stream.write(text)
