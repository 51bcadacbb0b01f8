"""Release directories and the ``current`` / ``previous`` links of a process target.

``<root>/releases/<version>/`` holds each release; ``<root>/current`` and
``<root>/previous`` are relative symlinks (``releases/<version>``), each
switched atomically by creating a temporary link and renaming it over the old.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rollsafe.errors import TargetError

_LINK_PREFIX = "releases/"


def _natural(name: str) -> list[tuple[int, int | str]]:
    """Sort key that puts ``1.10.0`` after ``1.9.0``."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


class Releases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.directory = root / "releases"

    def names(self) -> list[str]:
        """Release directories, in version order."""
        try:
            found = [entry.name for entry in self.directory.iterdir() if entry.is_dir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TargetError(f"cannot list {self.directory}: {exc}") from exc
        return sorted(found, key=_natural)

    def path(self, release: str) -> Path:
        return self.directory / release

    def require(self, release: str) -> Path:
        """The release's directory; TargetError naming the releases that exist if it does not."""
        names = self.names()
        if release not in names:
            known = ", ".join(names) if names else f"none (nothing under {self.directory})"
            raise TargetError(f"unknown release {release!r}; releases: {known}")
        return self.path(release)

    def current(self) -> str | None:
        return self._read("current")

    def previous(self) -> str | None:
        return self._read("previous")

    def switch(self, release: str) -> bool:
        """Point ``current`` at ``release``, ``previous`` at the old one; False if already there."""
        old = self.current()
        if old == release:
            return False
        if old is not None:
            self._write("previous", old)
        self._write("current", release)
        return True

    def restore(self, current: str | None, previous: str | None) -> None:
        """Put both links back as they were (None removes a link)."""
        self._write("previous", previous)
        self._write("current", current)

    def _read(self, name: str) -> str | None:
        link = self.root / name
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TargetError(f"{link} is not a symlink to a release: {exc}") from exc
        return Path(target).name

    def _write(self, name: str, release: str | None) -> None:
        link = self.root / name
        try:
            if release is None:
                link.unlink(missing_ok=True)
                return
            tmp = self.root / f".{name}.{os.getpid()}.tmp"
            tmp.unlink(missing_ok=True)
            os.symlink(_LINK_PREFIX + release, tmp)
            os.replace(tmp, link)
        except OSError as exc:
            raise TargetError(f"cannot point {link} at {release}: {exc}") from exc
