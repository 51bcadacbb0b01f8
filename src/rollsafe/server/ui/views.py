"""The dashboard's page bodies, as HTML strings, from the store (no request handling here)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rollsafe.charts import series as evidence
from rollsafe.charts import svg
from rollsafe.charts.figures import analysis_charts
from rollsafe.controller import approvals
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import definition_after, flag_change
from rollsafe.server.ui import step_text
from rollsafe.server.ui.drills import last_drill_section
from rollsafe.server.ui.layout import action_form, badge, esc, table, when
from rollsafe.server.ui.session import Viewer
from rollsafe.store import Rollout, RolloutState, StepState, Store
from rollsafe.store.records import DEFAULT_ENVIRONMENT

PAGE_SIZE = 50
MAX_LISTED = 10_000
"""Rollouts the table filters over (newest first); older ones are reached by the CLI."""
JOURNAL_TAIL = 30


def rollouts_table(
    rollouts: list[Rollout], *, state: str, service: str, page: int, viewer: Viewer
) -> str:
    """The filtered, paginated rollouts table with its filter form."""
    del viewer
    services = sorted({r.service for r in rollouts})
    counts: dict[str, int] = {}
    for r in rollouts:
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
    chosen = [
        r
        for r in rollouts
        if (not state or r.state.value == state) and (not service or r.service == service)
    ]
    pages = max(1, math.ceil(len(chosen) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    state_options = "".join(
        f'<option value="{esc(s.value)}"{" selected" if s.value == state else ""}>'
        f"{esc(s.value)} ({counts.get(s.value, 0)})</option>"
        for s in RolloutState
    )
    service_options = "".join(
        f'<option value="{esc(s)}"{" selected" if s == service else ""}>{esc(s)}</option>'
        for s in services
    )
    filters = (
        '<form class="filters" method="get" action="/ui/rollouts">'
        f'<label>state <select name="state"><option value="">any ({len(rollouts)})</option>'
        f"{state_options}</select></label>"
        f'<label>service <select name="service"><option value="">any</option>'
        f"{service_options}</select></label>"
        '<button type="submit">filter</button></form>'
    )
    rows = [
        [
            f'<a href="/ui/rollouts/{esc(r.id)}">{esc(r.id)}</a>',
            esc(r.service),
            badge(r.state),
            esc(r.step_index),
            esc(when(r.created_at)),
            esc(when(r.updated_at)),
            esc(r.reason[:120]),
        ]
        for r in shown
    ]

    def link(number: int, label: str) -> str:
        query = urlencode({k: v for k, v in (("state", state), ("service", service)) if v})
        sep = "&" if query else ""
        return f'<a href="/ui/rollouts?{query}{sep}page={number}">{esc(label)}</a>'

    pager = (
        f'<p class="pager">{len(chosen)} rollouts · page {page} of {pages} '
        + (link(page - 1, "← newer") if page > 1 else "")
        + (link(page + 1, "older →") if page < pages else "")
        + "</p>"
    )
    headers = ["id", "service", "state", "step", "created", "updated", "reason"]
    return f'<h1>Rollouts</h1>{filters}{pager}<div id="rollouts">{table(headers, rows)}</div>'


def rollout_body(store: Store, rollout_id: str, viewer: Viewer, note: str = "") -> str:
    """Everything about one rollout; what the live stream sends again on each change."""
    rollout = store.get_rollout(rollout_id)
    steps = store.steps(rollout_id)
    entries = store.journal(rollout_id)
    plan = evidence.plan_of(rollout.plan_path, rollout.plan_text)
    wait = approvals.open_wait(entries, rollout.step_index) if _waits(rollout, steps) else None
    parts = [
        f"<h1>{esc(rollout.service)} <code>{esc(rollout.id)}</code> {badge(rollout.state)}</h1>",
        f'<p class="muted">created {esc(when(rollout.created_at))} · updated '
        f"{esc(when(rollout.updated_at))} · owner {esc(rollout.owner or 'none')}"
        + (f" · requested: <strong>{esc(rollout.requested)}</strong>" if rollout.requested else "")
        + "</p>",
    ]
    if note:
        parts.append(note)
    if rollout.reason:
        parts.append(f"<p>{esc(rollout.reason)}</p>")
    parts.append(_actions(rollout, viewer, wait))
    if wait is not None and wait.granted is None:
        deadline = f" · times out {esc(when(wait.deadline))}" if wait.deadline else ""
        parts.append(
            f'<div class="banner" id="approval"><strong>Waiting for approval</strong> at step '
            f"{wait.index}: {esc(wait.message or 'approve to continue')} · waiting since "
            f"{esc(when(wait.started_at))}{deadline}</div>"
        )
    parts.append(_steps(steps))
    for view in evidence.analyses(entries, plan):
        parts.append(_analysis(view, _unjudged(steps, view.index)))
    parts.append(_guards(entries))
    parts.append(_levels(entries))
    parts.append(_incident(store, rollout))
    parts.append(last_drill_section(store, rollout.service))
    parts.append(_journal_tail(entries))
    return "".join(parts)


def _waits(rollout: Rollout, steps: list[Any]) -> bool:
    if rollout.state is not RolloutState.RUNNING or not 0 <= rollout.step_index < len(steps):
        return False
    step = steps[rollout.step_index]
    return bool(step.kind == "approve" and step.state is StepState.RUNNING)


def _actions(rollout: Rollout, viewer: Viewer, wait: approvals.Wait | None) -> str:
    base = f"/ui/rollouts/{rollout.id}"
    buttons = []
    if wait is not None and wait.granted is None:
        buttons.append(action_form(viewer, f"{base}/approve", "Approve", css="go"))
    if rollout.state in (RolloutState.RUNNING, RolloutState.PENDING) and not rollout.requested:
        buttons.append(action_form(viewer, f"{base}/pause", "Pause"))
    if rollout.state is RolloutState.PAUSED:
        buttons.append(action_form(viewer, f"{base}/resume", "Resume", css="go"))
    if not rollout.state.is_final and rollout.requested != "abort":
        buttons.append(
            action_form(
                viewer, f"{base}/abort", "Abort", css="danger", confirm="Roll this rollout back?"
            )
        )
    shown = "".join(b for b in buttons if b)
    return f'<div class="actions">{shown}</div>' if shown else ""  # a form closes a <p>


def _steps(steps: list[Any]) -> str:
    done = sum(s.state is StepState.SUCCEEDED for s in steps)
    percent = 100 * done / len(steps) if steps else 0
    rows = []
    for s in steps:
        took = f"{s.ended_at - s.started_at:.1f}s" if s.started_at and s.ended_at else ""
        rows.append(
            [
                esc(s.index),
                f"<strong>{esc(s.kind)}</strong> {esc(step_text.spec_text(s.spec))}",
                badge(s.state),
                esc(s.attempts),
                f'<span class="ts">{esc(when(s.started_at))}</span>',
                esc(took),
                f'<span title="{esc(_brief(s.result, 4000))}">'
                f"{esc(step_text.result_text(s.kind, s.result))}</span>",
            ]
        )
    headers = ["#", "step", "state", "attempts", "started", "took", "result"]
    return (
        f"<h2>Steps <span class=muted>{done}/{len(steps)}</span></h2>"
        f'<div class="progress"><span style="width:{percent:.0f}%"></span></div>'
        f'<div id="steps">{table(headers, rows)}</div>'
    )


def _unjudged(steps: list[Any], index: int) -> str:
    """Why an analysis step that ended has no verdict (an abort, a pause); empty if it runs."""
    if not 0 <= index < len(steps) or steps[index].ended_at is None:
        return ""
    step = steps[index]
    return f"no verdict: {step_text.result_text(step.kind, step.result) or step.state}"


def _analysis(view: evidence.AnalysisView, unjudged: str = "") -> str:
    arms = sorted(view.arms)
    drawn = analysis_charts(view)
    figures = [svg.render(chart) for chart in drawn.arms]
    judge = [svg.render(chart) for chart in drawn.judge]
    verdict = view.verdict
    summary = (
        f"verdict {badge(verdict.get('verdict'))} {esc(verdict.get('reason', ''))}"
        if verdict
        else esc(unjudged) or "judging…"
    )
    arm_names = ", ".join(arms) or "none yet"
    return (
        f'<section class="analysis" data-step="{view.index}"><h2>Analysis, step {view.index} '
        f"<span class=muted>({esc(view.mode)}, {view.looks} looks, arms: {esc(arm_names)})</span>"
        f"</h2><p>{summary}</p>"
        f'<div class="charts">{"".join(figures)}</div>'
        + (f'<h2>Judge evidence</h2><div class="charts">{"".join(judge)}</div>' if judge else "")
        + "</section>"
    )


def _guards(entries: list[JournalEntry]) -> str:
    guards = evidence.guards(entries)
    if not guards:
        return '<h2>Guards</h2><p class="muted">no guard has fired; all quiet</p>'
    rows = [[esc(g.name), badge(g.state), esc(when(g.since)), esc(g.summary)] for g in guards]
    return "<h2>Guards</h2>" + table(["guard", "state", "since", "evidence"], rows)


def _levels(entries: list[JournalEntry]) -> str:
    levels = evidence.rollback_levels(entries)
    if not levels:
        return ""
    rows = [
        [
            esc(level.level),
            esc(level.name),
            badge(level.outcome),
            f'<span class="ts">{esc(when(level.started))}</span>',
            esc("" if level.action_seconds is None else f"{level.action_seconds:.2f}s"),
            esc("" if level.seconds is None else f"{level.seconds:.2f}s"),
            f"<code>{esc(level.detail[:200])}</code>",
        ]
        for level in levels
    ]
    headers = ["level", "name", "outcome", "started", "action", "with verification", "detail"]
    return f'<h2>Rollback levels</h2><div id="levels">{table(headers, rows)}</div>'


def incident_path(store: Store, rollout_id: str) -> Path | None:
    """Where the CLI wrote this rollout's incident report, for a SQLite store in a home."""
    address = Path(store.address)
    if "://" in store.address:
        return None
    path = address.parent / "reports" / rollout_id / "incident.md"
    return path if path.is_file() else None


def _incident(store: Store, rollout: Rollout) -> str:
    if not rollout.state.is_final or rollout.state is RolloutState.PROMOTED:
        return ""
    markdown = incident_path(store, rollout.id)
    if markdown is not None:
        base = f"/ui/rollouts/{esc(rollout.id)}/incident"
        link = f'<a href="{base}">incident report</a>'
        if markdown.with_name("incident.html").is_file():
            link += f' · <a href="{base}.html">with charts</a>'
    else:
        link = f"write it with <code>rollsafe report incident {esc(rollout.id)}</code>"
    return f"<h2>Incident</h2><p>{link}</p>"


def _journal_tail(entries: list[JournalEntry]) -> str:
    shown = [e for e in entries if e.kind != Kind.ANALYSIS_OBSERVATION]
    rows = [
        [
            esc(e.seq),
            f'<span class="ts">{esc(when(e.ts))}</span>',
            f"<code>{esc(e.kind)}</code>",
            esc(e.actor),
            f"<code>{esc(_brief(e.data))}</code>",
        ]
        for e in reversed(shown[-JOURNAL_TAIL:])
    ]
    return (
        '<h2>Journal <span class="muted">(latest first; each look\'s observations are in '
        "the charts above)</span></h2>" + table(["seq", "at", "kind", "actor", "data"], rows)
    )


def _brief(data: Any, limit: int = 240) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flags_body(store: Store, environment: str, viewer: Viewer) -> str:
    rows = []
    for flag in store.list_flags(environment):
        definition = flag.definition
        rows.append(
            [
                f'<a href="/ui/flags/{esc(flag.name)}">{esc(flag.name)}</a>',
                badge("on" if definition.get("enabled") else "off"),
                esc(rollout_percent(definition)),
                esc(flag.version),
                esc(when(flag.updated_at)),
                esc(flag.updated_by),
                action_form(
                    viewer,
                    f"/ui/flags/{flag.name}/kill",
                    "Kill",
                    css="danger",
                    confirm=f"Turn {flag.name} off for everyone?",
                )
                if definition.get("enabled")
                else "",
            ]
        )
    headers = ["flag", "state", "rollout", "version", "updated", "by", ""]
    return f"<h1>Flags <span class=muted>({esc(environment)})</span></h1>" + table(headers, rows)


def rollout_percent(definition: dict[str, Any]) -> str:
    """The percentage a flexible rollout strategy gives, or what the strategies amount to."""
    if not definition.get("enabled"):
        return "0%"
    for strategy in definition.get("strategies") or []:
        parameters = strategy.get("parameters") or {}
        if "rollout" in parameters:
            return f"{parameters['rollout']}%"
    return "100%" if not definition.get("strategies") else "by strategy"


def flag_history(entries: list[JournalEntry], name: str, environment: str) -> str:
    rows = []
    for entry in reversed(entries):
        if entry.kind not in (Kind.FLAG_CHANGED, Kind.FLAG_DELETED):
            continue
        change = flag_change(entry)
        if (
            change.get("name") != name
            or change.get("environment", DEFAULT_ENVIRONMENT) != environment
        ):
            continue
        after = definition_after(entry) or {}
        rows.append(
            [
                esc(when(entry.ts)),
                f"<code>{esc(entry.kind)}</code>",
                esc(entry.actor),
                badge("on" if after.get("enabled") else "off"),
                esc(rollout_percent(after)) if after else "",
                esc(entry.rollout_id or ""),
            ]
        )
    return f"<h1>Flag <code>{esc(name)}</code> history</h1>" + table(
        ["at", "change", "actor", "state", "rollout", "rollout id"], rows
    )


def journal_body(store: Store) -> str:
    result = store.verify_journal()
    if result.ok:
        status = f"{badge('ok')} {result.entries} entries, every link holds"
        broken = ""
    else:
        status = f"{badge('failed')} broken at entry {esc(result.broken_seq)}: {esc(result.reason)}"
        broken = ""
        if result.broken_seq is not None:
            found = list(store.journal(after_seq=result.broken_seq - 1)[:1])
            if found:
                entry = found[0]
                broken = "<h2>First broken entry</h2>" + table(
                    ["seq", "at", "kind", "actor", "rollout", "data"],
                    [
                        [
                            esc(entry.seq),
                            esc(when(entry.ts)),
                            f"<code>{esc(entry.kind)}</code>",
                            esc(entry.actor),
                            esc(entry.rollout_id or ""),
                            f"<code>{esc(_brief(entry.data, 1000))}</code>",
                        ]
                    ],
                )
    return f'<h1>Journal</h1><p id="verify">{status}</p>{broken}'
