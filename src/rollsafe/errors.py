"""The exceptions rollsafe raises, one hierarchy for every layer.

Third-party exceptions (sqlite3, httpx, yaml, subprocess) are translated into
these at the boundary that meets them, so callers handle one family::

    RollsafeError                       500 internal_error
    ├── PlanError                       422 invalid_plan
    ├── StoreError                      503 store_unavailable
    │   ├── NotFoundError               404 not_found
    │   ├── ConflictError               409 conflict
    │   └── StoreUnavailableError *
    ├── TargetError
    │   ├── HealthCheckError
    │   │   └── CommandHealthError      (rollsafe.targets.command)
    │   ├── CommandError                (rollsafe.targets.command)
    │   ├── RouterError
    │   └── TargetBusyError *
    ├── MetricsError
    ├── ContextError                    400 invalid_context (rollsafe.flags.resolution)
    ├── FlagError                       422 invalid_flag
    │   ├── UnsupportedRegexError
    │   └── CatastrophicRegexError
    ├── BackupError
    ├── FlagServiceError                (raised by the SDK, about the flag service)
    │   ├── ServiceRefusedError
    │   ├── StreamUnsupportedError
    │   ├── EventTooLargeError
    │   └── HTTPFramingError
    ├── StreamLimitError                503 too_many_streams
    ├── GateError
    │   ├── TestReportError
    │   └── RiskInputError
    ├── ApiError                        its own status and code (rollsafe.server.errors)
    │   └── PayloadError                400 invalid_alert (rollsafe.server.alertmanager)
    ├── LeaseLostError                  409 lease_lost (unwinds a controller; never fails a step)
    ├── RefusedError                    409 refused
    │   └── DrillRequiredError
    └── TemporaryError                  transient: retried before a step fails

    * also a TemporaryError (kopf's vocabulary): the condition is expected to
      clear by itself, so the controller retries the step after ``delay``
      seconds, journaling each retry, within the step's retry deadline
      (`rollsafe.controller.retries`). Every other error is permanent: the step
      fails at once, as before.

Each class carries the answer the flag server gives for it (``status``,
``code``), so the server has one handler for the whole tree. Only this module's
`RollsafeError` and private internal signals derive from `Exception` directly
(``tests/test_error_tree.py`` checks).
"""

from __future__ import annotations


class RollsafeError(Exception):
    """Base of every error rollsafe raises on purpose."""

    status: int = 500
    """The HTTP status the flag server answers with."""
    code: str = "internal_error"
    """The ``error`` field of the flag server's JSON answer."""


class TemporaryError(RollsafeError):
    """A condition expected to clear by itself: try again after ``delay`` seconds.

    The controller retries a step that raised one (`rollsafe.controller.retries`);
    anything else rollsafe raises is permanent and fails the step at once.
    """

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PlanError(RollsafeError):
    """A plan, flag file or analysis file is invalid; nothing was written.

    Each problem is a string located as ``file:line: field: message``.
    """

    status = 422
    code = "invalid_plan"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(RollsafeError):
    """The state store could not do what was asked."""

    status = 503
    code = "store_unavailable"


class NotFoundError(StoreError):
    """No rollout, flag or backup with that id or name."""

    status = 404
    code = "not_found"


class ConflictError(StoreError):
    """A write lost a race: a stale version, or a rollout owned by another controller."""

    status = 409
    code = "conflict"


class StoreUnavailableError(StoreError, TemporaryError):
    """The store is briefly unreachable (a restarting server, a busy database file)."""


class LeaseLostError(RollsafeError):
    """This controller lost its rollout's lease: another one drives the rollout now.

    Raised to unwind a controller mid-step without writing anything more; the new
    holder runs the interrupted step again (every step is idempotent).
    """

    status = 409
    code = "lease_lost"


class TargetError(RollsafeError):
    """A target could not start, stop or deploy a release."""


class HealthCheckError(TargetError):
    """An instance did not become healthy within its retries."""


class RouterError(TargetError):
    """A router could not apply, start or stop a traffic split; the split in force stays.

    A subclass of TargetError: the router is part of how a release is served, and
    whatever handles a target's failure handles the router's.
    """


class TargetBusyError(TargetError, TemporaryError):
    """Another rollsafe process holds the target's lock (its own deploy or rollback)."""


class MetricsError(RollsafeError):
    """A metric source failed; the judge treats this as missing evidence."""


class FlagError(RollsafeError):
    """A flag definition or evaluation context is invalid."""

    status = 422
    code = "invalid_flag"


class UnsupportedRegexError(FlagError):
    """The pattern is not valid RE2, or uses RE2 syntax that `re` cannot express here."""


class CatastrophicRegexError(FlagError):
    """Matching the pattern can take exponential (or high polynomial) time."""


class BackupError(RollsafeError):
    """A backup could not be taken, or does not match its checksum."""


class FlagServiceError(RollsafeError):
    """The SDK could not use the flag service; it keeps the flags it has and tries again."""


class ServiceRefusedError(FlagServiceError):
    """The service answered with an HTTP error (bad token, unknown environment, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class StreamUnsupportedError(FlagServiceError):
    """The service has no stream endpoint; the client polls instead."""


class EventTooLargeError(FlagServiceError):
    """One event exceeded the parser's limit; the stream should be dropped."""


class HTTPFramingError(FlagServiceError):
    """The response is not well-formed HTTP/1.1; the connection should be dropped."""


class StreamLimitError(RollsafeError):
    """The flag server already serves as many streams as it may."""

    status = 503
    code = "too_many_streams"

    def __init__(self, limit: int) -> None:
        super().__init__(f"this server already serves {limit} streams; retry later")


class RefusedError(RollsafeError):
    """A policy of the plan refused to start a rollout; nothing was written.

    The CLI exits with its own code (``Exit.REFUSED``), so a pipeline can tell a
    rollout held back by policy from a bad plan or a failure.
    """

    status = 409
    code = "refused"


class DrillRequiredError(RefusedError):
    """The plan requires a successful rollback drill more recent than the last one."""


class GateError(RollsafeError):
    """A gate could not read its evidence (a test report, a git range, a coverage report).

    A gate that cannot read its evidence fails: missing evidence never passes.
    """


class TestReportError(GateError):
    """A JUnit XML report is missing or unparsable; the message names ``file:line:column``."""

    __test__ = False  # not a pytest test class, whatever its name says


class RiskInputError(GateError):
    """The risk score's inputs are unusable: an unknown revision range, a bad coverage file."""
