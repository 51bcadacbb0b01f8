"""Values as people read them: never a Python repr, and long texts cut to their first line.

Step results and journal data are JSON-shaped (dicts, lists, numbers); a terminal
line shows them as ``key=value`` words. Multi-line texts (a failing command's
output, a traceback) appear in full once, where the command ends; live lines
show their first line only, so one reason is not printed five times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_HIDDEN = {"verdict", "observations", "traceback"}
"""Step result keys too large for one line (``--json`` and ``journal show`` hold them)."""


def first_line(text: str) -> str:
    """``text``'s first non-empty line, saying how many lines were left out."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return text.strip()
    return f"{lines[0].strip()} (+{len(lines) - 1} more lines)"


def plain(value: Any) -> str:
    """One line for a JSON-shaped value: ``k=v`` words, lists joined by commas."""
    if isinstance(value, Mapping):
        return " ".join(f"{key}={_nested(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_nested(item) for item in value) or "none"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return first_line(str(value))


def _nested(value: Any) -> str:
    text = plain(value)
    return f"({text})" if isinstance(value, Mapping) and value else text


def step_result(result: Mapping[str, Any]) -> str:
    """A step's result in one line: an analysis by its verdict, others by their fields."""
    verdict = result.get("verdict")
    shown = plain({k: v for k, v in result.items() if k not in _HIDDEN and k != "mode"})
    if not isinstance(verdict, Mapping):
        return shown
    decided = verdict.get("verdict", "?")
    reason = first_line(str(verdict.get("reason") or ""))
    elapsed = result.get("elapsed")
    after = f" after {plain(elapsed)}s" if elapsed is not None else ""
    text = f"{decided}{after} ({result.get('looks', '?')} looks)"
    return f"{text}: {reason}" if reason else text
