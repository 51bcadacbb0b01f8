"""The rollout page's "last rollback drill" section: is rollback of this service proven?

`rollsafe rollout status` prints the service's last drill (issue 15); an
operator watching a rollout on the dashboard wants the same answer without a
terminal: when rollback was last rehearsed, whether it passed, and each level's
time against the plan's target. The drill is found by
:func:`rollsafe.controller.drill_records.last_drill` (a drill is a rollout of
its own, its result the ``drill.finished`` entry), so the page and the CLI
cannot disagree.
"""

from __future__ import annotations

from typing import Any

from rollsafe.controller.drill_records import last_drill
from rollsafe.journal.payloads import DrilledLevel, drill_finished
from rollsafe.server.ui.layout import badge, esc, table, when
from rollsafe.store import Store


def last_drill_section(store: Store, service: str) -> str:
    """``<h2>Last rollback drill</h2>`` and its levels, or how to run one if there is none."""
    entry = last_drill(store, service)
    heading = f"<h2>Last rollback drill <span class=muted>of {esc(service)}</span></h2>"
    if entry is None:
        return (
            f'{heading}<p id="drill" class="muted">none yet: rehearse rollback with '
            "<code>rollsafe drill PLAN</code></p>"
        )
    data = drill_finished(entry)
    verdict = "passed" if data.get("ok") else "failed"
    link = f'<a href="/ui/rollouts/{esc(entry.rollout_id)}">{esc(entry.rollout_id)}</a>'
    problems = "".join(f"<li>{esc(problem)}</li>" for problem in data.get("problems") or [])
    rows = [_row(level) for level in data.get("levels") or []]
    headers = ["level", "name", "action", "verification", "total", "target", "within", "restored"]
    return (
        f'{heading}<div id="drill"><p>{badge(verdict)} {esc(when(entry.ts))} · drill {link}</p>'
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + table(headers, rows)
        + "</div>"
    )


def _row(level: DrilledLevel) -> list[str]:
    head = [esc(level.get("level")), esc(level.get("name"))]
    target = esc(_seconds(level.get("target_seconds")))
    if not level.get("ran"):
        return [*head, "", "", badge("not drilled"), target, "", ""]
    within = "within" if level.get("within_target") and not level.get("problem") else "over"
    return [
        *head,
        esc(_seconds(level.get("action_seconds"))),
        esc(_seconds(level.get("verification_seconds"))),
        esc(_seconds(level.get("seconds"))),
        target,
        badge("ok" if within == "within" else "failed"),
        esc(_restored(level)),
    ]


def _restored(level: DrilledLevel) -> str:
    """Level 3's restored rows, verified against the backup's counts (``orders: 120 rows``)."""
    shown = []
    for backup in level.get("restored") or []:
        tables = backup.get("tables") or {}
        if tables:
            shown += [f"{name}: {rows} rows" for name, rows in sorted(tables.items())]
        else:
            shown.append(f"{backup.get('backup')} ({backup.get('kind')})")
    return ", ".join(shown)


def _seconds(value: Any) -> str:
    """``0.42 s``, ``12.0 s``, ``2 min``: as runbooks write rollback targets."""
    if not isinstance(value, int | float):
        return ""
    if value >= 120:
        return f"{value / 60:g} min" if value % 60 == 0 else f"{value / 60:.1f} min"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
