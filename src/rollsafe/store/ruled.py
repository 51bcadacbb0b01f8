"""The Store's methods written once, over a backend's transactions (`RuledStore`).

A backend subclasses `RuledStore` and supplies only how a transaction runs on
its database (`_write`, `_read`), how the journal is verified and how it
closes; every rule (`rollsafe.store.rules`) is shared, so a fix lands in both.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rollsafe.errors import StoreError
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
from rollsafe.store.rules import backups, flags, journaling, rollouts, routers, tokens, usage
from rollsafe.store.transaction import Reader, Transaction
from rollsafe.store.usage import (
    ApplicationRecord,
    FlagUsage,
    ImpactWindow,
    MetricsReport,
    Registration,
)

T = TypeVar("T")


def refuse_newer_schema(where: str, version: int, known: int) -> None:
    """A database migrated by a newer rollsafe is not this one's to read or write."""
    if version > known:
        raise StoreError(
            f"{where} has schema version {version}, newer than this rollsafe understands"
            f" ({known}); upgrade rollsafe"
        )


class RuledStore(ABC):
    """Everything of the `Store` protocol but the database: see the module docstring."""

    where: str

    @abstractmethod
    def _write(self, body: Callable[[Transaction], T]) -> T:
        """Run ``body`` in one write transaction, serialised with all others; commit once."""

    @abstractmethod
    def _read(self, body: Callable[[Reader], T]) -> T:
        """Run ``body``'s reads on one connection (it may run again after a lost one)."""

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def verify_journal(self) -> VerifyResult: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- rollouts ---------------------------------------------------------

    def create_rollout(
        self,
        *,
        service: str,
        plan_path: str,
        plan_text: str,
        steps: list[tuple[str, dict[str, Any]]],
        actor: str,
    ) -> Rollout:
        rollout_id = self._write(
            lambda tx: rollouts.create(
                tx, service=service, plan_path=plan_path, plan_text=plan_text, steps=steps,
                actor=actor,
            )
        )  # fmt: skip
        return self.get_rollout(rollout_id)

    def get_rollout(self, rollout_id: str) -> Rollout:
        return self._read(lambda db: rollouts.get(db, rollout_id))

    def list_rollouts(self, limit: int = 50) -> list[Rollout]:
        return self._read(lambda db: rollouts.latest(db, limit))

    def steps(self, rollout_id: str) -> list[StepRecord]:
        return self._read(lambda db: rollouts.steps(db, rollout_id))

    def set_step_state(
        self,
        rollout_id: str,
        index: int,
        state: StepState,
        *,
        result: dict[str, Any] | None = None,
        actor: str,
    ) -> StepRecord:
        return self._write(
            lambda tx: rollouts.set_step_state(
                tx, rollout_id, index, state, result=result, actor=actor
            )
        )

    def set_rollout_state(
        self,
        rollout_id: str,
        state: RolloutState,
        *,
        actor: str,
        reason: str = "",
        step_index: int | None = None,
        expected: set[RolloutState] | None = None,
    ) -> Rollout:
        self._write(
            lambda tx: rollouts.set_state(
                tx, rollout_id, state, actor=actor, reason=reason, step_index=step_index,
                expected=expected,
            )
        )  # fmt: skip
        return self.get_rollout(rollout_id)

    def request(
        self, rollout_id: str, command: str | None, *, actor: str, reason: str = ""
    ) -> Rollout:
        """Leave ``pause``, ``abort`` or ``rollback`` for the owner (None clears it)."""
        self._write(
            lambda tx: rollouts.request(tx, rollout_id, command, actor=actor, reason=reason)
        )
        return self.get_rollout(rollout_id)

    def acquire_lease(
        self, rollout_id: str, owner: str, ttl: float, *, take_over_from: str | None = None
    ) -> bool:
        """Claim or renew; another live owner's lease is taken only from ``take_over_from``."""
        return self._write(
            lambda tx: rollouts.acquire_lease(
                tx, rollout_id, owner, ttl, take_over_from=take_over_from
            )
        )

    def release_lease(self, rollout_id: str, owner: str) -> None:
        self._write(lambda tx: rollouts.release_lease(tx, rollout_id, owner))

    # -- flags and environments -------------------------------------------

    def list_flags(self, environment: str = DEFAULT_ENVIRONMENT) -> list[FlagRecord]:
        return self._read(lambda db: flags.listed(db, environment))

    def get_flag(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FlagRecord:
        return self._read(lambda db: flags.get(db, name, environment))

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
        self._write(
            lambda tx: flags.put(
                tx, {name: definition}, actor=actor, environment=environment,
                expected_version=expected_version, rollout_id=rollout_id,
            )
        )  # fmt: skip
        return self.get_flag(name, environment)

    def put_flags(
        self,
        definitions: Mapping[str, dict[str, Any]],
        *,
        actor: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> list[FlagRecord]:
        """Write several flags (name to definition) in one transaction: all or none."""
        self._write(lambda tx: flags.put(tx, definitions, actor=actor, environment=environment))
        return [self.get_flag(name, environment) for name in definitions]

    def delete_flag(
        self,
        name: str,
        *,
        actor: str,
        expected_version: int | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> None:
        """Delete a flag, keeping a tombstone so change feeds report the deletion."""
        self._write(
            lambda tx: flags.delete(
                tx, name, actor=actor, expected_version=expected_version, environment=environment
            )
        )

    def flags_revision(self) -> int:
        return self._read(flags.revision)

    def flag_changes(self, after_revision: int = 0) -> list[FlagChange]:
        """The latest state of every flag changed after ``after_revision``, deletions included."""
        return self._read(lambda db: flags.changes(db, after_revision))

    def list_environments(self) -> list[EnvironmentRecord]:
        return self._read(flags.environments)

    def create_environment(self, name: str, *, actor: str) -> EnvironmentRecord:
        flags.check_environment_name(name)
        now = time.time()
        self._write(lambda tx: flags.create_environment(tx, name, actor=actor, now=now))
        return EnvironmentRecord(name, now, actor)

    # -- API tokens -------------------------------------------------------

    def add_token(self, record: TokenRecord, *, actor: str) -> None:
        self._write(lambda tx: tokens.add(tx, record, actor=actor))

    def get_token(self, token_id: str) -> TokenRecord:
        return self._read(lambda db: tokens.get(db, token_id))

    def list_tokens(self) -> list[TokenRecord]:
        return self._read(tokens.listed)

    def revoke_token(self, token_id: str, *, actor: str) -> TokenRecord:
        """Revoke a token for good; revoking a revoked token changes nothing."""
        self._write(lambda tx: tokens.revoke(tx, token_id, actor=actor))
        return self.get_token(token_id)

    # -- backups ----------------------------------------------------------

    def add_backup(self, record: BackupRecord, *, actor: str) -> None:
        self._write(lambda tx: backups.add(tx, record, actor=actor))

    def list_backups(self, source: str | None = None) -> list[BackupRecord]:
        return self._read(lambda db: backups.listed(db, source))

    def get_backup(self, backup_id: str) -> BackupRecord:
        return self._read(lambda db: backups.get(db, backup_id))

    def delete_backup(self, backup_id: str, *, actor: str, reason: str) -> None:
        self._write(lambda tx: backups.delete(tx, backup_id, actor=actor, reason=reason))

    # -- routers ----------------------------------------------------------

    def put_router(self, router: RouterRecord, *, actor: str) -> None:
        """Create or replace the record of ``router.root``; journaled when it changes."""
        self._write(lambda tx: routers.put(tx, router, actor=actor))

    def get_router(self, root: str) -> RouterRecord | None:
        return self._read(lambda db: routers.get(db, root))

    def delete_router(self, root: str, *, actor: str) -> None:
        """Forget the router of ``root`` (idempotent)."""
        self._write(lambda tx: routers.delete(tx, root, actor=actor))

    # -- SDK usage (not journaled; bounded by rules/usage.py) --------------

    def register_application(self, app: Registration) -> None:
        now = time.time()
        self._write(lambda tx: usage.register(tx, app, now=now))

    def record_client_metrics(self, report: MetricsReport) -> None:
        now = time.time()
        self._write(lambda tx: usage.record_metrics(tx, report, now=now))

    def list_applications(self) -> list[ApplicationRecord]:
        return self._read(usage.applications)

    def flag_usage(
        self, name: str, environment: str = DEFAULT_ENVIRONMENT, *, since: float = 0.0
    ) -> FlagUsage:
        return self._read(lambda db: usage.flag_usage(db, name, environment, since=since))

    def impact_windows(
        self,
        environment: str = DEFAULT_ENVIRONMENT,
        *,
        flag: str | None = None,
        metric: str | None = None,
        since: float = 0.0,
    ) -> list[ImpactWindow]:
        return self._read(
            lambda db: usage.impact_windows(db, environment, flag=flag, metric=metric, since=since)
        )

    # -- journal ----------------------------------------------------------

    def append(
        self, kind: Kind, data: Mapping[str, Any], *, actor: str, rollout_id: str | None = None
    ) -> JournalEntry:
        return self._write(lambda tx: tx.journal(kind, data, actor=actor, rollout_id=rollout_id))

    def journal(self, rollout_id: str | None = None, after_seq: int = 0) -> list[JournalEntry]:
        return self._read(lambda db: journaling.entries(db, rollout_id, after_seq))
