"""The shapes of the journal entries that readers depend on, and typed ways to read them.

Readers (the incident report, the charts, the demo, the CLI's live lines, the
dashboard) pick values out of entries by key; a key renamed by a writer would
otherwise surface only as a KeyError, or a silent None, in a report. Each
TypedDict here names an entry's keys once: writers build their data as it and
readers read through it, so mypy checks both against one definition. They
describe, they do not validate: ``tests/controller/test_journal_payloads.py``
and ``tests/controller/test_journal_payload_writers.py`` run the real writers and check
their entries have exactly these keys. One module per kind of entry.

Typed: ``rollout.created``, ``rollout.<state>`` and the requests (`rollout`),
``rollout.baseline`` (`baseline`), ``step.<state>`` and ``step.retry``
(`steps`), ``analysis.verdict`` (`verdicts`), the guard events (`guards`),
``metrics.blind`` (`blindness`), the rollback ladder's ``started``,
``level_ended``, ``level_skipped`` and ``finished`` (`rollback`),
``backup.created`` and ``backup.deleted`` (`backups`), ``drill.started`` and
``drill.finished`` (`drills`), ``test.run`` and ``test.verdict`` (`testgate`),
the error-budget ``slo.budget_checked``, ``_frozen`` and ``_override`` (`slo`),
``load.started`` and ``load.verdict`` (`load`), ``flag.changed`` and
``flag.deleted`` (`flags`). Other kinds are still read by key: the restores'
``backup.restored``, ``forensic_copy`` and ``lost_rows`` (their keys differ by
backup source), pipelines (read back only by their own runner), approvals,
alerts, risk, observations and target commands.
"""

from rollsafe.journal.payloads.backups import (
    BackupCreated,
    BackupDeleted,
    backup_created,
    backup_deleted,
)
from rollsafe.journal.payloads.baseline import Baseline, baseline, baseline_of, baseline_release
from rollsafe.journal.payloads.blindness import MetricsBlind, metrics_blind
from rollsafe.journal.payloads.drills import (
    DrilledLevel,
    DrilledRestore,
    DrillFinished,
    DrillStarted,
    drill_finished,
    drill_started,
)
from rollsafe.journal.payloads.flags import (
    FlagChanged,
    FlagDefinition,
    FlagDeleted,
    definition_after,
    enabled,
    flag_change,
    flag_changed,
    rollouts,
    turned_on,
)
from rollsafe.journal.payloads.guards import (
    GUARD_EVENT_KINDS,
    GuardEventRecord,
    GuardEvidence,
    guard_event,
)
from rollsafe.journal.payloads.load import (
    ClientLag,
    LoadArm,
    LoadStarted,
    LoadVerdict,
    Throughput,
    load_started,
    load_verdict,
)
from rollsafe.journal.payloads.rollback import (
    LevelEnded,
    LevelSkipped,
    RollbackFinished,
    RollbackStarted,
    level_ended,
    levels_ended,
    levels_skipped,
    rollback_finished,
    rollback_started,
)
from rollsafe.journal.payloads.rollout import (
    REQUEST_KINDS,
    ROLLOUT_STATE_KINDS,
    RolloutCreated,
    RolloutMoved,
    RolloutRequest,
    rollout_created,
    rollout_moved,
    rollout_request,
)
from rollsafe.journal.payloads.slo import (
    BudgetChecked,
    BudgetFrozen,
    BudgetOverride,
    BudgetRecord,
    budget_checked,
    budget_frozen,
    budget_override,
)
from rollsafe.journal.payloads.steps import (
    STEP_STATE_KINDS,
    StepMoved,
    StepRetry,
    result_of,
    step_moved,
    step_retry,
)
from rollsafe.journal.payloads.testgate import (
    SuiteCase,
    SuiteRun,
    SuiteVerdict,
    SuiteVerdictEntry,
    suite_run,
    suite_verdict,
)
from rollsafe.journal.payloads.verdicts import (
    AnalysisVerdict,
    Basis,
    JsonNumber,
    MetricVerdictRecord,
    Outcome,
    ReferenceRecord,
    VerdictRecord,
    analysis_verdict,
    deciding_metrics,
    outcome_of,
    step_verdict,
)

__all__ = [
    "GUARD_EVENT_KINDS",
    "REQUEST_KINDS",
    "ROLLOUT_STATE_KINDS",
    "STEP_STATE_KINDS",
    "AnalysisVerdict",
    "BackupCreated",
    "BackupDeleted",
    "Baseline",
    "Basis",
    "BudgetChecked",
    "BudgetFrozen",
    "BudgetOverride",
    "BudgetRecord",
    "ClientLag",
    "DrillFinished",
    "DrillStarted",
    "DrilledLevel",
    "DrilledRestore",
    "FlagChanged",
    "FlagDefinition",
    "FlagDeleted",
    "GuardEventRecord",
    "GuardEvidence",
    "JsonNumber",
    "LevelEnded",
    "LevelSkipped",
    "LoadArm",
    "LoadStarted",
    "LoadVerdict",
    "MetricVerdictRecord",
    "MetricsBlind",
    "Outcome",
    "ReferenceRecord",
    "RollbackFinished",
    "RollbackStarted",
    "RolloutCreated",
    "RolloutMoved",
    "RolloutRequest",
    "StepMoved",
    "StepRetry",
    "SuiteCase",
    "SuiteRun",
    "SuiteVerdict",
    "SuiteVerdictEntry",
    "Throughput",
    "VerdictRecord",
    "analysis_verdict",
    "backup_created",
    "backup_deleted",
    "baseline",
    "baseline_of",
    "baseline_release",
    "budget_checked",
    "budget_frozen",
    "budget_override",
    "deciding_metrics",
    "definition_after",
    "drill_finished",
    "drill_started",
    "enabled",
    "flag_change",
    "flag_changed",
    "guard_event",
    "level_ended",
    "levels_ended",
    "levels_skipped",
    "load_started",
    "load_verdict",
    "metrics_blind",
    "outcome_of",
    "result_of",
    "rollback_finished",
    "rollback_started",
    "rollout_created",
    "rollout_moved",
    "rollout_request",
    "rollouts",
    "step_moved",
    "step_retry",
    "step_verdict",
    "suite_run",
    "suite_verdict",
    "turned_on",
]
