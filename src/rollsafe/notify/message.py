"""What a notification says, whatever the channel: one journal entry in words.

Every format (Slack, Teams, Discord, the generic webhook) renders the same
`Message`, so a guard trip reads the same in every channel and a new format
needs no knowledge of journal kinds. ``event_of`` maps an entry to the event a
plan subscribes to: its kind, or a derived name such as ``analysis.failed``.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rollsafe.config.notify import ANALYSIS_FAILED, ROLLBACK_LEVEL_FAILED
from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import (
    ROLLOUT_STATE_KINDS,
    metrics_blind,
    rollout_moved,
    step_moved,
    step_verdict,
)

Severity = Literal["failure", "warning", "success", "info"]

_SEVERITY: dict[str, Severity] = {
    Kind.GUARD_TRIPPED: "failure",
    ANALYSIS_FAILED: "failure",
    Kind.STEP_FAILED: "failure",
    ROLLBACK_LEVEL_FAILED: "failure",
    Kind.ROLLOUT_FAILED: "failure",
    Kind.ROLLOUT_LEASE_LOST: "failure",
    Kind.METRICS_BLIND: "warning",
    Kind.ROLLOUT_ROLLED_BACK: "warning",
    Kind.ROLLOUT_ABORTED: "warning",
    Kind.ROLLOUT_PAUSED: "warning",
    Kind.GUARD_FIRING: "warning",
    Kind.ROLLOUT_PROMOTED: "success",
    Kind.APPROVAL_WAITING: "warning",
    Kind.APPROVAL_TIMED_OUT: "warning",
}

TEXT_LIMIT = 1500
"""Characters of free text (reasons, errors) a message carries: chat channels cap bodies."""


@dataclass(frozen=True)
class Message:
    event: str
    severity: Severity
    title: str
    text: str
    service: str
    entry: JournalEntry
    fields: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rollout_id(self) -> str | None:
        return self.entry.rollout_id

    @property
    def time(self) -> str:
        """The entry's time as ISO 8601 in UTC."""
        return datetime.datetime.fromtimestamp(self.entry.ts, datetime.UTC).isoformat()


def event_of(entry: JournalEntry) -> str:
    """The event ``entry`` is: a derived name when its data says so, else its kind."""
    data = entry.data
    if entry.kind == Kind.ANALYSIS_VERDICT and _verdict(data) == "fail":
        return ANALYSIS_FAILED
    if entry.kind == Kind.ROLLBACK_LEVEL_ENDED and not data.get("recovered", True):
        return ROLLBACK_LEVEL_FAILED
    return str(entry.kind)


def describe(entry: JournalEntry, service: str) -> Message:
    """``entry`` in words: a title, a sentence or two, and a few labelled fields."""
    event = event_of(entry)
    data = entry.data
    severity = _SEVERITY.get(event, "info")
    if event == Kind.GUARD_TRIPPED and data.get("severity") == "minor":
        severity = "warning"  # a minor guard only notifies: nothing is rolled back
    title, text, fields = _approval(event, entry) or _words(event, entry)
    fields = [(name, _clip(value, 300)) for name, value in fields if value]
    if entry.rollout_id:
        fields.insert(0, ("Rollout", entry.rollout_id))
    return Message(
        event=event,
        severity=severity,
        title=f"{service}: {title}",
        text=_clip(text, TEXT_LIMIT),
        service=service,
        entry=entry,
        fields=fields,
    )


def _words(event: str, entry: JournalEntry) -> tuple[str, str, list[tuple[str, str]]]:
    data = entry.data
    if event == Kind.GUARD_TRIPPED or event == Kind.GUARD_FIRING:
        verb = "tripped" if event == Kind.GUARD_TRIPPED else "is firing"
        metric, value, threshold = data.get("metric"), data.get("value"), data.get("threshold")
        evidence = f"{metric} = {_num(value)} against {_num(threshold)}" if metric else ""
        return (
            f"guard {data.get('guard', '?')} {verb}",
            evidence or _brief(data),
            [("Severity", str(data.get("severity", ""))), ("Window", _seconds(data.get("window")))],
        )
    if event == ANALYSIS_FAILED:
        verdict = step_verdict(data)  # there is one: `event_of` read "fail" in it
        metrics = verdict.get("metrics", []) if verdict is not None else []
        failed = [m for m in metrics if m.get("verdict") == "fail"]
        reasons = "; ".join(str(m.get("reason", m.get("name", ""))) for m in failed)
        return (
            "analysis failed",
            reasons or str(verdict.get("reason", "") if verdict is not None else ""),
            [("Looks", str(data.get("looks", ""))), ("Elapsed", _seconds(data.get("elapsed")))],
        )
    if event == Kind.STEP_FAILED:
        step = step_moved(entry)
        result = step.get("result") or {}
        reason = result.get("reason") or result.get("error") if isinstance(result, dict) else None
        return (
            f"step {step.get('index', '?')} ({step.get('kind', '?')}) failed",
            str(reason or _brief(result)),
            [("Attempt", str(step.get("attempt", "")))],
        )
    if event == ROLLBACK_LEVEL_FAILED:
        verification = data.get("verification") or {}
        why = verification.get("reason") or (data.get("result") or {}).get("error") or ""
        return (
            f"rollback level {data.get('level', '?')} ({data.get('name', '?')}) "
            "did not recover the service",
            str(why) or "verification found the service still unhealthy",
            [("Applied", str(data.get("applied", ""))), ("Took", _seconds(data.get("seconds")))],
        )
    if event == Kind.ROLLOUT_LEASE_LOST:
        return (
            "the controller lost its lease",
            f"{data.get('owner', '?')} stopped holding the rollout's lease: "
            f"{data.get('reason', '')}",
            [("Now held by", str(data.get("holder") or "nobody"))],
        )
    if event == Kind.METRICS_BLIND:
        blind = metrics_blind(entry)
        return (
            f"{blind.get('watcher', 'metrics')} blind: no metrics",
            f"no metrics for {_seconds(blind.get('blind_for')) or '?'}: {blind.get('error', '')}",
            [("Action", str(blind.get("action", "")))],
        )
    if entry.kind in ROLLOUT_STATE_KINDS and "to" in data:
        moved = rollout_moved(entry)
        return (
            f"rollout {str(moved['to']).replace('_', ' ')}",
            str(moved.get("reason") or ""),
            [("Step", str(moved.get("step_index", "")))],
        )
    return (event, _brief(data), [])


def _approval(event: str, entry: JournalEntry) -> tuple[str, str, list[tuple[str, str]]] | None:
    """An approve step's wait in words: what to do, by when, and how it ended."""
    data = entry.data
    if event == Kind.APPROVAL_WAITING:
        how = f"Approve with 'rollsafe rollout approve {entry.rollout_id}' or on the dashboard."
        message = str(data.get("message") or "")
        deadline = data.get("deadline")
        until = (
            datetime.datetime.fromtimestamp(deadline, datetime.UTC).isoformat(timespec="seconds")
            if isinstance(deadline, int | float)
            else "no timeout"
        )
        return (
            "waiting for approval",
            f"{message} {how}".strip(),
            [
                ("Step", str(data.get("index", ""))),
                ("Deadline", until),
                ("Then", str(data.get("on_timeout") or "")),
            ],
        )
    if event == Kind.APPROVAL_TIMED_OUT:
        return (
            "approval timed out",
            f"nobody approved within {_seconds(data.get('waited')) or '?'}: "
            f"the rollout goes on with {data.get('outcome', '?')}",
            [("Step", str(data.get("index", "")))],
        )
    if event == Kind.APPROVAL_GRANTED:
        return ("approved", f"approved by {entry.actor}", [("Step", str(data.get("index", "")))])
    return None


def _verdict(data: dict[str, Any]) -> Any:
    verdict = step_verdict(data)
    return verdict.get("verdict") if verdict is not None else None


def _brief(data: Any) -> str:
    return _clip(json.dumps(data, sort_keys=True, default=str), TEXT_LIMIT)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str:
    return f"{value:g}s" if isinstance(value, int | float) else ""
