"""The one interface every state backend implements (SQLite now, PostgreSQL later)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rollsafe.journal import JournalEntry, VerifyResult
from rollsafe.journal.kinds import Kind
from rollsafe.store.records import (
    DEFAULT_ENVIRONMENT,
    BackupRecord,
    EnvironmentRecord,
    FlagChange,
    FlagRecord,
    Rollout,
    RolloutState,
    RouterRecord,
    StepRecord,
    StepState,
    TokenRecord,
)
from rollsafe.store.usage import (
    ApplicationRecord,
    FlagUsage,
    ImpactWindow,
    MetricsReport,
    Registration,
)


class Store(Protocol):
    """State of rollouts, flags and backups; every change is journaled in the same transaction."""

    @property
    def address(self) -> str:
        """What `rollsafe.store.open_store_url` takes to open this store again (a path or URL)."""
        ...

    @property
    def where(self) -> str:
        """The address for messages and logs: a URL without its password."""
        ...

    # Rollouts and their steps
    def create_rollout(
        self,
        *,
        service: str,
        plan_path: str,
        plan_text: str,
        steps: list[tuple[str, dict[str, Any]]],
        actor: str,
    ) -> Rollout: ...
    def get_rollout(self, rollout_id: str) -> Rollout: ...
    def list_rollouts(self, limit: int = 50) -> list[Rollout]: ...
    def steps(self, rollout_id: str) -> list[StepRecord]: ...
    def set_step_state(
        self,
        rollout_id: str,
        index: int,
        state: StepState,
        *,
        result: dict[str, Any] | None = None,
        actor: str,
    ) -> StepRecord: ...
    def set_rollout_state(
        self,
        rollout_id: str,
        state: RolloutState,
        *,
        actor: str,
        reason: str = "",
        step_index: int | None = None,
        expected: set[RolloutState] | None = None,
    ) -> Rollout: ...
    def request(
        self, rollout_id: str, command: str | None, *, actor: str, reason: str = ""
    ) -> Rollout: ...

    # Ownership: one controller drives a rollout at a time
    def acquire_lease(
        self, rollout_id: str, owner: str, ttl: float, *, take_over_from: str | None = None
    ) -> bool:
        """Claim or renew; another live owner's lease is taken only from ``take_over_from``."""
        ...

    def release_lease(self, rollout_id: str, owner: str) -> None: ...

    # Flags, per environment (``default`` unless named); every write bumps the revision
    def list_flags(self, environment: str = DEFAULT_ENVIRONMENT) -> list[FlagRecord]: ...
    def get_flag(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FlagRecord: ...
    def put_flag(
        self,
        name: str,
        definition: dict[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
        rollout_id: str | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> FlagRecord:
        """Create or replace; ``expected_version`` (0: must not exist) guards lost updates."""
        ...

    def put_flags(
        self,
        definitions: Mapping[str, dict[str, Any]],
        *,
        actor: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> list[FlagRecord]:
        """Write several flags in one transaction: all or none."""
        ...

    def delete_flag(
        self,
        name: str,
        *,
        actor: str,
        expected_version: int | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> None: ...
    def flags_revision(self) -> int: ...
    def flag_changes(self, after_revision: int = 0) -> list[FlagChange]:
        """Latest state (tombstones included) of each flag changed after that revision."""
        ...

    # Environments and API tokens (the flag service)
    def list_environments(self) -> list[EnvironmentRecord]: ...
    def create_environment(self, name: str, *, actor: str) -> EnvironmentRecord: ...
    def add_token(self, record: TokenRecord, *, actor: str) -> None: ...
    def get_token(self, token_id: str) -> TokenRecord: ...
    def list_tokens(self) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: str, *, actor: str) -> TokenRecord: ...

    # Backups
    def add_backup(self, record: BackupRecord, *, actor: str) -> None: ...
    def list_backups(self, source: str | None = None) -> list[BackupRecord]: ...
    def get_backup(self, backup_id: str) -> BackupRecord: ...
    def delete_backup(self, backup_id: str, *, actor: str, reason: str) -> None: ...

    # Routers: which one fronts the instances under a target root
    def put_router(self, router: RouterRecord, *, actor: str) -> None:
        """Create or replace the record of ``router.root``; journaled when it changes."""
        ...

    def get_router(self, root: str) -> RouterRecord | None: ...
    def delete_router(self, root: str, *, actor: str) -> None:
        """Forget the router of ``root`` (idempotent)."""
        ...

    # What Unleash SDKs report: instances, toggle counts, impact metrics (bounded, not journaled)
    def register_application(self, app: Registration) -> None: ...
    def record_client_metrics(self, report: MetricsReport) -> None: ...
    def list_applications(self) -> list[ApplicationRecord]: ...
    def flag_usage(
        self, name: str, environment: str = DEFAULT_ENVIRONMENT, *, since: float = 0.0
    ) -> FlagUsage: ...
    def impact_windows(
        self,
        environment: str = DEFAULT_ENVIRONMENT,
        *,
        flag: str | None = None,
        metric: str | None = None,
        since: float = 0.0,
    ) -> list[ImpactWindow]: ...

    # Journal
    def append(
        self, kind: Kind, data: Mapping[str, Any], *, actor: str, rollout_id: str | None = None
    ) -> JournalEntry: ...
    def journal(self, rollout_id: str | None = None, after_seq: int = 0) -> list[JournalEntry]: ...
    def verify_journal(self) -> VerifyResult: ...

    def close(self) -> None: ...
