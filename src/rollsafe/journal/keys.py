"""The journal key: a secret outside the store that makes the hash chain an HMAC chain.

A plain SHA-256 chain proves that entries were not edited one at a time, but
whoever can write to the database can recompute every hash after an edit, and
``journal verify`` would pass. With a key that such a person does not hold,
the chain cannot be recomputed. The key lives in a file named by
``ROLLSAFE_JOURNAL_KEY_FILE`` (at least 16 bytes, readable only by its owner),
never in the store, and is read once per process. See docs/journal.md.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from rollsafe.errors import PlanError

KEY_FILE_ENV = "ROLLSAFE_JOURNAL_KEY_FILE"
MIN_KEY_BYTES = 16


def configured_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key from the file ``ROLLSAFE_JOURNAL_KEY_FILE`` names, or None when unset.

    Raises PlanError (a usage error) for a key file that is missing, too short
    or readable by other users.
    """
    path = (os.environ if environ is None else environ).get(KEY_FILE_ENV, "").strip()
    return _read_key(path) if path else None


@functools.cache
def _read_key(path: str) -> bytes:
    where = f"{KEY_FILE_ENV}={path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise PlanError([f"{where}: cannot read the journal key: {error.strerror}"]) from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PlanError([f"{where}: the journal key must be a regular file"])
        if info.st_mode & 0o077:
            raise PlanError(
                [f"{where}: the journal key is readable by other users; chmod 600 {path}"]
            )
        key = stream.read(4096).strip()
    if len(key) < MIN_KEY_BYTES:
        raise PlanError(
            [
                f"{where}: the journal key is shorter than {MIN_KEY_BYTES} bytes;"
                f" make one with: head -c 32 /dev/urandom | base64 > {Path(path).name}"
            ]
        )
    return key
