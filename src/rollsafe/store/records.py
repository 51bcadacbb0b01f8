"""What the store holds, as immutable records."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class RolloutState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    ROLLING_BACK = "rolling_back"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = {
    RolloutState.PROMOTED,
    RolloutState.ROLLED_BACK,
    RolloutState.ABORTED,
    RolloutState.FAILED,
}


class StepState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Rollout:
    id: str
    service: str
    plan_path: str
    plan_text: str
    state: RolloutState
    step_index: int
    """Index of the step being run or to run next."""
    created_at: float
    updated_at: float
    owner: str | None
    lease_until: float | None
    requested: str | None
    """A command another process left for the owner: ``pause`` or ``abort``."""
    reason: str

    def summary(self) -> dict[str, Any]:
        """What the CLI's ``--json`` and the admin API show of a rollout (no plan text)."""
        return {
            "id": self.id,
            "service": self.service,
            "state": str(self.state),
            "step_index": self.step_index,
            "reason": self.reason,
            "owner": self.owner,
            "requested": self.requested,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class StepRecord:
    rollout_id: str
    index: int
    kind: str
    spec: dict[str, Any]
    state: StepState
    attempts: int
    started_at: float | None
    ended_at: float | None
    result: dict[str, Any]


@dataclass(frozen=True)
class FlagRecord:
    name: str
    definition: dict[str, Any]
    """An Unleash feature document (``name``, ``enabled``, ``strategies``, ...)."""
    version: int
    updated_at: float
    updated_by: str


@dataclass(frozen=True)
class BackupRecord:
    id: str
    source: str
    kind: str
    path: str
    sha256: str
    size: int
    created_at: float
    rollout_id: str | None
    manifest: dict[str, Any]


DEFAULT_ENVIRONMENT = "default"
"""The environment flags live in unless another is named (the controller's)."""


@dataclass(frozen=True)
class FlagChange:
    """The latest state of one flag in one environment, as a change feed sees it.

    ``definition`` is None once the flag is deleted (a tombstone). ``revision`` is
    the store's flags revision at which this state was committed, so "every change
    after revision N" is every row with a larger revision.
    """

    environment: str
    name: str
    definition: dict[str, Any] | None
    version: int
    revision: int
    updated_at: float
    updated_by: str


@dataclass(frozen=True)
class EnvironmentRecord:
    name: str
    created_at: float
    created_by: str


class TokenScope(enum.StrEnum):
    CLIENT = "client"
    """Reads the flag state of its environment (SDKs, services)."""
    ADMIN = "admin"
    """Reads and writes flags, environments and tokens."""


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: only the SHA-256 of the secret, never the secret."""

    id: str
    name: str
    scope: TokenScope
    environment: str
    """The one environment a client token reads, or ``*`` for all."""
    sha256: str
    created_at: float
    created_by: str
    revoked_at: float | None = None


@dataclass(frozen=True)
class RouterRecord:
    """Which router fronts the instances under a target root, so that every plan acting
    on that root (one without ``router:`` included) finds it and keeps it pointed at
    live instances. The split in force is the router's own state, in ``home``."""

    root: str
    """The process target's root (absolute): the key, since instances live there."""
    service: str
    kind: str
    """The router's type (``nginx``)."""
    home: str
    """Where the router keeps its files (absolute)."""
    config: dict[str, Any]
    """The plan's ``router:`` section, as JSON."""
    updated_at: float
    updated_by: str

    def journal_data(self) -> dict[str, Any]:
        """What ``router.recorded`` journals (the config too: it names the port)."""
        return {
            "root": self.root,
            "service": self.service,
            "kind": self.kind,
            "home": self.home,
            "config": self.config,
        }
