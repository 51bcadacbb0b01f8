"""The shapes of the journal entries that readers depend on, and typed ways to read them.

Readers (the incident report, the charts, the demo, the CLI's live lines, the
dashboard) pick values out of entries by key; a key renamed by a writer would
otherwise surface only as a KeyError, or a silent None, in a report. Each
TypedDict here names an entry's keys once: writers build their data as it and
readers read through it, so mypy checks both against one definition. They
describe, they do not validate: ``tests/controller/test_journal_payloads.py``
and ``tests/controller/test_journal_payload_writers.py`` run the real writers and check
their entries have exactly these keys. One module per kind of entry.
"""

from rollsafe.journal.payloads.baseline import Baseline, baseline, baseline_of, baseline_release
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
from rollsafe.journal.payloads.rollback import (
    LevelEnded,
    LevelSkipped,
    RollbackFinished,
    levels_ended,
    levels_skipped,
    rollback_finished,
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
    "AnalysisVerdict",
    "Baseline",
    "Basis",
    "FlagChanged",
    "FlagDefinition",
    "FlagDeleted",
    "GuardEventRecord",
    "GuardEvidence",
    "JsonNumber",
    "LevelEnded",
    "LevelSkipped",
    "MetricVerdictRecord",
    "Outcome",
    "ReferenceRecord",
    "RollbackFinished",
    "VerdictRecord",
    "analysis_verdict",
    "baseline",
    "baseline_of",
    "baseline_release",
    "deciding_metrics",
    "definition_after",
    "enabled",
    "flag_change",
    "flag_changed",
    "guard_event",
    "levels_ended",
    "levels_skipped",
    "outcome_of",
    "rollback_finished",
    "rollouts",
    "step_verdict",
    "turned_on",
]
