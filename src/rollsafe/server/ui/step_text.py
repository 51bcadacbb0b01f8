"""A step's spec and result in the words an operator reads, for the rollout page's steps table.

The store keeps each step's spec and result as JSON, and the table used to show
that JSON: ``rollout=50.0``, ``duration=5.0``, ``on_timeout=pause`` on a gate
without a timeout, and an analysis result cut off in the middle of its metrics.
Looking at the page during a demo rollout (tests/server/test_dashboard_demo_browser.py)
made the point: the table should say "fast-checkout at 50%" and "pass after 6
looks in 5.1 s", and keep the JSON one hover away (the cell's ``title``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rollsafe.journal.payloads import step_verdict

SECONDS = frozenset({"duration", "timeout", "for", "interval", "grace", "window"})
"""Spec fields that hold seconds, shown as ``5s``."""


def spec_text(spec: Mapping[str, Any]) -> str:
    """``release=1.1.0``, ``name=fast-checkout rollout=50``, ``duration=5s mode=compare``."""
    shown = []
    for key, value in spec.items():
        if value is None or (key == "on_timeout" and spec.get("timeout") is None):
            continue  # unset, or what a timeout that cannot happen would do
        shown.append(f"{key}={_value(key, value)}")
    return " ".join(shown)


def result_text(kind: str, result: Mapping[str, Any]) -> str:
    """One line for a step's result; empty while there is none."""
    if not result:
        return ""
    if "interrupted_by" in result:
        return f"interrupted by {result['interrupted_by']}"
    if "error" in result and isinstance(result["error"], str):
        return f"error: {result['error']}"
    try:
        summary = _SUMMARIES[kind](result) if kind in _SUMMARIES else None
    except (KeyError, TypeError, ValueError, AttributeError):
        summary = None  # a result of another shape: the JSON says it
    return summary if summary is not None else brief(result)


def brief(data: Any, limit: int = 240) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value if isinstance(value, str) else json.dumps(value, default=str)
    number = f"{value:g}"
    return f"{number}s" if key in SECONDS else number


def _backup(result: Mapping[str, Any]) -> str:
    backups = result["backups"]
    names = ", ".join(f"{b['source']} ({b['id']})" for b in backups)
    return f"backed up {names}" if backups else "nothing to back up"


def _deploy(result: Mapping[str, Any]) -> str:
    if not result.get("changed", True):
        return f"{result['release']} already live"
    previous = result.get("previous")
    return f"{previous} → {result['release']}" if previous else f"{result['release']} live"


def _flag(result: Mapping[str, Any]) -> str:
    change = "" if result.get("changed", True) else " (already so)"
    return f"{result['name']} at {result['rollout']:g}%{change}"


def _analysis(result: Mapping[str, Any]) -> str | None:
    verdict = step_verdict(result)
    if verdict is None:
        return None  # ended without a verdict (blind): the JSON says how
    outcome = verdict["verdict"]
    looks = result["looks"]
    elapsed = float(result["elapsed"])
    failed = result.get("failed_looks") or 0
    missed = f", {failed} without data" if failed else ""
    return f"{outcome} after {looks} looks in {elapsed:.1f} s{missed}"


def _approve(result: Mapping[str, Any]) -> str:
    by = result.get("approved_by")
    waited = result.get("waited")
    after = f" after {float(waited):.1f} s" if waited is not None else ""
    return f"approved by {by}{after}" if by else brief(result)


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "backup": _backup,
    "deploy": _deploy,
    "flag": _flag,
    "analysis": _analysis,
    "approve": _approve,
}
