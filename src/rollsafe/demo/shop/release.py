"""Which release a shop instance runs, read from ``<release dir>/release.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, cast

from rollsafe.errors import RollsafeError

Fault: TypeAlias = Literal["errors", "latency", "leak", "corrupt"]
VERSIONS = ("1.0.0", "1.1.0")
FAULTS: tuple[Fault, ...] = ("errors", "latency", "leak", "corrupt")
FAULTY_VERSION = "1.1.0"


@dataclass(frozen=True)
class Release:
    """``version`` is ``1.0.0`` or ``1.1.0``; ``fault`` is only ever active on 1.1.0."""

    version: str
    fault: Fault | None = None

    @property
    def new(self) -> bool:
        """True on 1.1.0: the fast-checkout path and schema version 2 exist."""
        return self.version == "1.1.0"

    @property
    def active_fault(self) -> Fault | None:
        return self.fault if self.version == FAULTY_VERSION else None

    @classmethod
    def load(cls, release_dir: Path) -> Release:
        """Read and check ``release.json``; a RollsafeError names the file and the problem."""
        path = release_dir / "release.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise RollsafeError(f"{path}: cannot read release: {error}") from error
        if not isinstance(data, dict):
            raise RollsafeError(f"{path}: must be a JSON object")
        unknown = sorted(set(data) - {"version", "fault"})
        if unknown:
            raise RollsafeError(f"{path}: unknown keys: {', '.join(unknown)}")
        version, fault = data.get("version"), data.get("fault")
        if version not in VERSIONS:
            raise RollsafeError(f"{path}: version: must be one of {VERSIONS}, got {version!r}")
        if fault is not None and fault not in FAULTS:
            raise RollsafeError(f"{path}: fault: must be null or one of {FAULTS}, got {fault!r}")
        return cls(version=version, fault=cast("Fault | None", fault))
