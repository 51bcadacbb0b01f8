"""The exceptions rollsafe raises, one hierarchy for every layer.

Third-party exceptions (sqlite3, httpx, yaml, subprocess) are translated into
these at the boundary that meets them, so callers handle one family.
"""

from __future__ import annotations


class RollsafeError(Exception):
    """Base of every error rollsafe raises on purpose."""


class PlanError(RollsafeError):
    """A plan, flag file or analysis file is invalid; nothing was written.

    Each problem is a string located as ``file:line: field: message``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(RollsafeError):
    """The state store could not do what was asked."""


class NotFoundError(StoreError):
    """No rollout, flag or backup with that id or name."""


class ConflictError(StoreError):
    """A write lost a race: a stale version, or a rollout owned by another controller."""


class TargetError(RollsafeError):
    """A target could not start, stop or deploy a release."""


class HealthCheckError(TargetError):
    """An instance did not become healthy within its retries."""


class MetricsError(RollsafeError):
    """A metric source failed; the judge treats this as missing evidence."""


class FlagError(RollsafeError):
    """A flag definition or evaluation context is invalid."""


class BackupError(RollsafeError):
    """A backup could not be taken, or does not match its checksum."""
