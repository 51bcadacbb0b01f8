"""JSONPath-lite: where a field sits in a JSON document, for the ``http`` metric source.

``$.data.result[0].value``, ``data.result[0].value`` and ``stats["p.99"]`` all
work: an optional ``$``, then keys after dots (or quoted in brackets, for keys
holding dots or brackets) and list indexes in brackets. No wildcards, filters
or slices: one path names one value, so a response that does not hold it is
an error, never a silent zero.
"""

from __future__ import annotations

import re
from typing import Any

Step = str | int

_STEP = re.compile(r"""\.(?P<key>[^.\[\]"']+)|\[(?P<index>\d+)\]|\[(?P<quoted>"[^"]*"|'[^']*')\]""")


def parse(path: str) -> tuple[Step, ...]:
    """The steps of ``path``; ValueError naming the character where it stops making sense."""
    text = path.removeprefix("$")
    if text and text[0] not in ".[":
        text = "." + text
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            where = position + len(path) - len(text) + 1
            raise ValueError(
                f"bad JSON path {path!r} at character {max(where, 1)}: "
                'expected .key, [index] or ["key"]'
            )
        if match.group("key") is not None:
            steps.append(match.group("key"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("quoted")[1:-1])
        position = match.end()
    if not steps:
        raise ValueError(f"bad JSON path {path!r}: it names no field")
    return tuple(steps)


def lookup(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``; KeyError saying which step is missing."""
    value = document
    walked = "$"
    for step in parse(path):
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                raise KeyError(f"{walked} has no item [{step}]")
            walked += f"[{step}]"
        else:
            if not isinstance(value, dict) or step not in value:
                raise KeyError(f"{walked} has no field {step!r}")
            walked += f".{step}"
        value = value[step]
    return value
