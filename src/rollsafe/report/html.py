"""The incident report as one self-contained HTML file: the dashboard's charts around the
decision point, the rollback levels with their timings, the guards, the journal
around the decision and the gates.

One file that opens offline: the CSS is inline, the charts are inline SVG drawn by
``rollsafe.charts`` (the same code as the dashboard's), and nothing is fetched;
the only links are anchors inside the page and the Markdown report beside it.
Every string from the journal (a service, a flag, a reason, an actor) goes through
`esc`, so ``<script>`` in a journal entry renders as text.

Each chart is also written as a standalone ``.svg`` file (with its CSS inside) so
that the Markdown report can show it where Markdown renders images.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollsafe.charts import series, svg
from rollsafe.charts.figures import analysis_charts
from rollsafe.config import Plan
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.report.gates import render_gates

WINDOW_BEFORE = 600.0
"""Seconds of chart time shown before the decision point."""
WINDOW_AFTER = 120.0
"""Seconds of chart time shown after it (what followed, until the step ended)."""
JOURNAL_AROUND = 12
"""Journal entries shown before and after the deciding one."""
DECISION = "decision"
"""The marker's label on every chart, and its ``data-marker`` attribute."""

STYLE = (
    "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;"
    "max-width:1300px;padding:1em 1.4em;color:#1d2330;background:#f5f6f8}"
    "h1{font-size:1.35em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse;background:#fff;width:100%;margin:.3em 0}"
    "th,td{padding:.3em .6em;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}"
    "th{background:#eef0f4}tr.decision td{background:#fff7dd;font-weight:600}"
    ".charts{display:flex;flex-wrap:wrap;gap:.8em}"
    "figure.chart,svg.chart{background:#fff;border:1px solid #e3e6eb;margin:0}"
    "figure.chart.empty{width:420px;height:180px;padding:.5em;box-sizing:border-box;color:#888}"
    ".muted{color:#6b7587}code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}"
    "pre{white-space:pre-wrap;background:#fff;padding:.6em;border:1px solid #e3e6eb}"
    ".summary{background:#fff;border:1px solid #e3e6eb;padding:.6em .9em}"
    "nav a{margin-right:1em}" + svg.CSS
)


@dataclass(frozen=True)
class Picture:
    """One chart of the report: its title, file name and SVG."""

    title: str
    filename: str
    svg: str


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def decision_time(report: dict[str, Any], entries: Sequence[JournalEntry]) -> float | None:
    """When the rollout was decided: its trigger, else its rollback's start, else its end."""
    trigger = report.get("trigger") or {}
    if isinstance(trigger.get("at"), int | float):
        return float(trigger["at"])
    started = next((e.ts for e in entries if e.kind == Kind.ROLLBACK_STARTED), None)
    if started is not None:
        return started
    return entries[-1].ts if entries else None


def pictures(
    entries: Sequence[JournalEntry], plan: Plan | None, decided_at: float | None
) -> tuple[list[Picture], str]:
    """The charts of the analysis step around the decision, marked, and a note on what
    they show (which step, where the decision falls)."""
    views = series.analyses(entries, plan)
    if not views or decided_at is None:
        return [], "no analysis step looked at metrics before the decision"
    view = next((v for v in views if v.x_at(decided_at) is not None), None)
    marked = view is not None
    if view is None:
        earlier = [v for v in views if v.started_at <= decided_at]
        view = earlier[-1] if earlier else views[0]
    drawn = analysis_charts(view).all
    if marked:
        x = view.x_at(decided_at)
        assert x is not None
        for chart in drawn:
            chart.markers.append((x, DECISION))
            chart.window = (x - WINDOW_BEFORE, x + WINDOW_AFTER)
        note = (
            f"Analysis step {view.index} ({view.mode}, {view.looks} looks) decided at "
            f"{x:.0f} s into its looks (marked). Shown: {WINDOW_BEFORE:.0f} s before it and "
            f"{WINDOW_AFTER:.0f} s after."
        )
    else:
        gap = decided_at - (view.ended_at or view.started_at)
        note = (
            f"The decision fell outside every analysis step: shown is analysis step "
            f"{view.index}, the last before it, which ended {max(gap, 0.0):.1f} s earlier."
        )
    if plan is None:
        note += " The rollout's plan no longer loads, so the judge's evidence is not replayed."
    found = []
    for number, chart in enumerate(drawn, start=1):
        slug = re.sub(r"[^a-z0-9]+", "-", chart.title.lower()).strip("-")[:48]
        found.append(Picture(chart.title, f"{number:02d}-{slug}.svg", svg.render(chart)))
    return found, note


def standalone_svg(picture: Picture) -> str | None:
    """The chart as an ``.svg`` file with its CSS inside, or None for an empty chart."""
    if not picture.svg.startswith("<svg"):
        return None
    head, _, rest = picture.svg.partition(">")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{head}><style>{svg.CSS}</style>{rest}\n'


def render_html(
    report: dict[str, Any],
    entries: Sequence[JournalEntry],
    drawn: Sequence[Picture],
    note: str,
    *,
    markdown_name: str = "incident.md",
) -> str:
    """The whole page; ``drawn`` and ``note`` come from `pictures`."""
    decided_at = decision_time(report, entries)
    title = f"Incident: {report.get('service')} rollout {report.get('rollout_id')}"
    trigger = report.get("trigger") or {}
    parts = [
        f"<h1>{esc(title)}</h1>",
        '<nav><a href="#charts">Charts</a><a href="#rollback">Rollback</a>'
        '<a href="#guards">Guards</a><a href="#journal">Journal</a>'
        + ('<a href="#gates">Gates</a>' if _has_gates(report) else "")
        + f'<a href="{esc(markdown_name)}">Markdown report</a></nav>',
        f"<p><strong>Outcome</strong> {esc(report.get('outcome'))} · "
        f"<strong>Severity</strong> {esc(report.get('severity'))} · "
        f"<strong>Final rollback level</strong> {esc(_or_none(report.get('final_level')))}</p>",
        f'<p class="summary">{esc(report.get("summary"))}</p>',
        "<h2>Decision</h2>",
        _table(
            ["decided at", "by", "what", "description"],
            [
                [
                    esc(_iso(decided_at)),
                    esc(trigger.get("source", "unknown")),
                    esc(trigger.get("name", "?")),
                    esc(trigger.get("description", "no trigger recorded")),
                ]
            ],
        ),
        '<h2 id="charts">Charts around the decision</h2>',
        f'<p class="muted">{esc(note)}</p>',
        '<div class="charts">' + "".join(p.svg for p in drawn) + "</div>",
        '<h2 id="rollback">Rollback levels</h2>',
        _levels(entries),
        '<h2 id="guards">Guards</h2>',
        _guards(entries),
        '<h2 id="journal">Journal around the decision</h2>',
        _journal(entries, decided_at),
    ]
    if _has_gates(report):
        lines = render_gates(report["gates"])[3:]  # without the Markdown heading
        parts += ['<h2 id="gates">Gates</h2>', f"<pre>{esc(chr(10).join(lines))}</pre>"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)} · rollsafe</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def _has_gates(report: dict[str, Any]) -> bool:
    gates = report.get("gates") or {}
    return bool(gates.get("tests") or gates.get("risk") is not None)


def _levels(entries: Sequence[JournalEntry]) -> str:
    levels = series.rollback_levels(entries)
    if not levels:
        return '<p class="muted">no rollback level ran</p>'
    rows = [
        [
            esc(f"L{level.level}"),
            esc(level.name),
            esc(level.outcome),
            esc(_iso(level.started)),
            esc("" if level.action_seconds is None else f"{level.action_seconds:.3f} s"),
            esc("" if level.seconds is None else f"{level.seconds:.3f} s"),
            f"<code>{esc(level.detail[:300])}</code>",
        ]
        for level in levels
    ]
    headers = ["level", "name", "outcome", "started", "action", "with verification", "detail"]
    return _table(headers, rows)


def _guards(entries: Sequence[JournalEntry]) -> str:
    guards = series.guards(entries)
    if not guards:
        return '<p class="muted">no guard fired</p>'
    rows = [[esc(g.name), esc(g.state), esc(_iso(g.since)), esc(g.summary)] for g in guards]
    return _table(["guard", "state", "since", "evidence"], rows)


def _journal(entries: Sequence[JournalEntry], decided_at: float | None) -> str:
    shown = [e for e in entries if e.kind != Kind.ANALYSIS_OBSERVATION]
    if not shown:
        return '<p class="muted">no entries</p>'
    at = 0
    if decided_at is not None:
        at = next((i for i, e in enumerate(shown) if e.ts >= decided_at), len(shown) - 1)
    excerpt = shown[max(at - JOURNAL_AROUND, 0) : at + JOURNAL_AROUND + 1]
    rows = []
    for entry in excerpt:
        css = ' class="decision"' if entry is shown[at] else ""
        cells = [
            esc(entry.seq),
            esc(_iso(entry.ts)),
            f"<code>{esc(entry.kind)}</code>",
            esc(entry.actor),
            f"<code>{esc(_brief(entry.data))}</code>",
        ]
        rows.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("seq", "at", "kind", "actor", "data"))
    return (
        f'<p class="muted">{len(excerpt)} of {len(shown)} entries (each look\'s observations '
        "are in the charts); the deciding entry is highlighted</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table whose cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _brief(data: Any, limit: int = 300) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def _or_none(value: Any) -> str:
    return "none" if value is None else str(value)
