"""Drill reports: ``reports/<drill rollout>/drill.md`` and ``drill.json``, from the journal.

The report is the drill's ``drill.finished`` entry (see
:mod:`rollsafe.controller.drills`) laid out for a person: each level's action,
verification and total time against its target, and the rows each restored
table holds, verified equal to the backup's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import DrilledLevel, drill_finished
from rollsafe.support.private import private_directory, write_private_text


def drill_result(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    """The drill's result from its rollout's journal (its last ``drill.finished``)."""
    finished = [e for e in entries if e.kind == Kind.DRILL_FINISHED]
    if not finished:
        raise ValueError("this rollout's journal holds no finished drill")
    return {**drill_finished(finished[-1]), "journaled_at": finished[-1].ts}


def write_drill_report(directory: Path, entries: Sequence[JournalEntry]) -> Path:
    """Write ``drill.md`` and ``drill.json`` into ``directory``; return the Markdown path."""
    result = drill_result(entries)
    private_directory(directory)
    write_private_text(
        directory / "drill.json", json.dumps(result, indent=2, sort_keys=True, default=str) + "\n"
    )
    markdown = directory / "drill.md"
    write_private_text(markdown, render_drill(result))
    return markdown


def seconds(value: float | None) -> str:
    """``0.42 s``, ``3.1 s``, ``2 min``, ``45 min``: as runbooks write targets."""
    if value is None:
        return "—"
    if value >= 120 and value % 60 == 0:
        return f"{value / 60:g} min"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def level_line(level: DrilledLevel) -> str:
    """One level in one line: ``L1 flags 1.02 s / 2 min ✔``."""
    head = f"L{level['level']} {level['name']}"
    if not level.get("ran"):
        return f"{head} not drilled"
    mark = "✔" if not level.get("problem") else "✘"
    return f"{head} {seconds(level['seconds'])} / {seconds(level['target_seconds'])} {mark}"


def render_drill(result: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result["started"]))
    took = result["ended"] - result["started"]
    verdict = "passed" if result["ok"] else "FAILED"
    lines = [
        f"# Rollback drill of {result['service']}: {verdict}",
        "",
        f"- drill rollout: `{result['rollout']}` (ended {result['state']})",
        f"- plan: `{result['plan']}`",
        f"- started: {when}; took {seconds(took)} in all",
        "",
        "## Levels against their targets",
        "",
        "| level | action | verification | total | target | within target | recovered |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in result["levels"]:
        name = f"{level['level']} ({level['name']})"
        if not level.get("ran"):
            lines.append(
                f"| {name} | not drilled | | | {seconds(level['target_seconds'])} | no | no |"
            )
            continue
        lines.append(
            f"| {name} | {seconds(level['action_seconds'])} "
            f"| {seconds(level['verification_seconds'])} | {seconds(level['seconds'])} "
            f"| {seconds(level['target_seconds'])} | {_yes(level['within_target'])} "
            f"| {_yes(level['recovered'])} |"
        )
    restores = [level for level in result["levels"] if level.get("restored") is not None]
    for level in restores:
        lines += [
            "",
            "## Data restore (level 3)",
            "",
            f"The restore itself (service stopped, data put back) took "
            f"{seconds(level.get('restore_seconds'))}. Rows in each restored table, "
            "counted after the restore and compared with the backup's own counts:",
            "",
            "| backup | table | rows | verified |",
            "|---|---|---|---|",
        ]
        for backup in level["restored"]:
            for table, rows in sorted(backup["tables"].items()):
                lines.append(f"| {backup['backup']} | {table} | {rows} | {backup['row_counts']} |")
            if not backup["tables"]:
                lines.append(f"| {backup['backup']} | ({backup['kind']}) | — | not counted |")
    lines += ["", "## Problems", ""]
    lines += [f"- {problem}" for problem in result["problems"]] or ["None."]
    return "\n".join(lines) + "\n"


def _yes(value: bool) -> str:
    return "yes" if value else "**no**"
