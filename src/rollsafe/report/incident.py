"""The incident report of a rolled-back rollout, from its journal entries and nothing else.

Everything stated is a fact the journal holds (values, thresholds, times,
actors); what only a person can know is left as a clearly marked question.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from rollsafe.config import Plan
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import ROLLBACK_LEVEL_KINDS, Kind
from rollsafe.journal.payloads import (
    STEP_STATE_KINDS,
    LevelEnded,
    MetricVerdictRecord,
    analysis_verdict,
    backup_created,
    baseline,
    deciding_metrics,
    enabled,
    flag_changed,
    guard_event,
    level_ended,
    levels_ended,
    levels_skipped,
    load_verdict,
    metrics_blind,
    rollback_finished,
    rollout_created,
    rollouts,
    step_moved,
    step_retry,
    step_verdict,
    turned_on,
)
from rollsafe.report.gates import gates_of, render_gates
from rollsafe.report.html import decision_time, pictures, render_html, standalone_svg
from rollsafe.report.load import load_gates, render_load_gates
from rollsafe.support.private import private_directory, write_private_text

TODO = "**To answer (person):**"
HTML_NAME = "incident.html"
CHARTS_DIR = "charts"

_SHOWN_IN_TIMELINE = {
    Kind.ROLLOUT_CREATED, Kind.ROLLOUT_BASELINE, Kind.STEP_RUNNING, Kind.STEP_SUCCEEDED,
    Kind.STEP_FAILED, Kind.FLAG_CHANGED, Kind.GUARD_FIRING, Kind.GUARD_TRIPPED,
    Kind.GUARD_CLEARED, Kind.GUARD_METRICS_UNAVAILABLE, Kind.ANALYSIS_VERDICT,
    Kind.ROLLBACK_STARTED, Kind.ROLLBACK_LEVEL_STARTED, Kind.ROLLBACK_LEVEL_ENDED,
    Kind.ROLLBACK_MAINTENANCE, Kind.BACKUP_CREATED, Kind.BACKUP_RESTORED, Kind.ROLLBACK_FINISHED,
    Kind.ROLLBACK_LEVEL_SKIPPED, Kind.BACKUP_FORENSIC_COPY, Kind.BACKUP_LOST_ROWS,
    Kind.ROLLOUT_ROLLBACK_REQUESTED, Kind.ROLLOUT_ABORT_REQUESTED, Kind.ROLLOUT_ROLLED_BACK,
    Kind.ROLLOUT_ABORTED, Kind.ROLLOUT_FAILED, Kind.ROLLOUT_PROMOTED, Kind.ROLLOUT_PAUSED,
    Kind.METRICS_BLIND, Kind.STEP_RETRY,
    Kind.LOAD_VERDICT,
}  # fmt: skip


def build_incident(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    """The report as data; raises ValueError when the entries hold no rollout."""
    if not entries or entries[0].kind != Kind.ROLLOUT_CREATED:
        raise ValueError("the journal holds no rollout with that id")
    start = entries[0].ts
    rollout_id = entries[0].rollout_id
    final = _last(
        entries,
        lambda e: (
            e.kind
            in {
                Kind.ROLLOUT_ROLLED_BACK,
                Kind.ROLLOUT_ABORTED,
                Kind.ROLLOUT_FAILED,
                Kind.ROLLOUT_PROMOTED,
            }
        ),
    )
    trigger = _trigger(entries)
    changed_at = _change_introduced(entries)
    detected_at = trigger["at"] if trigger else None
    levels = levels_ended(entries)
    finished = rollback_finished(entries)
    recovered = next((lvl for lvl in levels if lvl.get("recovered")), None)
    # Recovered when the level's action was done; verified once its verification ended.
    recovered_at = _acted_at(recovered) if recovered else None
    verified_at = recovered["ended"] if recovered else None
    report: dict[str, Any] = {
        "rollout_id": rollout_id,
        "service": rollout_created(entries[0]).get("service"),
        "outcome": final.kind.removeprefix("rollout.") if final else "in progress",
        "severity": trigger["severity"] if trigger else "unknown",
        "started_at": _iso(start),
        "trigger": trigger,
        "change_introduced_at": _iso(changed_at) if changed_at else None,
        "detected_at": _iso(detected_at) if detected_at else None,
        "recovered_at": _iso(recovered_at) if recovered_at else None,
        "verified_at": _iso(verified_at) if verified_at else None,
        "time_to_detect_seconds": _diff(changed_at, detected_at),
        "time_to_recover_seconds": _diff(detected_at, recovered_at),
        "time_to_verified_seconds": _diff(detected_at, verified_at),
        "verification_seconds": _diff(recovered_at, verified_at),
        "final_level": finished.get("final_level") if finished else None,
        "recovered_by": finished.get("recovered_by") if finished else None,
        "rollback_levels": [_level_summary(level) for level in levels],
        "skipped_levels": levels_skipped(entries),
        "flags_changed": _flags_changed(entries),
        "releases": _releases(entries),
        "data": _data(entries),
        "blindness": _blindness(entries),
        "gates": gates_of(entries),
        "load_gates": load_gates(entries),
        "timeline": [_timeline_row(e, start) for e in entries if e.kind in _SHOWN_IN_TIMELINE],
    }
    report["summary"] = _summary(report)
    return report


def render_markdown(
    report: dict[str, Any],
    *,
    html_name: str | None = None,
    charts: Sequence[tuple[str, str]] = (),
) -> str:
    """The Markdown report; ``html_name`` and ``charts`` (title, relative path of an
    ``.svg``) link the HTML report and the chart files written beside it."""
    trigger = report["trigger"] or {}
    lines = [
        f"# Incident: {report['service']} rollout {report['rollout_id']}",
        "",
        f"**Outcome**: {report['outcome']} · **Severity**: {report['severity']} · "
        f"**Final rollback level**: {_or_none(report['final_level'])}",
        "",
        "## Summary",
        "",
        report["summary"],
        "",
    ]
    if html_name is not None:
        lines += [
            "## Pictures",
            "",
            f"The charts around the decision point, the rollback levels, the guards and the "
            f"journal excerpt are in [the HTML report]({html_name}) (one file, opens offline).",
            "",
        ]
        lines += [f"![{_md_text(title)}]({path})" for title, path in charts]
        lines += [""] if charts else []
    lines += [
        "## Trigger and evidence",
        "",
    ]
    if trigger:
        lines += [
            f"- **{k}**: {_iso(v) if k == 'at' else _plain(v)}"
            for k, v in trigger.items()
            if k != "evidence"
        ]
        lines += [
            f"- evidence `{k}`: {_plain(v)}" for k, v in (trigger.get("evidence") or {}).items()
        ]
    else:
        lines.append("- No trigger recorded.")
    lines += [
        "",
        "## Rollback",
        "",
        "| level | action | started | took | recovered | verification |",
        "|---|---|---|---|---|---|",
    ]
    for level in report["rollback_levels"]:
        lines.append(
            f"| L{level['level']} | {level['name']} | {level['started']} | {level['seconds']} s "
            f"| {'yes' if level['recovered'] else 'no'} | {level['verification']} |"
        )
    lines += [
        f"| L{skip['level']} | {skip['name']} | skipped | 0 s | n/a | {skip['reason']} |"
        for skip in report["skipped_levels"]
    ]
    lines += ["", "## Changes", ""]
    lines += [
        f"- flag `{f['name']}` v{f['version']}: {f['state']} (by {f['actor']}, {f['at']})"
        for f in report["flags_changed"]
    ]
    lines += [
        f"- release {r['from']} → {r['to']} ({r['how']}, {r['at']})" for r in report["releases"]
    ]
    lines += ["", "## Data", ""]
    data = report["data"]
    lines += [
        f"- backup `{b['id']}` of {b['source']} taken {b['at']}, sha256 {b['sha256'][:16]}…"
        for b in data["backups"]
    ]
    lines += [
        f"- restored `{r['id']}` into {r['restored']} at {r['at']}; "
        f"tables {r.get('tables')}, checksum verified"
        for r in data["restored"]
    ]
    if not data["restored"]:
        lines.append("- No data was restored.")
    lines += [
        f"- before the restore of `{c['backup']}`, the data it replaced was copied to "
        f"`{c['copy']}` in the home (owner-only)"
        if c.get("copy")
        else f"- no forensic copy before the restore of `{c['backup']}`: {c.get('reason')}"
        for c in data["forensic_copies"]
    ]
    for lost in data["lost_rows"]:
        lines += _lost_rows_lines(lost)
    lines += _render_blindness(report["blindness"])
    lines += render_gates(report["gates"])
    lines += render_load_gates(report["load_gates"])
    lines += ["", "## Timeline", "", "| +s | time | event | detail |", "|---|---|---|---|"]
    lines += [
        f"| {row['offset']} | {row['at']} | {row['event']} | {row['detail']} |"
        for row in report["timeline"]
    ]
    lines += [
        "",
        "## Root cause analysis (draft)",
        "",
        "### Facts from the journal",
        "",
        f"- The change was introduced at {report['change_introduced_at'] or 'an unrecorded time'}.",
        f"- It was detected at {report['detected_at'] or 'an unrecorded time'} "
        f"({_seconds(report['time_to_detect_seconds'])} later) "
        f"by {trigger.get('source', 'unknown')} "
        f"`{trigger.get('name', '?')}`.",
        f"- Service recovered at {report['recovered_at'] or 'no recorded time'} "
        f"({_seconds(report['time_to_recover_seconds'])} after detection) "
        f"by {_recovered_by(report)}; verification then took "
        f"{_seconds(report['verification_seconds'])} "
        f"(verified {_seconds(report['time_to_verified_seconds'])} after detection).",
        "",
        "### Contributing factors",
        "",
        f"{TODO} what in the change caused this, and which conditions let it reach production?",
        "",
        "### Why was it not caught earlier?",
        "",
        f"{TODO} which test, review or staging check could have caught it before the rollout?",
        "",
        "### Corrective actions",
        "",
        f"{TODO} list actions with owners and dates "
        "(fix, test that would have caught it, guard or plan change).",
        "",
    ]
    return "\n".join(lines)


def write_incident(
    directory: Path, entries: Sequence[JournalEntry], *, plan: Plan | None = None
) -> Path:
    """Write ``incident.md``, ``incident.json``, ``incident.html`` and the charts as
    ``charts/*.svg`` into ``directory``; return the Markdown path. ``plan`` (the
    rollout's, as stored) lets the charts replay the judge's evidence."""
    report = build_incident(entries)
    private_directory(directory)
    write_private_text(
        directory / "incident.json",
        json.dumps(report, indent=2, sort_keys=True, default=str) + "\n",
    )
    drawn, note = pictures(entries, plan, decision_time(report, entries))
    write_private_text(directory / HTML_NAME, render_html(report, entries, drawn, note))
    linked = []
    for stale in sorted((directory / CHARTS_DIR).glob("*.svg")):
        stale.unlink()  # a report written again shows only its own charts
    for picture in drawn:
        text = standalone_svg(picture)
        if text is None:
            continue
        private_directory(directory / CHARTS_DIR)
        write_private_text(directory / CHARTS_DIR / picture.filename, text)
        linked.append((picture.title, f"{CHARTS_DIR}/{picture.filename}"))
    markdown = directory / "incident.md"
    write_private_text(markdown, render_markdown(report, html_name=HTML_NAME, charts=linked))
    return markdown


def html_report(markdown: Path) -> Path:
    """The HTML report written beside a Markdown report by `write_incident`."""
    return markdown.with_name(HTML_NAME)


class Trigger(TypedDict):
    """What set off the rollback, as the report states it (its ``trigger``)."""

    source: str
    """``guard``, ``analysis``, ``step``, ``person``, or the blind watcher (``guards``...)."""
    name: str | None
    severity: str
    at: float
    description: str
    evidence: dict[str, Any]
    verdict: NotRequired[str]
    """An analysis trigger only: the judge's verdict."""


def _trigger(entries: Sequence[JournalEntry]) -> Trigger | None:
    for entry in entries:
        if entry.kind == Kind.METRICS_BLIND and metrics_blind(entry).get("action") == "rollback":
            return _blind_trigger(entry)
        if entry.kind == Kind.GUARD_TRIPPED:
            trip = guard_event(entry)
            return {
                "source": "guard",
                "name": trip["guard"],
                "severity": trip["severity"],
                "at": entry.ts,
                "description": f"{trip['metric']} {_plain(trip['value'])} "
                f"above {trip['threshold']} "
                f"({trip['unit']}) over {trip['window']} s, held for {trip['for']} s",
                "evidence": {k: v for k, v in trip.items() if k not in ("guard", "severity")},
            }
        if entry.kind == Kind.STEP_FAILED:
            failed = step_moved(entry)
            result = failed.get("result") or {}
            if result.get("interrupted_by") in {"rollback", "pause"}:
                continue  # the guard or person that interrupted it is the trigger
            if result.get("interrupted_by") == "abort":
                break
            verdict = step_verdict(result)
            if not verdict:
                return {
                    "source": "step",
                    "name": failed.get("kind"),
                    "severity": "critical",
                    "at": entry.ts,
                    "description": str(result.get("error", "the step failed")),
                    "evidence": {"error": result.get("error")},
                }
            deciding = deciding_metrics(verdict)
            return {
                "source": "analysis",
                "name": ", ".join(m["name"] for m in deciding) or "analysis",
                "severity": "major",
                "verdict": verdict["verdict"],
                "at": entry.ts,
                "description": "; ".join(m["reason"] for m in deciding) or verdict["reason"],
                "evidence": {m["name"]: _metric_evidence(m) for m in deciding},
            }
    abort = next((e for e in entries if e.kind == Kind.ROLLOUT_ABORT_REQUESTED), None)
    if abort is not None:
        return {
            "source": "person",
            "name": abort.actor,
            "severity": "n/a (aborted by a person)",
            "at": abort.ts,
            "description": "abort requested",
            "evidence": {},
        }
    return None


def _metric_evidence(metric: MetricVerdictRecord) -> dict[str, Any]:
    return {
        "arms": metric.get("arms"),
        "effect": metric.get("effect"),
        "estimate": metric.get("estimate"),
        "low": metric.get("low"),
        "high": metric.get("high"),
        "e_value": metric.get("e_value"),
        "threshold": metric.get("threshold"),
    }


def _change_introduced(entries: Sequence[JournalEntry]) -> float | None:
    """When users first met the change: a release deployed or started as a canary, or a flag on."""
    for entry in entries:
        if entry.kind == Kind.STEP_SUCCEEDED:
            step = step_moved(entry)
            result = step.get("result") or {}
            if (step["kind"] == "deploy" and result.get("changed")) or (
                step["kind"] == "canary" and result.get("release")
            ):
                return entry.ts
        if turned_on(entry):
            return entry.ts
    return None


def _flags_changed(entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    changes = []
    for entry in entries:
        if entry.kind != Kind.FLAG_CHANGED:
            continue
        change = flag_changed(entry)
        after = change.get("after")
        percents = rollouts(after)
        state = (
            f"on for {percents[0]}%"
            if enabled(after) and percents
            else ("on" if enabled(after) else "off")
        )
        changes.append(
            {
                "name": change["name"],
                "version": change["version"],
                "state": state,
                "actor": entry.actor,
                "at": _iso(entry.ts),
            }
        )
    return changes


def _releases(entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    """Each change of the release serving users, from the release live at the start."""
    moves = []
    before = baseline(entries)
    live = before.get("release") if before is not None else None
    for entry in entries:
        if entry.kind == Kind.STEP_SUCCEEDED:
            step = step_moved(entry)
            result = step.get("result") or {}
            if step["kind"] == "deploy" and result.get("changed"):
                moves.append(
                    _move(
                        result.get("previous") or live, result.get("release"), "deploy step", entry
                    )
                )
                live = result.get("release")
            elif step["kind"] == "canary" and result.get("release"):
                moves.append(
                    _move(
                        live,
                        f"{result['release']} (canary, {result.get('weight', 0)}% of requests)",
                        "canary step",
                        entry,
                    )
                )
        elif entry.kind == Kind.ROLLBACK_LEVEL_ENDED:
            level = level_ended(entry)
            if level.get("name") not in {"release", "restore"} or not level.get("applied"):
                continue
            result = level.get("result") or {}
            how = f"rollback level {level['level']}"
            if result.get("canary_stopped"):
                moves.append(_move(f"{result['canary_stopped']} (canary)", "stopped", how, entry))
            if result.get("release") is not None and result.get("release") != live:
                moves.append(_move(live, result.get("release"), how, entry))
                live = result.get("release")
    return moves


def _move(before: Any, after: Any, how: str, entry: JournalEntry) -> dict[str, Any]:
    return {"from": before, "to": after, "how": how, "at": _iso(entry.ts)}


def _data(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    created = [(backup_created(e), e.ts) for e in entries if e.kind == Kind.BACKUP_CREATED]
    backups = [
        {"id": b["id"], "source": b["source"], "sha256": b["sha256"], "at": _iso(ts)}
        for b, ts in created
    ]
    restored = [{**e.data, "at": _iso(e.ts)} for e in entries if e.kind == Kind.BACKUP_RESTORED]
    copies = [dict(e.data) for e in entries if e.kind == Kind.BACKUP_FORENSIC_COPY]
    lost = [dict(e.data) for e in entries if e.kind == Kind.BACKUP_LOST_ROWS]
    return {"backups": backups, "restored": restored, "forensic_copies": copies, "lost_rows": lost}


def _lost_rows_lines(lost: dict[str, Any]) -> list[str]:
    """What the restore of one backup took away, per table, and where the rows are."""
    if lost.get("error"):
        return [f"- rows lost by the restore of `{lost['backup']}`: not computed ({lost['error']})"]
    tables = lost.get("tables") or {}
    if not tables:
        if lost.get("note"):
            return [f"- what the restore of `{lost['backup']}` took away: {lost['note']}"]
        return [f"- the restore of `{lost['backup']}` took away no row written after the backup"]
    head = f"- the restore of `{lost['backup']}` took away writes made after the backup"
    if lost.get("file"):
        head += f"; the rows are in `{lost['file']}` in the home (JSON lines), to re-apply"
    elif lost.get("note"):
        head += f" ({lost['note']})"
    counts = [
        f"  - `{table}`: "
        + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in change.items())
        for table, change in tables.items()
    ]
    return [head + ":", *counts]


def _acted_at(level: LevelEnded) -> float:
    """When a level's action was done (its start plus the action's own time), before verifying."""
    action = level.get("action_seconds")
    return float(level["started"]) + float(action) if action is not None else float(level["ended"])


def _recovered_by(report: dict[str, Any]) -> str:
    by = report.get("recovered_by")
    if by:
        return str(by)
    return f"rollback level {_or_none(report['final_level'])}"


def _level_summary(level: LevelEnded) -> dict[str, Any]:
    verification = level.get("verification") or {}
    return {
        "level": level["level"],
        "name": level["name"],
        "applied": level.get("applied"),
        "recovered": level.get("recovered"),
        "started": _iso(level["started"]),
        "ended": _iso(level["ended"]),
        "seconds": level.get("seconds"),
        "result": level.get("result"),
        "verification": verification.get("reason", "not run"),
    }


def _timeline_row(entry: JournalEntry, start: float) -> dict[str, Any]:
    data = entry.data
    detail = ""
    if entry.kind in STEP_STATE_KINDS or entry.kind == Kind.STEP_RETRY:
        step = step_retry(entry) if entry.kind == Kind.STEP_RETRY else step_moved(entry)
        detail = f"step {step.get('index')} {step.get('kind')}"
    elif entry.kind.startswith("guard."):
        detail = (
            f"{data.get('guard')} ({data.get('severity')}): "
            f"{data.get('metric')}={_plain(data.get('value'))} threshold {data.get('threshold')}"
        )
    elif entry.kind in ROLLBACK_LEVEL_KINDS:
        detail = f"L{data.get('level')} {data.get('name')}" + (
            f", recovered={data.get('recovered')}, {data.get('seconds')} s"
            if "recovered" in data
            else ""
        )
    elif entry.kind == Kind.FLAG_CHANGED:
        change = flag_changed(entry)
        detail = f"{change.get('name')} v{change.get('version')} by {entry.actor}"
    elif entry.kind == Kind.METRICS_BLIND:
        blind = metrics_blind(entry)
        detail = f"{blind.get('watcher')} blind {blind.get('blind_for')} s: {blind.get('error')}"
    elif entry.kind == Kind.ANALYSIS_VERDICT:
        verdict = analysis_verdict(entry)
        detail = f"{verdict['verdict']['verdict']} after {verdict.get('elapsed')} s"
        reference = verdict.get("reference")
        if reference and reference["applied"]:
            detail += (
                f", error ceiling {100 * reference['ceiling']:.3g}% from the baseline's "
                f"{reference['events']:g}/{reference['trials']:g} in earlier steps"
            )
    elif entry.kind == Kind.LOAD_VERDICT:
        load = load_verdict(entry)
        detail = f"load {load.get('outcome')} after {load.get('elapsed')} s"
    elif data.get("reason"):
        detail = str(data["reason"])
    return {
        "offset": round(entry.ts - start, 3),
        "at": _iso(entry.ts),
        "event": entry.kind,
        "detail": detail.replace("|", "/"),
    }


def _blindness(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    """When the guards or an analysis had no data: every failed look and each blind alarm."""
    failed = [
        e
        for e in entries
        if e.kind in (Kind.GUARD_METRICS_UNAVAILABLE, Kind.ANALYSIS_METRICS_ERROR)
    ]
    return {
        "failed_looks": sum(e.kind == Kind.ANALYSIS_METRICS_ERROR for e in failed),
        "guard_outages": sum(e.kind == Kind.GUARD_METRICS_UNAVAILABLE for e in failed),
        "first_error": failed[0].data.get("error") if failed else None,
        "alarms": [
            {"at": _iso(e.ts), **metrics_blind(e)} for e in entries if e.kind == Kind.METRICS_BLIND
        ],
    }


def _render_blindness(blindness: dict[str, Any]) -> list[str]:
    """The "Blindness" section: said plainly, because decisions made blind are not evidence."""
    lines = ["", "## Blindness", ""]
    if not blindness["failed_looks"] and not blindness["guard_outages"]:
        return [*lines, "- Guards and analyses had metrics throughout."]
    lines.append(
        f"- {blindness['failed_looks']} analysis look(s) failed and the guards lost their "
        f"metrics {blindness['guard_outages']} time(s); first error: "
        f"{_plain(blindness['first_error'])}"
    )
    lines += [
        f"- {alarm['at']}: {alarm['watcher']} blind for {alarm['blind_for']} s "
        f"({_plain(alarm['error'])}); on_blind: {alarm['action']}"
        for alarm in blindness["alarms"]
    ]
    return lines


def _blind_trigger(entry: JournalEntry) -> Trigger:
    blind = metrics_blind(entry)
    return {
        "source": str(blind.get("watcher", "guards")),
        "name": "on_blind",
        "severity": "major",
        "at": entry.ts,
        "description": f"no metrics for {blind.get('blind_for')} s "
        f"({blind.get('error')}), and the plan says on_blind: rollback",
        "evidence": dict(blind),
    }


def _summary(report: dict[str, Any]) -> str:
    trigger = report["trigger"]
    if trigger is None:
        return (
            f"Rollout {report['rollout_id']} of {report['service']} ended {report['outcome']} "
            "with no recorded trigger."
        )
    level = report["final_level"]
    recovery = (
        f"The service recovered by {_recovered_by(report)} "
        f"({_seconds(report['time_to_recover_seconds'])} after detection, verified "
        f"{_seconds(report['time_to_verified_seconds'])} after detection)."
        if level is not None
        else "No rollback level recovered the service: a person must act."
    )
    return (
        f"Rollout {report['rollout_id']} of {report['service']} ended {report['outcome']}. "
        f"{trigger['source'].capitalize()} `{trigger['name']}` ({trigger['severity']}) "
        f"triggered the rollback {_seconds(report['time_to_detect_seconds'])} after the change "
        f"was introduced: {trigger['description']}. "
        f"{recovery}"
    )


def _last(entries: Sequence[JournalEntry], match: Any) -> JournalEntry | None:
    return next((e for e in reversed(entries) if match(e)), None)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def _diff(a: float | None, b: float | None) -> float | None:
    return round(b - a, 3) if a is not None and b is not None else None


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "an unknown time"


def _or_none(value: Any) -> str:
    return "none" if value is None else str(value)


def _md_text(value: str) -> str:
    """A chart title as Markdown link text (no brackets to end it early)."""
    return value.replace("[", "(").replace("]", ")")


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
