"""Every kind of journal entry, in one place: the journal's vocabulary.

The journal is the product's evidence, and its readers (the incident report,
the CLI's live lines, the demo, webhooks) select entries by kind. A kind spelt
as a loose string in two modules drifts silently; a `Kind` member is checked by
mypy and found by a grep. Members are `StrEnum`s, equal to the strings stored
in the journal, so entries written before this vocabulary read back unchanged.
``tests/journal/test_kinds.py`` fails when a kind literal appears elsewhere.

Kinds built from a state (``step.<state>``, ``rollout.<state>``,
``rollout.<command>_requested``, ``guard.<event>``) go through the helpers at
the bottom, which refuse a state the vocabulary does not name.
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    # The controller daemon itself.
    CONTROLLER_STARTED = "controller.started"
    """A controller daemon began to watch the store (its owner name)."""
    CONTROLLER_STOPPED = "controller.stopped"
    """A controller daemon stopped."""

    # A rollout's life: created, then one entry per state it moves to.
    ROLLOUT_CREATED = "rollout.created"
    """A plan was submitted: service, plan path and steps."""
    ROLLOUT_BASELINE = "rollout.baseline"
    """The release that was live before the rollout, the target of a level-2 rollback."""
    ROLLOUT_LEASE_ACQUIRED = "rollout.lease_acquired"
    """A controller took ownership of the rollout (or took it over from a dead one)."""
    ROLLOUT_PENDING = "rollout.pending"
    ROLLOUT_RUNNING = "rollout.running"
    ROLLOUT_PAUSED = "rollout.paused"
    ROLLOUT_ROLLING_BACK = "rollout.rolling_back"
    ROLLOUT_PROMOTED = "rollout.promoted"
    ROLLOUT_ROLLED_BACK = "rollout.rolled_back"
    ROLLOUT_ABORTED = "rollout.aborted"
    ROLLOUT_FAILED = "rollout.failed"
    # The ``rollout.<state>`` entries above record ``from``, ``to`` and the step index.
    ROLLOUT_PAUSE_REQUESTED = "rollout.pause_requested"
    ROLLOUT_ABORT_REQUESTED = "rollout.abort_requested"
    ROLLOUT_ROLLBACK_REQUESTED = "rollout.rollback_requested"
    """A person or a guard asked the owner to pause, abort or roll back (with a reason)."""
    ROLLOUT_REQUEST_CLEARED = "rollout.request_cleared"
    """The owner acted on a request, or it was withdrawn."""

    # Steps: one entry per state, with index, kind and attempt.
    STEP_PENDING = "step.pending"
    STEP_RUNNING = "step.running"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRY = "step.retry"
    """A step's attempt failed and will be tried again after a delay."""
    TARGET_COMMAND = "target.command"
    """A target command's exit code and output tail."""

    # Analysis and guards: the measurements and what they concluded.
    ANALYSIS_OBSERVATION = "analysis.observation"
    """One look at the canary and baseline metrics."""
    ANALYSIS_METRICS_ERROR = "analysis.metrics_error"
    """A look at the metrics failed (an ordinary, transient miss)."""
    ANALYSIS_VERDICT = "analysis.verdict"
    """The judge's decision on an analysis step, with its evidence."""
    ANALYSIS_PASSED_EARLY = "analysis.passed_early"
    """An analysis step ended before its duration: the canary shown no worse than the
    early-pass margins on every metric (bounds vs margins, requests, elapsed)."""
    GUARD_FIRING = "guard.firing"
    """A guard's condition began to hold."""
    GUARD_TRIPPED = "guard.tripped"
    """A guard's condition held long enough: a rollback is requested."""
    GUARD_CLEARED = "guard.cleared"
    """A firing guard's condition stopped holding before it tripped."""
    GUARD_METRICS_UNAVAILABLE = "guard.metrics_unavailable"
    """The guards' metric source failed a look."""
    GUARD_METRICS_RESTORED = "guard.metrics_restored"
    """The guards' metric source answered again after failing."""
    GUARD_REQUEST_REFUSED = "guard.request_refused"
    """A guard asked for a rollback and the store refused (the rollout was already final)."""
    METRICS_BLIND = "metrics.blind"
    """Nobody has seen data for ``blind_after`` seconds; what the rollout does about it."""

    # Error budgets (docs/slo.md): the policy checked before a rollout's first step.
    SLO_BUDGET_CHECKED = "slo.budget_checked"
    """Each objective's remaining error budget, and the plan's floor."""
    SLO_BUDGET_FROZEN = "slo.budget_frozen"
    """A rollout waits for an override: a budget is below the floor (or unknown)."""
    SLO_BUDGET_OVERRIDE = "slo.budget_override"
    """Someone let a frozen rollout start anyway: who (the actor) and why."""

    # Rollback: the ladder of levels, each started and ended (or skipped).
    ROLLBACK_STARTED = "rollback.started"
    """Why, and which levels will be tried."""
    ROLLBACK_LEVEL_STARTED = "rollback.level_started"
    ROLLBACK_LEVEL_ENDED = "rollback.level_ended"
    """A level's outcome: level, name, ok, what it did and how long it took."""
    ROLLBACK_LEVEL_SKIPPED = "rollback.level_skipped"
    """A level that had nothing to undo (no flags changed, say)."""
    ROLLBACK_CANARY_REMOVED = "rollback.canary_removed"
    """The canary release was taken out of the router."""
    ROLLBACK_MAINTENANCE = "rollback.maintenance"
    """Level 3 put the service into maintenance while its data was restored."""
    ROLLBACK_FINISHED = "rollback.finished"
    """The rollback's result: the levels tried and whether the service is recovered."""

    # Backups and restores.
    BACKUP_CREATED = "backup.created"
    BACKUP_DELETED = "backup.deleted"
    BACKUP_RESTORED = "backup.restored"
    """A backup was restored (by level 3 or by ``rollsafe backups restore``)."""
    BACKUP_FORENSIC_COPY = "backup.forensic_copy"
    """The data as it was before a restore, kept for investigation."""
    BACKUP_LOST_ROWS = "backup.lost_rows"
    """Rows written after the backup that the restore did not keep."""

    # Flags, environments, routers and API tokens: administrative changes.
    FLAG_CHANGED = "flag.changed"
    """A flag's ``before`` and ``after`` definitions."""
    FLAG_DELETED = "flag.deleted"
    ENVIRONMENT_CREATED = "environment.created"
    ROUTER_RECORDED = "router.recorded"
    ROUTER_FORGOTTEN = "router.forgotten"
    # Event names, not secrets (ruff's S105 guesses from the word "token").
    TOKEN_CREATED = "token.created"  # noqa: S105
    TOKEN_REVOKED = "token.revoked"  # noqa: S105

    # Alerts in: Alertmanager webhooks received by the flag service (server/alerts.py).
    ALERT_ROLLBACK = "alert.rollback"
    """A firing alert matched a rollout: its rollback was requested (the alert and actor)."""
    ALERT_IGNORED = "alert.ignored"
    """An alert that asked for nothing: resolved, or matching no rollout (and why)."""

    # Rollback drills (``rollsafe drill``): each level deliberately triggered and timed.
    DRILL_STARTED = "drill.started"
    """A drill began: the plan, the levels to drill and their targets."""
    DRILL_FINISHED = "drill.finished"
    """A drill's result: each level's timings against its target, restored row counts."""
    # Gates: test suites and the regression risk of a change.
    TEST_RUN = "test.run"
    """One run of a test step's command: argv, exit, duration, the report and its counts."""
    TEST_VERDICT = "test.verdict"
    """A test gate's verdict: counts, pass rate, failures and flaky tests, why it failed."""
    TEST_QUARANTINED = "test.quarantined"
    """Flaky tests a test step appended to the plan's quarantine file."""
    RISK_SCORED = "risk.scored"
    """A git range's regression risk: score, level, breakdown, commits and files touched."""
    RISK_CAUTION_APPLIED = "risk.caution_applied"
    """How a plan's ``risk:`` section changed the steps for the scored level."""
    # Approval gates (``approve`` steps): waiting for a person, and what ended the wait.
    APPROVAL_WAITING = "approval.waiting"
    """An approve step began to wait: its index, message, timeout and deadline."""
    APPROVAL_GRANTED = "approval.granted"
    """A person approved the waiting step (the entry's actor is who)."""
    APPROVAL_TIMED_OUT = "approval.timed_out"
    """Nobody approved before the timeout; the step's ``on_timeout`` outcome follows."""

    # Leases and notifications: the controller's own troubles, which people must hear of.
    ROLLOUT_LEASE_LOST = "rollout.lease_lost"
    """The controller driving the rollout could not renew its lease (and who holds it now)."""
    NOTIFY_FAILED = "notify.failed"
    """A notification was not delivered after its retries (channel, event, error); never sent."""
    # The load step (a performance gate) and pipelines across environments.
    LOAD_STARTED = "load.started"
    """A load step began: the URLs of both arms, the tool, duration and rate."""
    LOAD_VERDICT = "load.verdict"
    """A load step's result: per-arm counts and quantiles, throughput, the judge's verdict."""
    PIPELINE_STARTED = "pipeline.started"
    """A pipeline run began (or resumed): its file, release and stages in order."""
    PIPELINE_STAGE_STARTED = "pipeline.stage_started"
    """Intent: a stage's rollout is about to be created in the stage's own store."""
    PIPELINE_STAGE_ROLLOUT = "pipeline.stage_rollout"
    """The stage's rollout exists: its id and store (a resumed run drives it on)."""
    PIPELINE_STAGE_ENDED = "pipeline.stage_ended"
    """The stage's rollout ended: its state and reason."""
    PIPELINE_GATE = "pipeline.gate"
    """One gate between stages: its kind, whether it passed, and its evidence."""
    PIPELINE_STAGE_ROLLED_BACK = "pipeline.stage_rolled_back"
    """A stage that promoted but failed a gate was rolled back."""
    PIPELINE_APPROVED = "pipeline.approved"
    """A person approved a stage's approval gate (``rollsafe pipeline approve``)."""
    PIPELINE_PROMOTED = "pipeline.promoted"
    """A stage passed its gates: the release may move to the next stage."""
    PIPELINE_FINISHED = "pipeline.finished"
    """The run ended: promoted through every stage, or stopped at one (and why)."""


ROLLBACK_LEVEL_KINDS = frozenset(
    {Kind.ROLLBACK_LEVEL_STARTED, Kind.ROLLBACK_LEVEL_ENDED, Kind.ROLLBACK_LEVEL_SKIPPED}
)
"""The entries about one level of the rollback ladder (each names its level)."""


def step_kind(state: str) -> Kind:
    """``step.<state>`` for a step's new state."""
    return Kind(f"step.{state}")


def rollout_kind(state: str) -> Kind:
    """``rollout.<state>`` for a rollout's new state."""
    return Kind(f"rollout.{state}")


def request_kind(command: str | None) -> Kind:
    """``rollout.<command>_requested``, or ``rollout.request_cleared`` for None."""
    return Kind(f"rollout.{command}_requested") if command else Kind.ROLLOUT_REQUEST_CLEARED


def guard_kind(event: str) -> Kind:
    """``guard.<event>`` for a guard evaluator's event (firing, tripped, cleared)."""
    return Kind(f"guard.{event}")
